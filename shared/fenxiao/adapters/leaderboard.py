"""LeaderboardTable (board_key, sk): score counters per shard, archives, scored markers, rollover marks;
BoardRanking(board_key, score) top N per shard.

Here are the table's key formats and shard function, the shard standings (BoardRanking), the counter,
archive and rollover-mark reads, and its conditional writes (see docs/leaderboards.md).

Items:

- counters   ``{shop}#{board}#{period}#{shard}`` / ``{member}``: one member's fans in one period of one
  board; ``shard`` is a stable hash of the member, so a shop's writes spread over ``BOARD_SHARDS``
  partitions and the top N is ``BOARD_SHARDS`` queries of the BoardRanking index, merged.
- archives   ``{shop}#{board}#{period}`` / ``ARCHIVE``: the final top 20 of an ended period (one GetItem).
- markers    ``{shop}#SCORED#{member}`` / ``{bound_at}``: that binding is scored (exactly once).
- rollover   ``{shop}#{board}`` / ``ROLLED``: the newest period the rollover archived for the shop.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from fenxiao.adapters import dynamo
from fenxiao.adapters.dynamo import TableMeta
from fenxiao.adapters.tables import bind
from fenxiao.domain.leaderboard import SCORE_SCALE, ScoreTarget, Standing, decode_score, unix_ms
from fenxiao.timefmt import key

BOARD_SHARDS = 4  # leaderboard counter partitions per (shop, board, period)


class BoardRankingIndex(GlobalSecondaryIndex["BoardItem"]):
    class Meta:
        index_name = "BoardRanking"
        projection = AllProjection()

    board_key = UnicodeAttribute(hash_key=True)
    score = NumberAttribute(range_key=True)


class BoardItem(Model):
    class Meta(TableMeta):
        pass

    board_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()

    ranking = BoardRankingIndex()


class BoardScoreModel(BoardItem, discriminator="score"):
    """board_key = {shop}#{board}#{period}#{shard}, sk = member_id: one member's fans on one board period.

    Written only by UpdateItem (service.leaderboard): ``fans`` +1, ``fans_scaled`` = fans * 10^13 and
    ``score`` = fans * 10^13 - reached_ms, where ``reached_at`` (UTC key) is the latest binding counted.
    """

    member_id = UnicodeAttribute()
    fans = NumberAttribute(default=0)
    fans_scaled = NumberAttribute(default=0)
    score = NumberAttribute(null=True)
    reached_at = UnicodeAttribute(null=True)


class BoardArchiveModel(BoardItem, discriminator="archive"):
    """board_key = {shop}#{board}#{period}, sk = ARCHIVE: the final top 20 of an ended period, best first,
    as ``[{"member_id", "fans", "reached_ms"}]``. ``version`` grows by one per rewrite (optimistic lock)."""

    entries = JSONAttribute()
    archived_at = UnicodeAttribute()
    version = NumberAttribute(default=0)


class BoardScoredModel(BoardItem, discriminator="scored"):
    """board_key = {shop}#SCORED#{member}, sk = {bound_at}: that binding of the member is scored (written once,
    in the transaction that moves its scores). Keyed by the fan, so a busy shop's markers spread out."""

    at = UnicodeAttribute()


class BoardRolloverModel(BoardItem, discriminator="rollover"):
    """board_key = {shop}#{board}, sk = ROLLED: the newest period of that board the rollover has archived."""

    last_period = UnicodeAttribute(null=True)
    rolled_at = UnicodeAttribute(null=True)


ARCHIVE_SK = "ARCHIVE"
ROLLED_SK = "ROLLED"


# ---------------------------------------------------------------- keys


def shard_of(member_id: str) -> int:
    """A stable shard for the member (crc32: the same in every process, unlike ``hash``)."""
    return dynamo.shard_of(member_id, BOARD_SHARDS)


def shard_key(shop_id: str, board: str, period: str, shard: int) -> str:
    return f"{shop_id}#{board}#{period}#{shard}"


def counter_key(shop_id: str, board: str, period: str, member_id: str) -> str:
    return shard_key(shop_id, board, period, shard_of(member_id))


def archive_key(shop_id: str, board: str, period: str) -> str:
    return f"{shop_id}#{board}#{period}"


def scored_key(shop_id: str, member_id: str) -> str:
    return f"{shop_id}#SCORED#{member_id}"


def rollover_key(shop_id: str, board: str) -> str:
    return f"{shop_id}#{board}"


# ---------------------------------------------------------------- standings


def shard_standings(shop_id: str, board: str, period: str, per_shard: int) -> list[Standing]:
    """The top ``per_shard`` of each shard (BOARD_SHARDS queries of BoardRanking, best first), with every
    member tied with the last of them: the index orders equal scores arbitrarily, so a cut at exactly
    ``per_shard`` could drop a member that ``rank()`` (ties by member_id) would place above the one kept.
    Each query reads ``per_shard + 1`` items and reads on only while the items still tie with the cut."""
    standings: list[Standing] = []
    if per_shard <= 0:
        return standings
    for shard in range(BOARD_SHARDS):
        kept: list[Standing] = []
        cut: Any = None  # the score of the per_shard-th item: read on while items equal it
        for item in BoardScoreModel.ranking.query(
            shard_key(shop_id, board, period, shard), scan_index_forward=False, page_size=per_shard + 1
        ):
            if not isinstance(item, BoardScoreModel) or item.score is None:
                continue
            if cut is not None and item.score != cut:
                standings.append(_standing(item))  # read anyway (the look-ahead): harmless to rank()
                break
            kept.append(_standing(item))
            if len(kept) == per_shard:
                cut = item.score
        standings += kept
    return standings


def _standing(item: BoardScoreModel) -> Standing:
    fans, reached_ms = decode_score(int(item.score))
    return Standing(item.member_id, fans, reached_ms)


def fresh_standings(shop_id: str, board: str, period: str, members: Iterable[str]) -> list[Standing]:
    """The members' counters read from the table itself (strongly consistent, unlike the index)."""
    out: list[Standing] = []
    for member_id in dict.fromkeys(members):
        try:
            item = BoardScoreModel.get(
                counter_key(shop_id, board, period, member_id), member_id, consistent_read=True
            )
        except BoardScoreModel.DoesNotExist:
            continue
        if isinstance(item, BoardScoreModel) and item.score is not None:
            out.append(_standing(item))
    return out


# ---------------------------------------------------------------- archives


def load_archive(shop_id: str, board: str, period: str, consistent: bool) -> BoardArchiveModel | None:
    try:
        item = BoardArchiveModel.get(
            archive_key(shop_id, board, period), ARCHIVE_SK, consistent_read=consistent
        )
    except BoardArchiveModel.DoesNotExist:
        return None
    return item if isinstance(item, BoardArchiveModel) else None


def archived_standings(archive: BoardArchiveModel) -> list[Standing]:
    return [
        Standing(str(e["member_id"]), int(e["fans"]), int(e["reached_ms"])) for e in archive.entries or []
    ]


def save_archive(
    shop_id: str, board: str, period: str, top: list[Standing], now: datetime, version: int | None
) -> bool:
    """Write the archive if it is still at ``version`` (None: absent), as the next version. False when
    another rewrite got there first."""
    item = BoardArchiveModel(
        archive_key(shop_id, board, period),
        ARCHIVE_SK,
        entries=[{"member_id": s.member_id, "fans": s.fans, "reached_ms": s.reached_ms} for s in top],
        archived_at=key(now),
        version=(version or 0) + 1,
    )
    condition = (
        BoardArchiveModel.board_key.does_not_exist()
        if version is None
        else BoardArchiveModel.version == version
    )
    try:
        item.save(condition=condition)
        return True
    except PutError as exc:
        if not dynamo.condition_failed(exc):
            raise
        return False


# ---------------------------------------------------------------- rollover marks


def load_rollover_mark(shop_id: str, board: str) -> BoardRolloverModel | None:
    try:
        item = BoardRolloverModel.get(rollover_key(shop_id, board), ROLLED_SK, consistent_read=True)
    except BoardRolloverModel.DoesNotExist:
        return None
    return item if isinstance(item, BoardRolloverModel) else None


def set_rollover_mark(shop_id: str, board: str, period: str, now: datetime) -> None:
    """The board of the shop is archived up to ``period``; never moved backwards."""
    m = BoardRolloverModel
    try:
        m(rollover_key(shop_id, board), ROLLED_SK).update(
            actions=[m.item_type.set(m.item_type | m), m.last_period.set(period), m.rolled_at.set(key(now))],
            # Never backwards: a concurrent run that got further keeps its mark.
            condition=m.last_period.does_not_exist() | (m.last_period < period),
        )
    except UpdateError as exc:
        if not dynamo.condition_failed(exc):
            raise


# ---------------------------------------------------------------- scoring writes (for a unit of work)


def new_scored_marker(
    shop_id: str, member_id: str, bound_at: str, now: datetime
) -> tuple[BoardScoredModel, Condition]:
    """The marker of the binding ``bound_at`` of ``member_id`` and its condition: written once."""
    return (
        BoardScoredModel(scored_key(shop_id, member_id), bound_at, at=key(now)),
        BoardScoredModel.board_key.does_not_exist(),
    )


def counter_update(
    shop_id: str, target: ScoreTarget, at: datetime, keep: bool
) -> tuple[BoardScoreModel, list[Any], Condition]:
    """The counter of ``target``, the SET actions (operands read the old values) and the condition for one
    more fan bound at ``at``: ``keep`` for a counter reached later than ``at`` already (its reached time
    stays), else reached at ``at`` (its reached time so far at or before ``at``)."""
    m = BoardScoreModel
    item = m(counter_key(shop_id, *target), target.member_id)
    at_key = key(at)
    if keep:
        # Reached later than ``at`` already: one more fan, same reached time.
        actions = [
            m.fans.set(m.fans + 1),
            m.fans_scaled.set(m.fans_scaled + SCORE_SCALE),
            m.score.set(m.score + SCORE_SCALE),
        ]
        return item, actions, m.reached_at > at_key
    actions = [
        m.item_type.set(m.item_type | m),
        m.member_id.set(target.member_id),
        m.fans.set((m.fans | 0) + 1),
        m.fans_scaled.set((m.fans_scaled | 0) + SCORE_SCALE),
        # (fans + 1) * SCALE - reached_ms, with one operator as DynamoDB allows: old fans_scaled + constant.
        m.score.set((m.fans_scaled | 0) + (SCORE_SCALE - unix_ms(at))),
        m.reached_at.set(at_key),
    ]
    return item, actions, m.reached_at.does_not_exist() | (m.reached_at <= at_key)


# Last, after every subclass: the tables this module's models are stored in.
bind(BoardItem, "leaderboard_table")

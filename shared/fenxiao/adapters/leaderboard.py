"""LeaderboardTable (board_key, sk): score counters per shard, archives, scored markers, rollover marks;
BoardRanking(board_key, score) top N per shard."""

from __future__ import annotations

from pynamodb.attributes import (
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta

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

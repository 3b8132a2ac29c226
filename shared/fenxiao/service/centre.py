"""The distribution centre (SPEC §9): its reads (fans, 收益明细, the 分销赚/自购返 preview) and its images
(scenes, promotion codes, posters).

Each list page is one Query of one index (FansByInviter / FansByGrandInviter, LedgerByTime); the routes
encode and check the cursors. The preview runs the engine's own rule (``domain.commission.plan_commissions``)
on a one-line order per item, with the rates as of now read in one BatchGetItem (``settings.rules_at``).

A member's scene per purpose is made once, by a conditional transaction (adapters.members.create_scene): two
first requests at once both answer the winner's scene. A code image is fetched from WeChat once per scene,
page, env_version and appid and kept in the media bucket under a hash of those; the first request claims
the fetch with a conditional write in the member's partition, and concurrent ones wait for the object (a
bounded poll), so twenty first requests make one WeChat call. A WeChat error stores nothing and drops the
claim: the next request tries again at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fenxiao import clock
from fenxiao.adapters import ledger as ledger_table
from fenxiao.adapters import members as members_table
from fenxiao.adapters.media import PRESIGN_SECONDS, MediaStore, StoredObject, hashed_key
from fenxiao.adapters.members import load_member
from fenxiao.adapters.wechat_miniprogram import WechatApiError, WechatUnavailable
from fenxiao.bootstrap import Container
from fenxiao.domain.commission import CommissionPlan, Rates, plan_commissions
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation, UpstreamFailure
from fenxiao.domain.refunds import OrderLine
from fenxiao.domain.scenes import new_scene
from fenxiao.observability import count
from fenxiao.service import settings
from fenxiao.service.members import is_distributor_at
from fenxiao.timefmt import rfc3339_from_key

CLAIM_SECONDS = 15.0  # one request's claim to fetch an image: longer than the WeChat call's timeouts
WAIT_SECONDS = 20.0  # how long concurrent requests wait for the claimer's object before answering 409
POLL_SECONDS = 0.1
SCENE_ATTEMPTS = 3  # a new scene colliding with another member's (64 random bits) is drawn again


# ---------------------------------------------------------------- fans


def fans_level(value: str | None) -> int:
    """The ``level`` query parameter: 1 (default) or 2."""
    if value is None:
        return 1
    if value not in ("1", "2"):
        raise InvalidInput("level: must be 1 or 2", code="invalid_field", field="level")
    return int(value)


def fans_scope(shop_id: str, member_id: str, level: int) -> dict[str, str]:
    return members_table.fans_scope(shop_id, member_id, level)


def fans(
    shop_id: str, member_id: str, level: int, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The member's current fans at ``level``, newest binding first; an unknown member has none."""
    found, last_key = members_table.fans_page(shop_id, member_id, level, start, limit)
    return [{"member_id": f.member_id, "bound_at": rfc3339_from_key(f.bound_at)} for f in found], last_key


# ---------------------------------------------------------------- 收益明细


def ledger_scope(shop_id: str, member_id: str) -> dict[str, str]:
    return {"account": ledger_table.account(shop_id, member_id)}


def ledger(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The member's money movements, newest first: one list entry per (ledger entry, money bucket it moves),
    so per bucket the amounts add up to the balance. Growth is not 收益 and is left out. A page holds the
    movements of up to ``limit`` ledger entries (an entry that moves two buckets gives two list entries)."""
    found, last_key = ledger_table.money_page(shop_id, member_id, start, limit)
    entries = []
    for entry in found:
        ref_name = "withdrawal_id" if entry.kind.startswith("withdrawal_") else "order_id"
        for bucket in ledger_table.MONEY_BUCKETS:
            amount = int(getattr(entry, bucket) or 0)
            if amount:
                entries.append(
                    {
                        "at": rfc3339_from_key(entry.at),
                        "kind": entry.kind,
                        "amount_fen": amount,
                        "bucket": bucket,
                        ref_name: entry.ref,
                    }
                )
    return entries, last_key


# ---------------------------------------------------------------- 分销赚 / 自购返


@dataclass(frozen=True)
class PreviewItem:
    product_id: str
    price_fen: int


def earnings(shop_id: str, member_id: str, items: list[PreviewItem], now: datetime) -> dict[str, Any]:
    """What ``member_id`` would earn now on one of each item: at level 1 when a fan buys it (分销赚) and on
    its own purchase (自购返), each 0 unless the member is a distributor and distribution is on."""
    from fenxiao.schemas.settings import DistributionSettings

    product_ids = sorted({i.product_id for i in items})
    dist, _membership, overrides = settings.rules_at(shop_id, product_ids, now, DistributionSettings)
    is_distributor = False
    if dist.enabled:
        is_distributor = is_distributor_at(load_member(shop_id, member_id), now, dist.eligibility.mode)
    defaults = Rates(dist.rates.level1_bp, dist.rates.level2_bp, dist.rates.self_bp)
    product_rates = {p: Rates(r.level1_bp, r.level2_bp, r.self_bp) for p, r in overrides.items()}
    answered = []
    for item in items:
        line = [OrderLine(line_id="1", product_id=item.product_id, quantity=1, paid_fen=item.price_fen)]
        # A fan (not a distributor: its own self plan is not ours) buys it, the member is its parent.
        share = plan_commissions(
            line, defaults, product_rates, "", False, member_id, is_distributor, None, False
        )
        own = plan_commissions(
            line, defaults, product_rates, member_id, is_distributor, None, False, None, False
        )
        answered.append(
            {
                "product_id": item.product_id,
                "price_fen": item.price_fen,
                "share_earn_fen": _amount(share, "level1"),
                "self_earn_fen": _amount(own, "self"),
            }
        )
    return {
        "items": answered,
        "show_earn_label": dist.ui.show_earn_label,
        "show_self_purchase_label": dist.ui.show_self_purchase_label,
    }


def _amount(plans: list[CommissionPlan], tier: str) -> int:
    return sum(p.amount_fen for p in plans if p.tier == tier)


# ---------------------------------------------------------------- who gets a code


def _check_distributor(shop_id: str, member_id: str, now: datetime) -> None:
    dist = settings.distribution_at(shop_id, now)
    if not dist.enabled:
        raise RuleViolation("distribution is switched off for this shop", code="distribution_disabled")
    member = members_table.load_member(shop_id, member_id)
    if member.meta is None:
        raise NotFound(f"member {member_id} is not known to this shop", code="member_not_found")
    if not is_distributor_at(member, now, dist.eligibility.mode):
        raise RuleViolation(f"member {member_id} is not a distributor", code="not_a_distributor")


# ---------------------------------------------------------------- scenes


def scene_for(shop_id: str, member_id: str, purpose: str) -> str:
    """The member's scene for ``purpose``, made on the first request (the same forever)."""
    for _ in range(SCENE_ATTEMPTS):
        scene = members_table.scene_of(shop_id, member_id, purpose)
        if scene is not None:
            return scene
        if members_table.create_scene(
            shop_id, member_id, purpose, new_scene(purpose, secrets.token_bytes(8))
        ):
            return members_table.scene_of(shop_id, member_id, purpose) or ""
    raise Conflict("the scene could not be made; retry the request", code="concurrent_change")


@dataclass(frozen=True)
class SceneView:
    scene: str
    member_id: str
    purpose: str


def scene_view(shop_id: str, scene: str) -> SceneView:
    owner = members_table.scene_owner(shop_id, scene)
    if owner is None:
        raise NotFound(f"scene {scene} is not known to this shop", code="scene_not_found")
    return SceneView(scene, owner[0], owner[1])


# ---------------------------------------------------------------- images made once


@dataclass(frozen=True)
class Image:
    key: str
    content_type: str
    url: str
    expires_at: datetime  # the presigned URL's end (the real clock signs it, not the stack's override)


def _presigned(media: MediaStore, key: str, content_type: str) -> Image:
    return Image(
        key, content_type, media.presigned_get(key), datetime.now(UTC) + timedelta(seconds=PRESIGN_SECONDS)
    )


Made = tuple[bytes, str, dict[str, str]]  # body, content type, metadata


def made_once(
    media: MediaStore, shop_id: str, member_id: str, claim_sk: str, key: str, make: Callable[[], Made]
) -> tuple[StoredObject, bool]:
    """(the object ``key``, made now): made by ``make()`` unless it exists. One request claims the making;
    concurrent ones poll for the object a bounded time. A failed ``make`` stores nothing: the next request
    claims and tries again at once."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        stored = media.head(key)
        if stored is not None:
            return stored, False
        if members_table.claim_code(shop_id, member_id, claim_sk, clock.unix_now(), CLAIM_SECONDS):
            # The claim is dropped however this ends, so claims never pile up in the member's partition.
            try:
                stored = media.head(key)  # made between our HEAD and our claim
                if stored is not None:
                    return stored, False
                body, content_type, metadata = make()
                media.put(key, body, content_type, metadata)
                return StoredObject(content_type, metadata), True
            finally:
                members_table.release_code_claim(shop_id, member_id, claim_sk)
        if time.monotonic() >= deadline:
            raise Conflict("the image is being made by another request; retry", code="concurrent_change")
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class PromotionCode:
    scene: str
    member_id: str
    purpose: str
    page: str
    image: Image
    made: bool  # fetched from WeChat by this request


def promotion_code(c: Container, shop_id: str, member_id: str, purpose: str, now: datetime) -> PromotionCode:
    _check_distributor(shop_id, member_id, now)
    access = settings.miniprogram_access(c, shop_id, now)
    scene = scene_for(shop_id, member_id, purpose)
    page = access.pages[purpose]
    key = hashed_key("codes", shop_id, access.appid, access.env_version, page, scene)
    claim_sk = f"CODE#{purpose}#{key.rsplit('/', 1)[1]}"

    def fetch() -> Made:
        try:
            code = c.access_tokens.code_image(access.appid, access.appsecret, scene, page, access.env_version)
        except WechatApiError as exc:
            raise UpstreamFailure(
                f"WeChat refused the mini-program code: {exc}", errcode=exc.errcode
            ) from None
        except WechatUnavailable as exc:
            raise UpstreamFailure(str(exc), code="wechat_unavailable") from None
        count("MiniProgramCodeFetched")  # WeChat rate-limits these: a repeat must never fetch again
        return code.body, code.content_type, {}

    stored, made = made_once(c.media, shop_id, member_id, claim_sk, key, fetch)
    return PromotionCode(scene, member_id, purpose, page, _presigned(c.media, key, stored.content_type), made)


# ---------------------------------------------------------------- posters


@dataclass(frozen=True)
class Poster:
    image: Image
    width: int
    height: int
    made: bool  # rendered by this request


def poster(
    c: Container, shop_id: str, member_id: str, purpose: str, nickname: str | None, now: datetime
) -> Poster:
    """The member's poster: the code (made once, above) on the background of the distribution settings in
    force, rendered once per member, purpose, settings version and nickname (the object's key hashes them)."""
    from fenxiao.adapters import posters
    from fenxiao.adapters.shops import DISTRIBUTION, config_key, version_at
    from fenxiao.schemas.settings import DistributionSettings

    code = promotion_code(c, shop_id, member_id, purpose, now)
    found = version_at(config_key(shop_id, DISTRIBUTION), now)
    version, doc = found if found is not None else ("", None)
    poster_settings = DistributionSettings.model_validate(doc or {}).ui.poster
    layout: posters.PosterLayout | None = None
    background_key = "default"
    if poster_settings.mode == "custom" and poster_settings.image_url:
        url = poster_settings.image_url
        background_key = hashed_key("backgrounds", shop_id, url, version)
        box = poster_settings.code
        label = poster_settings.nickname
        layout = posters.PosterLayout(
            posters.CodeBox(box.x, box.y, box.size),
            posters.NicknameBox(label.x, label.y, label.font_size, label.colour) if label else None,
        )

        def fetch_background() -> Made:
            try:
                data = posters.fetch_background(url, allow_loopback_http=c.settings.allow_loopback_images)
                image = posters.check_background(data)
            except posters.PosterInputError as exc:
                raise _unusable(exc) from None
            kind = "image/png" if image.format == "PNG" else "image/jpeg"
            return data, kind, {}

        made_once(
            c.media,
            shop_id,
            member_id,
            "BG#" + background_key.rsplit("/", 1)[1],
            background_key,
            fetch_background,
        )
    layout_text = repr(layout)
    key = hashed_key("posters", code.image.key, background_key, layout_text, nickname or "")

    def render() -> Made:
        code_image = c.media.get(code.image.key)
        background = c.media.get(background_key) if layout is not None else None
        if code_image is None or (layout is not None and background is None):
            raise Conflict(
                "an image the poster is made from expired just now; retry", code="concurrent_change"
            )
        try:
            rendered = posters.render_poster(background, code_image, layout, nickname)
        except posters.PosterInputError as exc:
            raise _unusable(exc) from None
        count("PosterRendered")  # the CPU-heavy step: a repeat must never render again
        size = {"width": str(rendered.width), "height": str(rendered.height)}
        return rendered.body, rendered.content_type, size

    stored, made = made_once(c.media, shop_id, member_id, "POSTER#" + key.rsplit("/", 1)[1], key, render)
    image = _presigned(c.media, key, stored.content_type)
    return Poster(image, int(stored.metadata["width"]), int(stored.metadata["height"]), made)


def _unusable(exc: Exception) -> RuleViolation:
    field = getattr(exc, "field", "ui.poster")
    return RuleViolation(
        f"the poster cannot be made: {getattr(exc, 'message', exc)}",
        code="invalid_poster_settings",
        field=field,
    )

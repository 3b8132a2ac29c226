"""The distribution centre (SPEC §9): its lists, the 分销赚/自购返 preview, scenes, promotion codes and posters."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, shop_route
from fenxiao.bootstrap import container
from fenxiao.timefmt import rfc3339

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/members/{member_id}/fans", methods=["GET"])
@shop_route
def list_fans(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import FansPage, answer
    from fenxiao.service import centre

    level = centre.fans_level(call.query("level"))
    limit = cursor.limit(call.query("limit"))
    keys = cursor.FANS_KEY if level == 1 else cursor.LEVEL2_FANS_KEY
    start = cursor.decode(
        call.query("cursor"), expect=centre.fans_scope(shop_id, member_id, level), keys=keys
    )
    entries, last_key = centre.fans(shop_id, member_id, level, start, limit)
    return answer(FansPage, {"entries": entries, "next_cursor": cursor.encode(last_key)})


@bp.route("/shops/{shop_id}/members/{member_id}/withdrawals", methods=["GET"])
@shop_route
def list_member_withdrawals(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.adapters.withdrawals import member_scope
    from fenxiao.api import cursor
    from fenxiao.api.responses import WithdrawalPage, answer
    from fenxiao.service import withdrawals

    limit = cursor.limit(call.query("limit"))
    start = cursor.decode(
        call.query("cursor"), expect=member_scope(shop_id, member_id), keys=cursor.MEMBER_WITHDRAWALS_KEY
    )
    entries, last_key = withdrawals.member_withdrawals(shop_id, member_id, start, limit)
    return answer(WithdrawalPage, {"entries": entries, "next_cursor": cursor.encode(last_key)})


@bp.route("/shops/{shop_id}/members/{member_id}/ledger", methods=["GET"])
@shop_route
def list_ledger(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import LedgerPage, answer
    from fenxiao.service import centre

    limit = cursor.limit(call.query("limit"))
    start = cursor.decode(
        call.query("cursor"), expect=centre.ledger_scope(shop_id, member_id), keys=cursor.LEDGER_KEY
    )
    entries, last_key = centre.ledger(shop_id, member_id, start, limit)
    return answer(LedgerPage, {"entries": entries, "next_cursor": cursor.encode(last_key)})


@bp.route("/shops/{shop_id}/earnings", methods=["POST"])
@shop_route
def preview_earnings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.models import EarningsIn
    from fenxiao.api.responses import EarningsView, answer
    from fenxiao.service import centre

    body = call.parse(EarningsIn)
    items = [centre.PreviewItem(i.product_id, i.price_fen) for i in body.items]
    return answer(EarningsView, centre.earnings(shop_id, body.member_id, items, call.now))


@bp.route("/shops/{shop_id}/scenes/{scene}", methods=["GET"])
@shop_route
def get_scene(call: Call, shop_id: str, scene: str) -> Any:
    from fenxiao.api.responses import SceneView, answer
    from fenxiao.service import centre

    view = centre.scene_view(shop_id, scene)
    return answer(SceneView, {"scene": view.scene, "member_id": view.member_id, "purpose": view.purpose})


@bp.route("/shops/{shop_id}/members/{member_id}/promotion-codes", methods=["POST"])
@shop_route
def post_promotion_code(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import PromotionCodeIn
    from fenxiao.api.responses import PromotionCodeView, answer
    from fenxiao.service import centre

    body = call.parse(PromotionCodeIn)
    code = centre.promotion_code(container(), shop_id, member_id, body.purpose, call.now)
    return answer(
        PromotionCodeView,
        {
            "scene": code.scene,
            "member_id": code.member_id,
            "purpose": code.purpose,
            "page": code.page,
            "image_url": code.image.url,
            "expires_at": rfc3339(code.image.expires_at),
        },
    )


@bp.route("/shops/{shop_id}/members/{member_id}/posters", methods=["POST"])
@shop_route
def post_poster(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import PosterIn
    from fenxiao.api.responses import PosterView, answer
    from fenxiao.service import centre

    body = call.parse(PosterIn)
    made = centre.poster(container(), shop_id, member_id, body.purpose, body.nickname, call.now)
    return answer(
        PosterView,
        {
            "image_url": made.image.url,
            "expires_at": rfc3339(made.image.expires_at),
            "width": made.width,
            "height": made.height,
            "content_type": made.image.content_type,
        },
    )

"""The distribution centre's lists and the 分销赚/自购返 preview (SPEC §9)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, shop_route
from fenxiao.api.responses import EarningsView, FansPage, LedgerPage, WithdrawalPage, answer

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/members/{member_id}/fans", methods=["GET"])
@shop_route
def list_fans(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api import cursor
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
    from fenxiao.service import centre

    body = call.parse(EarningsIn)
    items = [centre.PreviewItem(i.product_id, i.price_fen) for i in body.items]
    return answer(EarningsView, centre.earnings(shop_id, body.member_id, items, call.now))

"""Withdrawals: a member's requests, the shop's review queue and decisions."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, response, shop_route
from fenxiao.bootstrap import container

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/members/{member_id}/withdrawals", methods=["POST"])
@shop_route
def request_withdrawal(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.responses import Withdrawal, answer
    from fenxiao.schemas.withdrawals import WithdrawalIn
    from fenxiao.service import withdrawals

    body = call.parse(WithdrawalIn)
    return response(
        202,
        answer(Withdrawal, withdrawals.request_withdrawal(container(), shop_id, member_id, body, call.now)),
    )


@bp.route("/shops/{shop_id}/members/{member_id}/withdrawals/{withdrawal_id}", methods=["GET"])
@shop_route
def get_withdrawal(call: Call, shop_id: str, member_id: str, withdrawal_id: str) -> Any:
    from fenxiao.api.responses import Withdrawal, answer
    from fenxiao.service import withdrawals

    return answer(Withdrawal, withdrawals.get_withdrawal(shop_id, member_id, withdrawal_id))


@bp.route("/shops/{shop_id}/withdrawals", methods=["GET"])
@shop_route
def list_withdrawals_for_review(call: Call, shop_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import WithdrawalPage, answer
    from fenxiao.service import withdrawals

    limit = cursor.limit(call.query("limit"))
    scope = withdrawals.review_scope(shop_id, call.query("status"))
    page = withdrawals.list_for_review(
        shop_id, cursor.decode(call.query("cursor"), expect=scope, keys=cursor.REVIEW_QUEUE_KEY), limit
    )
    return answer(WithdrawalPage, {"entries": page.entries, "next_cursor": cursor.encode(page.last_key)})


@bp.route("/shops/{shop_id}/withdrawals/{withdrawal_id}/approval", methods=["POST"])
@shop_route
def decide_withdrawal(call: Call, shop_id: str, withdrawal_id: str) -> Any:
    from fenxiao.api.responses import Withdrawal, answer
    from fenxiao.schemas.withdrawals import ApprovalIn
    from fenxiao.service import withdrawals

    body = call.parse(ApprovalIn)
    return answer(Withdrawal, withdrawals.decide(container(), shop_id, withdrawal_id, body, call.now))

"""Members: bindings, distributor status, the member view, commissions, growth events, leaderboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, response, shop_route
from fenxiao.bootstrap import container
from fenxiao.timefmt import rfc3339

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/members/{member_id}/inviter", methods=["POST"])
@shop_route
def bind_member(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import InviterIn
    from fenxiao.api.responses import BindingView, answer
    from fenxiao.service import members

    body = call.parse(InviterIn)
    inviter_id = body.inviter_id
    if body.scene is not None:  # bound to the member whose code was scanned
        from fenxiao.service import centre

        inviter_id = centre.scene_view(shop_id, body.scene).member_id
    assert inviter_id is not None  # InviterIn holds exactly one of the two
    result = members.bind(container(), shop_id, member_id, inviter_id, call.now)
    return response(
        201 if result.created else 200,
        answer(
            BindingView,
            {
                "member_id": member_id,
                "inviter_id": inviter_id,
                "bound_at": rfc3339(result.bound_at),
                "created": result.created,
                "replaced_inviter_id": result.replaced,
            },
        ),
    )


@bp.route("/shops/{shop_id}/members/{member_id}/distributor", methods=["PUT"])
@shop_route
def put_distributor(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import DistributorIn
    from fenxiao.api.responses import MemberView, answer
    from fenxiao.service import members

    body = call.parse(DistributorIn)
    members.set_distributor(shop_id, member_id, body.active, call.now)
    return answer(MemberView, members.member_view(shop_id, member_id, call.now))


@bp.route("/shops/{shop_id}/members/{member_id}", methods=["GET"])
@shop_route
def get_member(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.responses import MemberView, answer
    from fenxiao.service import members

    return answer(MemberView, members.member_view(shop_id, member_id, call.now))


@bp.route("/shops/{shop_id}/members/{member_id}/commissions", methods=["GET"])
@shop_route
def get_member_commissions(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import CommissionPage, answer
    from fenxiao.service import orders

    limit = cursor.limit(call.query("limit"))
    start = cursor.decode(
        call.query("cursor"),
        expect=orders.commission_cursor_scope(shop_id, member_id),
        keys=cursor.COMMISSIONS_KEY,
    )
    entries, last_key = orders.member_commissions(shop_id, member_id, start, limit)
    return answer(CommissionPage, {"entries": entries, "next_cursor": cursor.encode(last_key)})


@bp.route("/shops/{shop_id}/members/{member_id}/growth-events", methods=["POST"])
@shop_route
def post_growth_event(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import GrowthEventIn
    from fenxiao.api.responses import GrowthEventResult, answer
    from fenxiao.service import membership

    body = call.parse(GrowthEventIn)
    signed_at = None if call.signed_at is None else datetime.fromtimestamp(call.signed_at, UTC)
    return answer(
        GrowthEventResult,
        membership.record_growth_event(shop_id, member_id, body.type, body.ref, call.now, signed_at),
    )


@bp.route("/shops/{shop_id}/leaderboards/{board}", methods=["GET"])
@shop_route
def get_leaderboard(call: Call, shop_id: str, board: str) -> Any:
    from fenxiao.api.responses import LeaderboardView, answer
    from fenxiao.service import leaderboard

    return answer(LeaderboardView, leaderboard.board_view(shop_id, board, call.query("period"), call.now))

"""The shop summary of the distribution centre (SPEC §9)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, shop_route

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/summary", methods=["GET"])
@shop_route
def shop_summary(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import ShopSummary, answer
    from fenxiao.service import summary

    return answer(ShopSummary, summary.shop_summary(shop_id))

"""Orders as the mall registers them, their completion and refund splits."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api.http import Call, response, shop_route
from fenxiao.bootstrap import container

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/orders/{order_id}", methods=["PUT"])
@shop_route
def put_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.api.responses import OrderView, answer
    from fenxiao.schemas.orders import OrderIn
    from fenxiao.service import orders

    body = call.parse(OrderIn)
    stored = orders.register_order(container(), shop_id, order_id, body, call.now)
    return response(201 if stored.created else 200, answer(OrderView, stored.view))


@bp.route("/shops/{shop_id}/orders/{order_id}", methods=["GET"])
@shop_route
def get_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.api.responses import OrderView, answer
    from fenxiao.service import orders

    return answer(OrderView, orders.get_order(shop_id, order_id))


@bp.route("/shops/{shop_id}/orders/{order_id}/completion", methods=["POST"])
@shop_route
def complete_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.api.responses import OrderView, answer
    from fenxiao.service import orders

    return answer(OrderView, orders.complete_order(container(), shop_id, order_id, call.now))


@bp.route("/shops/{shop_id}/orders/{order_id}/refunds/{out_refund_no}", methods=["PUT"])
@shop_route
def put_refund_split(call: Call, shop_id: str, order_id: str, out_refund_no: str) -> Any:
    from fenxiao.api.responses import RefundSplitView, answer
    from fenxiao.schemas.orders import RefundSplitIn
    from fenxiao.service import orders

    body = call.parse(RefundSplitIn)
    stored = orders.put_refund_split(container(), shop_id, order_id, out_refund_no, body, call.now)
    return response(201 if stored.created else 200, answer(RefundSplitView, stored.view))

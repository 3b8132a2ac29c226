"""Helpers that write WeChat Pay facts straight into storage and run the order consumer, for tests that
exercise the money rules without the signature layer (that layer has its own tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fenxiao.adapters.orders import PaymentModel, RefundModel, order_key
from fenxiao.bootstrap import container
from fenxiao.service.reconcile import reconcile_order
from fenxiao.timefmt import key


def pay(shop_id: str, order_id: str, total_fen: int, at: datetime, transaction_id: str | None = None) -> None:
    tx = transaction_id or f"tx-{order_id}"
    PaymentModel(
        order_key(shop_id, order_id),
        f"PAY#{tx}",
        transaction_id=tx,
        total_fen=total_fen,
        payer_total_fen=total_fen,
        success_time=key(at),
        received_at=key(at),
    ).save()


def refund(shop_id: str, order_id: str, out_refund_no: str, amount_fen: int, at: datetime) -> None:
    RefundModel(order_key(shop_id, order_id), f"REFUND#{out_refund_no}").update(
        actions=[
            RefundModel.item_type.set(RefundModel.item_type | RefundModel),
            RefundModel.out_refund_no.set(out_refund_no),
            RefundModel.refund_id.set(f"wx-{out_refund_no}"),
            RefundModel.amount_fen.set(amount_fen),
            RefundModel.success_time.set(key(at)),
            RefundModel.received_at.set(key(at)),
        ]
    )


def run(shop_id: str, order_id: str, now: datetime) -> bool:
    return reconcile_order(container(), shop_id, order_id, now)


def order_body(buyer: str, lines: list[tuple[str, str, int]], shipping: int = 0) -> dict[str, Any]:
    return {
        "buyer_id": buyer,
        "lines": [
            {"line_id": lid, "product_id": pid, "quantity": 1, "paid_fen": fen} for lid, pid, fen in lines
        ],
        "shipping_fen": shipping,
        "total_fen": sum(f for _, _, f in lines) + shipping,
    }

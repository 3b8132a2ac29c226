"""WeChat Pay's notifications (signed by WeChat Pay, not by the shop)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

bp = Blueprint(__name__)


@bp.route("/wechatpay/notify/{shop_id}", methods=["POST"])
def wechatpay_notify(shop_id: str) -> Any:
    from fenxiao.api.wechatpay import notify

    return notify(bp.current_request, shop_id)

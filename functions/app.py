"""fenxiao's entry points: HTTP routes, queue consumers and timers. Each parses, calls one service, answers.

``template.yaml`` points its functions here: ``app.app`` (HTTP), ``app.on_order_event`` and the other
consumers (SQS), ``app.on_schedule`` (timers). Every route below has its event in the template.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from fenxiao.api import http
from fenxiao.api.http import Call, operator_route, response, shop_route
from fenxiao.api.models import CreateShop, DistributorIn, InviterIn, OrderIn, RefundSplitIn, RunJob
from fenxiao.bootstrap import container
from fenxiao.entry import jobs_entry, lambda_middleware, sqs_batch
from fenxiao.timefmt import rfc3339

app = Chalice(app_name="fenxiao")
app.experimental_feature_flags.update([])
http.bind_app(app)
app.register_middleware(lambda_middleware, "all")


# ---------------------------------------------------------------- operator


@app.route("/admin/shops", methods=["POST"])
@operator_route
def admin_create_shop(call: Call) -> Any:
    from fenxiao.service.shops import create_shop

    body = call.parse(CreateShop)
    secret = create_shop(container(), body.shop_id, body.name, call.now)
    return response(201, {"shop_id": body.shop_id, "name": body.name, "api_secret": secret})


@app.route("/admin/shops/{shop_id}/secret", methods=["POST"])
@operator_route
def admin_rotate_secret(call: Call, shop_id: str) -> Any:
    from fenxiao.api.models import RotateSecret
    from fenxiao.service.shops import rotate_secret

    body = call.parse(RotateSecret) if call.raw_body else RotateSecret()
    secret, until = rotate_secret(
        container(), http.checked_id(shop_id, "shop_id"), body.overlap_seconds, call.now
    )
    return response(
        201, {"shop_id": shop_id, "api_secret": secret, "previous_secret_valid_until": rfc3339(until)}
    )


@app.route("/admin/jobs/{job}", methods=["POST"])
@operator_route
def admin_run_job(call: Call, job: str) -> Any:
    body = call.parse(RunJob) if call.raw_body else RunJob()
    return jobs_entry.run_now(job, body.now)


@app.route("/admin/notifications", methods=["GET"])
@operator_route
def admin_notifications(call: Call) -> Any:
    from fenxiao.api import cursor
    from fenxiao.service.notifications import recorded

    shop_id = http.checked_id(call.query("shop_id") or "", "shop_id")
    return recorded(shop_id, call.query("cursor"), cursor.limit(call.query("limit")))


# ---------------------------------------------------------------- shop settings


@app.route("/shops/{shop_id}/settings/distribution", methods=["GET"])
@shop_route
def get_distribution_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings

    return settings.distribution_at(shop_id, call.now).model_dump(mode="json")


@app.route("/shops/{shop_id}/settings/distribution", methods=["PUT"])
@shop_route
def put_distribution_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings

    return settings.put_distribution(shop_id, call.json(), call.now).model_dump(mode="json")


@app.route("/shops/{shop_id}/products/{product_id}/rates", methods=["PUT"])
@shop_route
def put_product_rates(call: Call, shop_id: str, product_id: str) -> Any:
    from fenxiao.service import settings

    rates = settings.put_product_rates(
        shop_id, http.checked_id(product_id, "product_id"), call.json(), call.now
    )
    return {"product_id": product_id, **rates.model_dump(mode="json")}


@app.route("/shops/{shop_id}/products/{product_id}/rates", methods=["DELETE"])
@shop_route
def delete_product_rates(call: Call, shop_id: str, product_id: str) -> Any:
    from fenxiao.service import settings

    settings.delete_product_rates(shop_id, http.checked_id(product_id, "product_id"), call.now)
    return response(204)


@app.route("/shops/{shop_id}/settings/membership", methods=["GET"])
@shop_route
def get_membership_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings

    return settings.membership_at(shop_id, call.now).model_dump(mode="json")


@app.route("/shops/{shop_id}/settings/membership", methods=["PUT"])
@shop_route
def put_membership_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings

    return settings.put_membership(shop_id, call.json(), call.now).model_dump(mode="json")


@app.route("/shops/{shop_id}/settings/wechatpay", methods=["GET"])
@shop_route
def get_wechatpay_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings
    from fenxiao.service.shops import load_shop

    return settings.wechatpay_public(load_shop(shop_id))


@app.route("/shops/{shop_id}/settings/wechatpay", methods=["PUT"])
@shop_route
def put_wechatpay_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.service import settings
    from fenxiao.service.shops import load_shop

    return settings.put_wechatpay(container(), load_shop(shop_id), call.json(), call.now)


# ---------------------------------------------------------------- members


@app.route("/shops/{shop_id}/members/{member_id}/inviter", methods=["POST"])
@shop_route
def bind_member(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.service import members

    body = call.parse(InviterIn)
    result = members.bind(
        container(), shop_id, http.checked_id(member_id, "member_id"), body.inviter_id, call.now
    )
    return response(
        201 if result.created else 200,
        {
            "member_id": member_id,
            "inviter_id": body.inviter_id,
            "bound_at": rfc3339(result.bound_at),
            "created": result.created,
            "replaced_inviter_id": result.replaced,
        },
    )


@app.route("/shops/{shop_id}/members/{member_id}/distributor", methods=["PUT"])
@shop_route
def put_distributor(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.service import members

    body = call.parse(DistributorIn)
    members.set_distributor(shop_id, http.checked_id(member_id, "member_id"), body.active, call.now)
    return members.member_view(shop_id, member_id, call.now)


@app.route("/shops/{shop_id}/members/{member_id}", methods=["GET"])
@shop_route
def get_member(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.service import members

    return members.member_view(shop_id, http.checked_id(member_id, "member_id"), call.now)


@app.route("/shops/{shop_id}/members/{member_id}/commissions", methods=["GET"])
@shop_route
def get_member_commissions(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.service import orders

    member_id = http.checked_id(member_id, "member_id")
    return orders.member_commissions(
        shop_id, member_id, call.query("cursor"), cursor.limit(call.query("limit"))
    )


@app.route("/shops/{shop_id}/members/{member_id}/growth-events", methods=["POST"])
@shop_route
def post_growth_event(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import GrowthEventIn
    from fenxiao.service import membership

    body = call.parse(GrowthEventIn)
    member_id = http.checked_id(member_id, "member_id")
    return membership.record_growth_event(shop_id, member_id, body.type, body.ref, call.now)


# ---------------------------------------------------------------- leaderboards


@app.route("/shops/{shop_id}/leaderboards/{board}", methods=["GET"])
@shop_route
def get_leaderboard(call: Call, shop_id: str, board: str) -> Any:
    from fenxiao.service import leaderboard

    return leaderboard.board_view(shop_id, board, call.query("period"), call.now)


# ---------------------------------------------------------------- orders


@app.route("/shops/{shop_id}/orders/{order_id}", methods=["PUT"])
@shop_route
def put_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.service import orders

    body = call.parse(OrderIn)
    status, view = orders.register_order(
        container(), shop_id, http.checked_id(order_id, "order_id"), body, call.now
    )
    return response(status, view)


@app.route("/shops/{shop_id}/orders/{order_id}", methods=["GET"])
@shop_route
def get_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.service import orders

    return orders.get_order(shop_id, http.checked_id(order_id, "order_id"))


@app.route("/shops/{shop_id}/orders/{order_id}/completion", methods=["POST"])
@shop_route
def complete_order(call: Call, shop_id: str, order_id: str) -> Any:
    from fenxiao.service import orders

    return orders.complete_order(container(), shop_id, http.checked_id(order_id, "order_id"), call.now)


@app.route("/shops/{shop_id}/orders/{order_id}/refunds/{out_refund_no}", methods=["PUT"])
@shop_route
def put_refund_split(call: Call, shop_id: str, order_id: str, out_refund_no: str) -> Any:
    from fenxiao.service import orders

    body = call.parse(RefundSplitIn)
    status, view = orders.put_refund_split(
        container(),
        shop_id,
        http.checked_id(order_id, "order_id"),
        http.checked_id(out_refund_no, "out_refund_no"),
        body,
        call.now,
    )
    return response(status, view)


# ---------------------------------------------------------------- withdrawals


@app.route("/shops/{shop_id}/members/{member_id}/withdrawals", methods=["POST"])
@shop_route
def request_withdrawal(call: Call, shop_id: str, member_id: str) -> Any:
    from fenxiao.api.models import WithdrawalIn
    from fenxiao.service import withdrawals

    member_id = http.checked_id(member_id, "member_id")
    body = call.parse(WithdrawalIn)
    return response(202, withdrawals.request_withdrawal(container(), shop_id, member_id, body, call.now))


@app.route("/shops/{shop_id}/members/{member_id}/withdrawals/{withdrawal_id}", methods=["GET"])
@shop_route
def get_withdrawal(call: Call, shop_id: str, member_id: str, withdrawal_id: str) -> Any:
    from fenxiao.service import withdrawals

    return withdrawals.get_withdrawal(
        shop_id, http.checked_id(member_id, "member_id"), http.checked_id(withdrawal_id, "withdrawal_id")
    )


@app.route("/shops/{shop_id}/withdrawals", methods=["GET"])
@shop_route
def list_withdrawals_for_review(call: Call, shop_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.service import withdrawals

    return withdrawals.list_for_review(
        shop_id, call.query("status"), call.query("cursor"), cursor.limit(call.query("limit"))
    )


@app.route("/shops/{shop_id}/withdrawals/{withdrawal_id}/approval", methods=["POST"])
@shop_route
def decide_withdrawal(call: Call, shop_id: str, withdrawal_id: str) -> Any:
    from fenxiao.api.models import ApprovalIn
    from fenxiao.service import withdrawals

    withdrawal_id = http.checked_id(withdrawal_id, "withdrawal_id")
    body = call.parse(ApprovalIn)
    return withdrawals.decide(container(), shop_id, withdrawal_id, body, call.now)


# ---------------------------------------------------------------- WeChat Pay notifications


@app.route("/wechatpay/notify/{shop_id}", methods=["POST"])
def wechatpay_notify(shop_id: str) -> Any:
    from fenxiao.api.wechatpay import notify

    return notify(app.current_request, shop_id)


# ---------------------------------------------------------------- queue consumers and timers


@app.on_sqs_message(queue="OrderEventsQueue", batch_size=10)
def on_order_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_order_message

    return sqs_batch(event, handle_order_message)


@app.on_sqs_message(queue="BindingEventsQueue", batch_size=10)
def on_binding_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_binding_message

    return sqs_batch(event, handle_binding_message)


@app.on_sqs_message(queue="PayoutQueue", batch_size=1)
def on_payout_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_payout_message

    return sqs_batch(event, handle_payout_message)


@app.on_sqs_message(queue="JobsQueue", batch_size=1)
def on_job_event(event: Any) -> dict[str, Any]:
    return sqs_batch(event, jobs_entry.handle_job_message)


@app.lambda_function(name="scheduler")
def on_schedule(event: Any, context: Any) -> dict[str, Any]:
    return jobs_entry.on_timer(event)

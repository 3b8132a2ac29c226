"""The operator's routes (bearer token): shops, their API secrets, jobs run now, recorded notifications."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from fenxiao.api import http
from fenxiao.api.http import Call, operator_route, response
from fenxiao.bootstrap import container
from fenxiao.timefmt import rfc3339

bp = Blueprint(__name__)


@bp.route("/admin/shops", methods=["POST"])
@operator_route
def admin_create_shop(call: Call) -> Any:
    from fenxiao.api.models import CreateShop
    from fenxiao.api.responses import ShopCreated, answer
    from fenxiao.service.shops import create_shop

    body = call.parse(CreateShop)
    secret = create_shop(container(), body.shop_id, body.name, call.now)
    return response(
        201, answer(ShopCreated, {"shop_id": body.shop_id, "name": body.name, "api_secret": secret})
    )


@bp.route("/admin/shops/{shop_id}/secret", methods=["POST"])
@operator_route
def admin_rotate_secret(call: Call, shop_id: str) -> Any:
    from fenxiao.api.models import RotateSecret
    from fenxiao.api.responses import SecretRotated, answer
    from fenxiao.service.shops import rotate_secret

    body = call.parse(RotateSecret) if call.raw_body else RotateSecret()
    secret, until = rotate_secret(container(), shop_id, body.overlap_seconds, call.now)
    return response(
        201,
        answer(
            SecretRotated,
            {"shop_id": shop_id, "api_secret": secret, "previous_secret_valid_until": rfc3339(until)},
        ),
    )


@bp.route("/admin/jobs/{job}", methods=["POST"])
@operator_route
def admin_run_job(call: Call, job: str) -> Any:
    from fenxiao.api.models import RunJob
    from fenxiao.api.responses import JobRun, answer
    from fenxiao.service import jobs

    body = call.parse(RunJob) if call.raw_body else RunJob()
    return answer(JobRun, jobs.run_now(job, body.now))


@bp.route("/admin/notifications", methods=["GET"])
@operator_route
def admin_notifications(call: Call) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import NotificationRecords, answer
    from fenxiao.api.wechatpay import recorded

    shop_id = http.checked_id(call.query("shop_id") or "", "shop_id")
    return answer(
        NotificationRecords, recorded(shop_id, call.query("cursor"), cursor.limit(call.query("limit")))
    )

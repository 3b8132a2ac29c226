"""A shop's settings documents and product rates (last-writer-wins, versioned)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from fenxiao.api.http import Call, response, shop_route
from fenxiao.bootstrap import container
from fenxiao.timefmt import rfc3339

if TYPE_CHECKING:  # the service is imported on first use (cold start)
    from fenxiao.service.settings import MiniProgramView, WechatPayState

bp = Blueprint(__name__)


@bp.route("/shops/{shop_id}/settings/distribution", methods=["GET"])
@shop_route
def get_distribution_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import answer
    from fenxiao.schemas.settings import DistributionSettings
    from fenxiao.service import settings

    return answer(DistributionSettings, settings.distribution_at(shop_id, call.now))


@bp.route("/shops/{shop_id}/settings/distribution", methods=["PUT"])
@shop_route
def put_distribution_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import answer
    from fenxiao.schemas.settings import DistributionSettings
    from fenxiao.service import settings

    return answer(DistributionSettings, settings.put_distribution(shop_id, call.json(), call.now))


@bp.route("/shops/{shop_id}/products/{product_id}/rates", methods=["PUT"])
@shop_route
def put_product_rates(call: Call, shop_id: str, product_id: str) -> Any:
    from fenxiao.api.responses import ProductRatesView, answer
    from fenxiao.service import settings

    rates = settings.put_product_rates(shop_id, product_id, call.json(), call.now)
    return answer(ProductRatesView, {"product_id": product_id, **rates.model_dump(mode="json")})


@bp.route("/shops/{shop_id}/products/{product_id}/rates", methods=["DELETE"])
@shop_route
def delete_product_rates(call: Call, shop_id: str, product_id: str) -> Any:
    from fenxiao.service import settings

    settings.delete_product_rates(shop_id, product_id, call.now)
    return response(204)


@bp.route("/shops/{shop_id}/settings/membership", methods=["GET"])
@shop_route
def get_membership_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import answer
    from fenxiao.schemas.rules import MembershipSettings
    from fenxiao.service import settings

    return answer(MembershipSettings, settings.membership_at(shop_id, call.now))


@bp.route("/shops/{shop_id}/settings/membership", methods=["PUT"])
@shop_route
def put_membership_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import answer
    from fenxiao.schemas.rules import MembershipSettings
    from fenxiao.service import settings

    return answer(MembershipSettings, settings.put_membership(shop_id, call.json(), call.now))


@bp.route("/shops/{shop_id}/settings/wechatpay", methods=["GET"])
@shop_route
def get_wechatpay_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import WechatPayView, answer
    from fenxiao.service import settings
    from fenxiao.service.shops import load_shop

    return answer(WechatPayView, _wechatpay_body(settings.wechatpay_view(load_shop(shop_id))))


@bp.route("/shops/{shop_id}/settings/wechatpay", methods=["PUT"])
@shop_route
def put_wechatpay_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import WechatPayView, answer
    from fenxiao.service import settings
    from fenxiao.service.shops import load_shop

    view = settings.put_wechatpay(container(), load_shop(shop_id), call.json(), call.now)
    return answer(WechatPayView, _wechatpay_body(view))


@bp.route("/shops/{shop_id}/settings/history", methods=["GET"])
@shop_route
def get_settings_history(call: Call, shop_id: str) -> Any:
    from fenxiao.api import cursor
    from fenxiao.api.responses import TrustHistoryPage, answer
    from fenxiao.service import settings

    document = call.query("document") or ""
    scope = settings.trust_history_scope(shop_id, document)
    limit = cursor.limit(call.query("limit"))
    page = settings.trust_history(
        shop_id,
        document,
        cursor.decode(call.query("cursor"), expect=scope, keys=cursor.TRUST_HISTORY_KEY),
        limit,
    )
    return answer(
        TrustHistoryPage,
        {
            "entries": [{"at": rfc3339(at), "fields": fields} for at, fields in page.entries],
            "next_cursor": cursor.encode(page.last_key),
        },
    )


def _wechatpay_body(view: WechatPayState | None) -> dict[str, Any]:
    if view is None:
        return {"configured": False}
    return {
        "configured": True,
        "mchid": view.mchid,
        "appid": view.appid,
        "merchant_serial": view.merchant_serial,
        "platform_public_keys": [{"serial": serial, "pem": pem} for serial, pem in view.platform_public_keys],
        "apiv3_key_set": view.apiv3_key_set,
        "merchant_private_key_set": view.merchant_private_key_set,
        "updated_at": rfc3339(view.updated_at),
    }


@bp.route("/shops/{shop_id}/settings/miniprogram", methods=["GET"])
@shop_route
def get_miniprogram_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import MiniProgramSettingsView, answer
    from fenxiao.service import settings

    return answer(MiniProgramSettingsView, _miniprogram_body(settings.miniprogram_view(shop_id, call.now)))


@bp.route("/shops/{shop_id}/settings/miniprogram", methods=["PUT"])
@shop_route
def put_miniprogram_settings(call: Call, shop_id: str) -> Any:
    from fenxiao.api.responses import MiniProgramSettingsView, answer
    from fenxiao.service import settings

    view = settings.put_miniprogram(container(), shop_id, call.json(), call.now)
    return answer(MiniProgramSettingsView, _miniprogram_body(view))


def _miniprogram_body(view: MiniProgramView) -> dict[str, Any]:
    return {
        "configured": view.configured,
        "appid": view.appid,
        "appsecret_set": view.appsecret_set,
        "env_version": view.env_version,
        "pages": view.pages,
    }

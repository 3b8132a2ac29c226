"""Shops: creation by the operator, the shop's API secret and its stored WeChat Pay secrets."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fenxiao.adapters.shops import ShopModel, get_shop, put_new_shop, replace_api_secret
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, NotFound, RuleViolation
from fenxiao.timefmt import key

if TYPE_CHECKING:
    from fenxiao.adapters.wechatpay_crypto import PlatformKey

SECRET_PURPOSE = "api_secret"
APIV3_PURPOSE = "wechatpay_apiv3_key"
MERCHANT_KEY_PURPOSE = "wechatpay_merchant_private_key"


def create_shop(c: Container, shop_id: str, name: str, now: datetime) -> str:
    """Create the shop and return its api_secret, shown this once; only its KMS ciphertext is stored."""
    api_secret = secrets.token_urlsafe(32)
    ciphertext = c.secrets.encrypt(api_secret.encode(), shop_id=shop_id, purpose=SECRET_PURPOSE)
    if not put_new_shop(ShopModel(shop_id, name=name, api_secret_ct=ciphertext, created_at=key(now))):
        raise Conflict(f"shop {shop_id} already exists", code="shop_exists", field="shop_id")
    return api_secret


def rotate_secret(c: Container, shop_id: str, overlap_seconds: int, now: datetime) -> tuple[str, datetime]:
    """Issue a new api_secret; the previous one keeps working for ``overlap_seconds`` so the mall can
    switch without downtime. Returns (new secret, until when the previous one is accepted)."""
    shop = load_shop(shop_id)
    api_secret = secrets.token_urlsafe(32)
    ciphertext = c.secrets.encrypt(api_secret.encode(), shop_id=shop_id, purpose=SECRET_PURPOSE)
    until = now + timedelta(seconds=overlap_seconds)
    replace_api_secret(shop, ciphertext, previous_until=key(until))
    return api_secret, until


def accepted_secrets(c: Container, shop: ShopModel, now: datetime) -> list[str]:
    """The secrets a request may be signed with now: the current one, and the previous one during overlap."""
    out = [api_secret_of(c, shop)]
    if (
        shop.api_secret_prev_ct is not None
        and shop.api_secret_prev_until
        and key(now) < shop.api_secret_prev_until
    ):
        out.append(
            c.secrets.decrypt(shop.api_secret_prev_ct, shop_id=shop.shop_id, purpose=SECRET_PURPOSE).decode()
        )
    return out


def load_shop(shop_id: str) -> ShopModel:
    shop = get_shop(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} does not exist", code="shop_not_found")
    return shop


def find_shop(shop_id: str) -> ShopModel | None:
    return get_shop(shop_id)


def api_secret_of(c: Container, shop: ShopModel) -> str:
    return c.secrets.decrypt(shop.api_secret_ct, shop_id=shop.shop_id, purpose=SECRET_PURPOSE).decode()


def apiv3_key(c: Container, shop: ShopModel) -> str:
    """The APIv3 key alone, decrypted: what verifying a notification needs. The API function may not decrypt
    the merchant private key (template.yaml), which only the payout worker uses."""
    if not shop.wx_mchid or shop.wx_apiv3_key_ct is None:
        raise RuleViolation("the shop has no WeChat Pay configuration", code="wechatpay_not_configured")
    return c.secrets.decrypt(shop.wx_apiv3_key_ct, shop_id=shop.shop_id, purpose=APIV3_PURPOSE).decode()


def platform_keys(shop: ShopModel) -> list[PlatformKey]:
    """The shop's WeChat Pay platform keys, read through the serial and PEM public key each entry was read as
    when stored (a certificate was checked then: no X.509 parse on the notification path); an entry stored
    before those were kept, from its PEM as configured."""
    from fenxiao.adapters.wechatpay_crypto import load_platform_key

    return [
        load_platform_key(k.key_serial or "", k.key_pem) if k.key_pem else load_platform_key(k.serial, k.pem)
        for k in shop.wx_platform_keys or []
    ]


def wechatpay_secrets(c: Container, shop: ShopModel) -> tuple[str, str | None]:
    """(apiv3_key, merchant_private_key_pem) decrypted; only for signing and decrypting, never logged."""
    if not shop.wx_mchid or shop.wx_apiv3_key_ct is None:
        raise RuleViolation("the shop has no WeChat Pay configuration", code="wechatpay_not_configured")
    apiv3 = c.secrets.decrypt(shop.wx_apiv3_key_ct, shop_id=shop.shop_id, purpose=APIV3_PURPOSE).decode()
    merchant = None
    if shop.wx_merchant_key_ct is not None:
        merchant = c.secrets.decrypt(
            shop.wx_merchant_key_ct, shop_id=shop.shop_id, purpose=MERCHANT_KEY_PURPOSE
        ).decode()
    return apiv3, merchant

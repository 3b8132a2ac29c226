"""Shops: creation by the operator and the shop's API secret."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from fenxiao.adapters.shops import ShopModel
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, NotFound
from fenxiao.timefmt import key

SECRET_PURPOSE = "api_secret"


def create_shop(c: Container, shop_id: str, name: str, now: datetime) -> str:
    """Create the shop and return its api_secret, shown this once; only its KMS ciphertext is stored."""
    api_secret = secrets.token_urlsafe(32)
    ciphertext = c.secrets.encrypt(api_secret.encode(), shop_id=shop_id, purpose=SECRET_PURPOSE)
    shop = ShopModel(shop_id, name=name, api_secret_ct=ciphertext, created_at=key(now))
    try:
        shop.save(condition=ShopModel.shop_id.does_not_exist())
    except PutError as exc:
        if _conditional(exc):
            raise Conflict(f"shop {shop_id} already exists", code="shop_exists", field="shop_id") from None
        raise
    return api_secret


def rotate_secret(c: Container, shop_id: str, overlap_seconds: int, now: datetime) -> tuple[str, datetime]:
    """Issue a new api_secret; the previous one keeps working for ``overlap_seconds`` so the mall can
    switch without downtime. Returns (new secret, until when the previous one is accepted)."""
    shop = load_shop(shop_id)
    api_secret = secrets.token_urlsafe(32)
    ciphertext = c.secrets.encrypt(api_secret.encode(), shop_id=shop_id, purpose=SECRET_PURPOSE)
    until = now + timedelta(seconds=overlap_seconds)
    shop.update(
        actions=[
            ShopModel.api_secret_ct.set(ciphertext),
            ShopModel.api_secret_prev_ct.set(shop.api_secret_ct),
            ShopModel.api_secret_prev_until.set(key(until)),
        ],
        condition=ShopModel.api_secret_ct == shop.api_secret_ct,
    )
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
    try:
        return ShopModel.get(shop_id, consistent_read=False)
    except ShopModel.DoesNotExist:
        raise NotFound(f"shop {shop_id} does not exist", code="shop_not_found") from None


def find_shop(shop_id: str) -> ShopModel | None:
    try:
        return ShopModel.get(shop_id)
    except ShopModel.DoesNotExist:
        return None


def api_secret_of(c: Container, shop: ShopModel) -> str:
    return c.secrets.decrypt(shop.api_secret_ct, shop_id=shop.shop_id, purpose=SECRET_PURPOSE).decode()


def all_shop_ids() -> list[str]:
    """Every shop, through the AllShops index (a query, not a scan)."""
    return [s.shop_id for s in ShopModel.all_shops.query("shop")]


def _conditional(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"

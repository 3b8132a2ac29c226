"""Shops: creation by the operator and the shop's API secret."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from fenxiao.adapters.shops import ShopModel, get_shop, put_new_shop, replace_api_secret
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, NotFound
from fenxiao.timefmt import key

SECRET_PURPOSE = "api_secret"


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

"""`?cursor=` and `?limit=` of every paginated list (SPEC §7, §10): whatever the mall or an operator sends,
a malformed value is 400 naming the field, never a 500 and never silently the first page."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.app import Answer, Api, ShopCaller

pytestmark = pytest.mark.api

MEMBER = "m1"


def _cursor(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _lists(api: Api, shop: ShopCaller) -> dict[str, tuple[Callable[[str], Answer], dict[str, Any]]]:
    """Each list: how to call it with a query string, and a well-formed key of its own scope."""
    return {
        "commissions": (
            lambda q: shop.get(shop.path(f"/members/{MEMBER}/commissions?{q}")),
            {
                "order_key": {"S": "shop1#o1"},
                "sk": {"S": "COMMISSION#level1"},
                "beneficiary": {"S": f"shop1#{MEMBER}"},
                "paid_sort": {"S": "20261125T000000.000000Z#o1"},
            },
        ),
        "review_queue": (
            lambda q: shop.get(shop.path(f"/withdrawals?{q}")),
            {
                "withdrawal_key": {"S": "shop1#w1"},
                "review_queue": {"S": "shop1#pending_review"},
                "created_at": {"S": "20261125T000000.000000Z"},
            },
        ),
        "notifications": (
            lambda q: api.operator("GET", f"/admin/notifications?shop_id=shop1&{q}"),
            {"shop_id": {"S": "shop1"}, "sk": {"S": "NOTIF#n1"}},
        ),
    }


def _bad_cursors(good: dict[str, Any]) -> dict[str, str]:
    some = next(name for name in good if name not in ("beneficiary", "review_queue", "shop_id"))
    return {
        "empty": "",
        "too long": "A" * 4097,
        "nested too deeply": _cursor(b"[" * 1500 + b"]" * 1500),
        "a string attribute as a number": _cursor({**good, some: {"S": 5}}),
        "a number that is not one": _cursor({**good, some: {"N": "x"}}),
        "a binary attribute": _cursor({**good, some: {"B": "AAAA"}}),
        "an extra attribute": _cursor({**good, "extra": {"S": "x"}}),
        "a missing attribute": _cursor({k: v for k, v in good.items() if k != some}),
        "two types in one value": _cursor({**good, some: {"S": "a", "N": "1"}}),
        "not base64url": "abc$def",
    }


@pytest.mark.parametrize("name", ["commissions", "review_queue", "notifications"])
def test_a_malformed_cursor_is_400_naming_the_cursor(api: Api, shop: ShopCaller, name: str) -> None:
    call, good = _lists(api, shop)[name]
    assert call(f"cursor={_cursor(good)}").status == 200  # the well-formed key pages (an empty page here)
    for why, cursor in _bad_cursors(good).items():
        answer = call(f"cursor={quote(cursor, safe='')}")
        assert answer.status == 400, (name, why, answer.status, answer.body)
        assert answer.error["field"] == "cursor", (name, why, answer.body)


@pytest.mark.parametrize("name", ["commissions", "review_queue", "notifications"])
def test_a_limit_other_than_ascii_digits_is_400_naming_the_limit(
    api: Api, shop: ShopCaller, name: str
) -> None:
    call, _ = _lists(api, shop)[name]
    for limit in ("²", "٣", "+5", " 5", "5 ", "5.0", "1_0", "", "0", "101"):
        answer = call(f"limit={quote(limit, safe='')}")
        assert answer.status == 400, (name, limit, answer.status, answer.body)
        assert answer.error["field"] == "limit", (name, limit, answer.body)
    assert call("limit=100").status == 200


@pytest.mark.parametrize(
    "query", ["cursor=TUE&limit=5&cursor=KzU", "limit=5&limit=6", "level=1&cursor=TUE&limit=31&cursor=%2B5"]
)
def test_a_query_parameter_given_twice_is_400_naming_it(shop: ShopCaller, query: str) -> None:
    """API Gateway groups a name's values, so the order a repeated parameter was signed in is lost: refused
    as input (found by the fuzz suite as a 401 for a correctly signed request)."""
    answer = shop.get(shop.path(f"/members/m1/fans?{query}"))
    assert answer.status == 400, answer
    assert answer.body["error"]["field"] in ("cursor", "limit")
    assert answer.body["error"]["message"].endswith("given more than once")

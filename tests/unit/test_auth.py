"""The Shop API signature over the path the mall requested (SPEC §7, fenxiao.api.auth).

Behind API Gateway the function sees the routed path without the stage (``/shops/...``) and, in the request
context, the path with it (``/Prod/shops/...``); behind a custom domain the mall's path carries the
mapping's base path (``FENXIAO_API_BASE_PATH``). The proxy-event tests feed the real Lambda handler an API
Gateway event (``apigw_staged_shop_request.json`` beside this file), as AWS would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fenxiao.api.auth import sign, verify_shop_signature
from fenxiao.domain.errors import Unauthorized

EVENT = Path(__file__).with_name("apigw_staged_shop_request.json")
NOW = 1_800_000_000


# ---------------------------------------------------------------- the signature itself (no AWS)


def _headers(secret: str, path: str, body: bytes = b"", ts: int = NOW, method: str = "GET") -> dict[str, str]:
    return {"x-timestamp": str(ts), "x-signature": sign(secret, str(ts), method, path, body)}


@pytest.mark.unit
def test_any_candidate_path_verifies_and_no_other() -> None:
    candidates = ["/Prod/shops/s1/settings/distribution", "/shops/s1/settings/distribution"]
    for path in candidates:
        verify_shop_signature("k", _headers("k", path), "GET", candidates, "", b"", NOW)
    for path in ("/Dev/shops/s1/settings/distribution", "/shops/s1/settings/membership", "/Prod/shops/s1"):
        with pytest.raises(Unauthorized) as raised:
            verify_shop_signature("k", _headers("k", path), "GET", candidates, "", b"", NOW)
        assert raised.value.code == "bad_signature"


ODD_TIMESTAMPS = [
    f"+{NOW}",
    f"{str(NOW)[:4]}_{str(NOW)[4:]}",
    f"{NOW}.0",
    f" {NOW}",
    f"{NOW} ",
    str(NOW).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # Arabic-Indic digits
    f"0{NOW:012d}",  # 13 digits
    "",
]


@pytest.mark.unit
@pytest.mark.parametrize("stamp", ODD_TIMESTAMPS)
def test_x_timestamp_is_1_to_12_ascii_digits_exactly(stamp: str) -> None:
    """SPEC §10: what ``int()`` also accepts (a sign, an underscore, a fraction, spaces, other digits) is 401,
    even signed correctly over that very string."""
    path = "/shops/s1/settings/distribution"
    headers = {"x-timestamp": stamp, "x-signature": sign("k", stamp, "GET", path, b"")}
    with pytest.raises(Unauthorized) as raised:
        verify_shop_signature("k", headers, "GET", [path], "", b"", NOW)
    assert raised.value.code in ("bad_timestamp", "missing_signature")
    verify_shop_signature("k", _headers("k", path), "GET", [path], "", b"", NOW)


@pytest.mark.unit
def test_the_query_body_method_and_timestamp_are_signed() -> None:
    path = "/shops/s1/leaderboards/weekly"
    good = _headers("k", f"{path}?limit=5", b"{}", method="PUT")
    verify_shop_signature("k", good, "PUT", [path], "limit=5", b"{}", NOW)
    for method, query, body in (
        ("POST", "limit=5", b"{}"),
        ("PUT", "limit=6", b"{}"),
        ("PUT", "limit=5", b""),
    ):
        with pytest.raises(Unauthorized):
            verify_shop_signature("k", good, method, [path], query, body, NOW)
    with pytest.raises(Unauthorized):
        verify_shop_signature("other", good, "PUT", [path], "limit=5", b"{}", NOW)
    with pytest.raises(Unauthorized) as raised:
        verify_shop_signature("k", good, "PUT", [path], "limit=5", b"{}", NOW + 301)
    assert raised.value.code == "stale_timestamp"


# ---------------------------------------------------------------- through the Lambda handler (moto)

api = pytest.mark.api


class _Context:
    aws_request_id = "auth-test"
    function_name = "fenxiao-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fenxiao-api"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30000


def _invoke(
    shop: Any,
    *,
    signed_path: str,
    context_path: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """Send the sample API Gateway proxy event, signed over ``signed_path``, to the HTTP Lambda handler."""
    from fenxiao import clock
    from tests.support.app import app_module

    event = copy.deepcopy(json.loads(EVENT.read_text()))
    raw = b"" if body is None else json.dumps(body).encode()
    ts = str(int(clock.unix_now()))
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["requestContext"]["path"] = context_path
    event["body"] = raw.decode() if body is not None else None
    event["headers"].update(
        {
            "X-Shop-Id": shop.shop_id,
            "X-Timestamp": ts,
            "X-Signature": sign(shop.secret, ts, method, signed_path, raw),
        }
    )
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    answer = app_module().app(event, _Context())
    text = answer.get("body") or ""
    return answer["statusCode"], (json.loads(text) if text else None)


STAGED = "/Prod/shops/shop1/settings/distribution"
UNSTAGED = "/shops/shop1/settings/distribution"


@api
def test_a_request_signed_over_the_stage_prefixed_path_is_accepted(shop: Any) -> None:
    status, body = _invoke(shop, signed_path=STAGED, context_path=STAGED)
    assert status == 200 and body["enabled"] is True


@api
def test_a_put_signed_over_the_stage_prefixed_path_is_applied(shop: Any) -> None:
    status, body = _invoke(
        shop, signed_path=STAGED, context_path=STAGED, method="PUT", body={"promotion_rules_text": "staged"}
    )
    assert status == 200, body
    assert body["promotion_rules_text"] == "staged"
    assert shop.get(shop.path("/settings/distribution")).body["promotion_rules_text"] == "staged"


@api
def test_the_unstaged_path_is_accepted_behind_a_stage_too(shop: Any) -> None:
    status, _ = _invoke(shop, signed_path=UNSTAGED, context_path=STAGED)
    assert status == 200


@api
@pytest.mark.parametrize(
    "signed",
    [
        "/Dev/shops/shop1/settings/distribution",  # another stage
        "/Prod/shops/shop1/settings/membership",  # another resource
        "/fenxiao/shops/shop1/settings/distribution",  # a base path that is not configured
        "/prod/shops/shop1/settings/distribution",  # paths are case-sensitive
    ],
)
def test_a_signature_over_any_other_path_is_401(shop: Any, signed: str) -> None:
    status, body = _invoke(shop, signed_path=signed, context_path=STAGED)
    assert status == 401 and body["error"]["code"] == "bad_signature"


@api
def test_a_rejected_staged_put_stores_nothing(shop: Any) -> None:
    before = shop.get(shop.path("/settings/distribution")).body
    status, _ = _invoke(
        shop, signed_path="/Dev" + UNSTAGED, context_path=STAGED, method="PUT", body={"enabled": False}
    )
    assert status == 401
    assert shop.get(shop.path("/settings/distribution")).body == before


@api
@pytest.mark.parametrize("setting", ["/fenxiao", "/fenxiao/"])
def test_a_custom_domain_base_path_is_accepted_when_configured(
    shop: Any, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    from fenxiao import bootstrap

    signed = "/fenxiao" + UNSTAGED
    # Behind a custom domain the mall requests https://api.example.com/fenxiao/shops/...; the function sees
    # the stage path in the request context, so only the configured base path can rebuild what was signed.
    assert _invoke(shop, signed_path=signed, context_path=STAGED)[0] == 401
    monkeypatch.setenv("FENXIAO_API_BASE_PATH", setting)
    bootstrap.reset()  # the container reads the environment again
    try:
        status, body = _invoke(shop, signed_path=signed, context_path=STAGED)
        assert status == 200, body
        status, body = _invoke(
            shop,
            signed_path=signed,
            context_path=STAGED,
            method="PUT",
            body={"promotion_rules_text": "via domain"},
        )
        assert status == 200 and body["promotion_rules_text"] == "via domain"
        assert _invoke(shop, signed_path=STAGED, context_path=STAGED)[0] == 200  # the stage form still works
        assert _invoke(shop, signed_path="/other" + UNSTAGED, context_path=STAGED)[0] == 401
    finally:
        monkeypatch.setenv("FENXIAO_API_BASE_PATH", "")
        bootstrap.reset()


# ---------------------------------------------------------------- the operator token's strength


@pytest.mark.unit
def test_the_generated_operator_token_is_long_and_can_be_typed_in_a_header() -> None:
    from fenxiao.config import OPERATOR_TOKEN_MIN_LENGTH
    from fenxiao_local.secret_store import OPERATOR_TOKEN_SECRET
    from fenxiao_local.stack import DEFAULT_TEMPLATE
    from fenxiao_local.template import Template

    secret = Template.load(DEFAULT_TEMPLATE).resources[OPERATOR_TOKEN_SECRET]
    generate = secret["Properties"]["GenerateSecretString"]
    # 43 of A-Z a-z 0-9 is about 256 bits; a bare string (no SecretStringTemplate), nothing to escape.
    assert generate == {"PasswordLength": 43, "ExcludePunctuation": True}
    assert generate["PasswordLength"] > OPERATOR_TOKEN_MIN_LENGTH == 32

"""docs/openapi.json checked by Schemathesis against the local stack, as a client generated from it would meet
the API: for every operation, requests generated from the document (valid under it), each signed as the
mall signs it, and every answer held to the document: its status is one the operation lists
(``status_code_conformance``) and its body is valid under that status's schema
(``response_schema_conformance``). Path ids come from a small world seeded first (so that answers other
than 404 are met) or are generated from the id pattern."""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import product
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from fenxiao.api.auth import canonical_query, sign
from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import ROOT, TOKEN, Running, ok

pytestmark = pytest.mark.e2e

DOC: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
EXAMPLES = 6  # per operation: 28 operations in about 25 s on two shared cores
SHOP, ROTATED = "st-shop", "st-rotated"
CHECKS = [status_code_conformance, response_schema_conformance]


class ShopSigner(requests.auth.AuthBase):
    """Signs the request exactly as sent: the path as on the wire (percent-escapes kept), the query as the API rebuilds it
    (fenxiao.api.auth.canonical_query), the body's bytes."""

    def __init__(self, shop_id: str, secret: str) -> None:
        self.shop_id, self.secret = shop_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url or "")
        query = canonical_query(parse_qsl(url.query, keep_blank_values=True))
        target = url.path + (f"?{query}" if query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        timestamp = str(int(time.time()))
        request.headers["X-Shop-Id"] = self.shop_id
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-Signature"] = sign(self.secret, timestamp, request.method or "", target, body)
        return request


class Bearer(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        return request


def seed(api: str) -> tuple[str, dict[str, list[str]]]:
    """A shop with WeChat Pay and distribution settings, a binding chain c -> b -> a, a registered order
    with a refund split, a growth event, product rates. Returns its secret and the ids to use in paths."""
    operator = OperatorClient(api, TOKEN)
    secret = ok(operator.create_shop(SHOP, "Schemathesis shop"), 201)["api_secret"]
    ok(operator.create_shop(ROTATED, "Its secret is rotated"), 201)
    shop = ShopClient(api, SHOP, secret)
    standin = StandinClient(api.rsplit(":", 1)[0] + ":" + str(int(api.rsplit(":", 1)[1]) + 1))
    ok(shop.request("PUT", shop.path("/settings/wechatpay"), ok(standin.keys())["wechatpay_settings"]))
    ok(shop.request("PUT", shop.path("/settings/distribution"), {"rates": {"level1_bp": 1000}}))
    ok(shop.request("PUT", shop.path("/settings/membership"), {"review_growth": 5, "levels": []}))
    ok(shop.request("POST", shop.path("/members/b/inviter"), {"inviter_id": "a"}), 201)
    ok(shop.request("POST", shop.path("/members/c/inviter"), {"inviter_id": "b"}), 201)
    order = {
        "buyer_id": "c",
        "lines": [{"line_id": "l1", "product_id": "tea", "quantity": 1, "paid_fen": 1000}],
        "shipping_fen": 0,
        "total_fen": 1000,
    }
    ok(shop.request("PUT", shop.path("/orders/o1"), order), 201)
    ok(
        shop.request(
            "PUT", shop.path("/orders/o1/refunds/r1"), {"lines": [{"line_id": "l1", "refund_fen": 1}]}
        ),
        201,
    )
    ok(shop.request("POST", shop.path("/members/c/growth-events"), {"type": "review", "ref": "rv1"}))
    rates = {"level1_bp": 100, "level2_bp": 0, "self_bp": 0}
    ok(shop.request("PUT", shop.path("/products/tea/rates"), rates))
    known = {
        "member_id": ["a", "c"],
        "order_id": ["o1"],
        "out_refund_no": ["r1"],
        "product_id": ["tea"],
        "withdrawal_id": ["w1"],
        "board": ["weekly", "total"],
        "job": ["settlement", "audit", "leaderboard-rollover", "payout-check"],
    }
    return secret, known


def strategy(operation: Any, known: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Cases with the world's ids in the path, and cases with generated ones (the shop's own id always
    under /shops/ and /wechatpay/; the rotated shop's for the secret rotation)."""
    names = [p.name for p in operation.path_parameters]
    pinned: dict[str, str] = {}
    if "shop_id" in names:
        pinned["shop_id"] = ROTATED if operation.path.startswith("/admin/") else SHOP
    choices = [[(name, v) for v in known[name]] for name in names if name in known]
    combos = [dict(c) for c in product(*choices)][:4] if choices else []
    strategies = [operation.as_strategy(path_parameters={**pinned, **c}) for c in combos]
    generated = {} if operation.path == "/admin/shops/{shop_id}/secret" else pinned
    strategies.append(operation.as_strategy(path_parameters=generated or None))
    return st.one_of(strategies)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


def check_operation(
    api: str, operation: Any, known: dict[str, list[str]], session: requests.Session, failures: list[str]
) -> Counter[int]:
    """Send the operation's generated cases; returns the statuses met, adds each mismatch to ``failures``."""
    label = f"{operation.method.upper()} {operation.path}"
    seen: Counter[int] = Counter()

    @SETTINGS
    @given(case=strategy(operation, known))
    def run(case: Any) -> None:
        response = case.call(base_url=api, session=session, timeout=30)
        seen[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # Schemathesis' failure group: every operation's are reported, then fail
            failures.append(
                f"{label}: {response.status_code} {response.text[:300]}\n  sent {case.path_parameters} "
                f"{case.query} {case.body!r:.300}\n  {str(exc)[:600]}"
            )

    run()
    return seen


def _auth_kind(operation: Any) -> str:
    security = DOC["paths"][operation.path][operation.method.lower()]["security"][0]
    if "ShopSignature" in security:
        return "shop"
    return "operator" if "OperatorBearer" in security else "wechatpay"


def test_every_answer_is_what_the_document_says(stack: Running) -> None:
    started = time.monotonic()
    secret, known = seed(stack.api)
    schema = schemathesis.openapi.from_dict(DOC)
    sessions = {"shop": requests.Session(), "operator": requests.Session(), "wechatpay": requests.Session()}
    sessions["shop"].auth = ShopSigner(SHOP, secret)
    sessions["operator"].auth = Bearer()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in DOC["paths"].values())
    report = {
        f"{op.method.upper()} {op.path}": check_operation(
            stack.api, op, known, sessions[_auth_kind(op)], failures
        )
        for op in operations
    }
    elapsed = time.monotonic() - started
    for label, seen in sorted(report.items()):
        print(f"{label}: {dict(sorted(seen.items()))}")
    print(f"{sum(sum(s.values()) for s in report.values())} requests in {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    # The world's ids reach answers other than errors: the success schemas were checked, not only Error.
    succeeded = [label for label, seen in report.items() if any(200 <= s < 300 for s in seen)]
    assert len(succeeded) >= len(report) * 2 // 3, sorted(set(report) - set(succeeded))


def test_a_method_the_path_does_not_have_is_the_gateways_403(stack: Running) -> None:
    """Not in the document, and not Chalice's 405: API Gateway (a REST API with explicit routes) answers a
    method no route declares before the function runs, with its MISSING_AUTHENTICATION_TOKEN response (403,
    the template's body); the local stack does the same (docs/api-contract.md)."""
    secret = ok(OperatorClient(stack.api, TOKEN).create_shop(SHOP, "Schemathesis shop"), 201)["api_secret"]
    session = requests.Session()
    session.auth = ShopSigner(SHOP, secret)
    answer = session.patch(f"{stack.api}/shops/{SHOP}/orders/o1", json={"buyer_id": "c"}, timeout=30)
    assert answer.status_code == 403, answer.text
    assert answer.json() == {"error": {"code": "not_found", "message": "no such route or method"}}
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert "patch" not in DOC["paths"]["/shops/{shop_id}/orders/{order_id}"]

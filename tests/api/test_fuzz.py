"""Property tests of every operation in docs/openapi.json: requests generated from the document (valid bodies
from its schemas, mutated ones, arbitrary JSON and bytes, odd path and query values), signed as the mall
signs them so that they reach validation, against a shop with some history.

For every request: never a 5xx; the status is one the document lists for the operation; a 4xx has SPEC §7's
error shape; and a rejected request stored nothing (every table and queue fingerprinted before and after).

Bounded and reproducible: ``FUZZ_EXAMPLES`` examples per operation (env ``FENXIAO_FUZZ_EXAMPLES``),
derandomized, no example database, no shrinking (the shop's state moves on between examples, so a failure
is reported with its full request instead).
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from fenxiao import clock
from fenxiao.api.auth import canonical_query
from tests.support import wechatpay as wx
from tests.support.abuse import (
    MEMBERS,
    OPENID,
    ORDERS,
    PRODUCTS,
    REFUNDS,
    WITHDRAWALS,
    Fingerprint,
    World,
    assert_spec_error,
    build_world,
)
from tests.support.app import Answer, Api, _answer
from tests.support.stack import OPERATOR_TOKEN, ROOT

pytestmark = pytest.mark.api

FUZZ_EXAMPLES = int(os.environ.get("FENXIAO_FUZZ_EXAMPLES", "40"))
DOC: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
OPERATIONS = sorted((path, method.upper()) for path, item in DOC["paths"].items() for method in item)

# Ids the world knows, so that generated requests meet existing state (conflicts, replays, reviews).
POOLS: dict[str, tuple[str, ...]] = {
    "member_id": MEMBERS,
    "order_id": ORDERS,
    "product_id": PRODUCTS,
    "out_refund_no": REFUNDS,
    "withdrawal_id": WITHDRAWALS,
    "board": ("weekly", "monthly", "total", "daily"),
    "job": ("settlement", "audit", "leaderboard-rollover", "nope"),
    "inviter_id": MEMBERS,
    "buyer_id": MEMBERS,
    "line_id": ("l1", "l2", "l3"),
}


def resolve(node: Any) -> Any:
    """``node`` with every ``#/components/...`` reference replaced by its target (the models are not
    recursive, so this ends)."""
    if isinstance(node, dict):
        if "$ref" in node:
            _, section, name = node["$ref"].removeprefix("#/").split("/")
            return resolve(DOC["components"][section][name])
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


# ---------------------------------------------------------------- strategies


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema``, for the keywords pydantic writes (hypothesis-jsonschema would do this,
    but it reaches into Hypothesis internals that newer Hypothesis releases no longer have). Lists are kept
    short: a long list tests nothing a short one does not."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(
            from_schema(schema.get("items", {})),
            min_size=low,
            max_size=min(schema.get("maxItems", 4), low + 4),
        )
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
            return text.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
        return st.text(min_size=low, max_size=min(high or 40, 40))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON_VALUE


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    slots = [s for weight, s in choices for _ in range(weight)]
    return st.integers(0, len(slots) - 1).flatmap(lambda i: slots[i])


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
URL_SAFE_ODD = "!$'()*+,=@~"  # raw in a path segment, refused in an id (no ";": urlparse splits on it)
BAD_SEGMENT = st.one_of(
    st.text(alphabet="abc" + URL_SAFE_ODD, min_size=1, max_size=10).filter(
        lambda s: any(c in URL_SAFE_ODD for c in s)
    ),
    st.text(alphabet="abcXYZ019_.:-", min_size=65, max_size=80),
)
# Text, and values that pass a lax check but not a parser: superscript and other scripts' digits (isdigit()
# but not int()), an empty value, an over-long cursor, a cursor nested too deeply.
QUERY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24) | (
    st.sampled_from(
        ["²", "٣", "", "+5", "A" * 4097, base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode()]
    )
)


def segment(name: str, schema: dict[str, Any]) -> st.SearchStrategy[str]:
    generated: st.SearchStrategy[str] = from_schema(schema)
    pool = POOLS.get(name)
    if pool:
        return weighted((6, st.sampled_from(pool)), (2, generated), (2, BAD_SEGMENT))
    return weighted((7, generated), (3, BAD_SEGMENT))


def query_value(schema: dict[str, Any]) -> st.SearchStrategy[str | None]:
    return weighted((4, st.none()), (4, from_schema(schema).map(str)), (2, QUERY_TEXT))


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A schema-valid body made invalid in one place: a field dropped, added, or of another type."""
    if not isinstance(value, dict):
        return draw(JSON_VALUE)
    value = dict(value)
    how = draw(st.sampled_from(["drop", "add", "retype", "nest"]))
    keys = sorted(value)
    if how == "add" or not keys:
        value[draw(st.text(min_size=1, max_size=12))] = draw(JSON_VALUE)
        return value
    key = draw(st.sampled_from(keys))
    if how == "drop":
        del value[key]
    elif how == "retype":
        value[key] = draw(JSON_VALUE)
    else:
        value[key] = [value[key]]
    return value


@st.composite
def steered(draw: st.DrawFn, model: str, value: Any) -> Any:
    """Point some generated fields at the world's ids and amounts, so that valid bodies reach the rules."""
    if not isinstance(value, dict) or not draw(st.booleans()):
        return value
    value = dict(value)
    for name in ("inviter_id", "buyer_id"):
        if name in value:
            value[name] = draw(st.sampled_from(POOLS[name]))
    if model == "OrderIn" and isinstance(value.get("lines"), list):
        lines = [
            dict(line, line_id=f"l{i + 1}") for i, line in enumerate(value["lines"]) if isinstance(line, dict)
        ]
        value["lines"] = lines
        value["total_fen"] = sum(line.get("paid_fen", 0) for line in lines) + value.get("shipping_fen", 0)
    if model == "RefundSplitIn" and isinstance(value.get("lines"), list):
        value["lines"] = [
            dict(line, line_id=f"l{i + 1}", refund_fen=draw(st.integers(1, 120_000)))
            for i, line in enumerate(value["lines"][:2])
            if isinstance(line, dict)
        ]
    if model == "WithdrawalIn":
        value.update(
            withdrawal_id=draw(st.sampled_from(WITHDRAWALS)), amount_fen=draw(st.integers(1, 20_000))
        )
        value["openid"] = OPENID
    if model == "RunJob":
        days = draw(st.integers(0, 20))
        value["now"] = (clock.now() + timedelta(days=days)).isoformat()
    if model == "WechatPaySettings":
        value = {
            **wx.wechatpay_settings(),
            **draw(st.dictionaries(st.sampled_from(sorted(value)), JSON_VALUE, max_size=1)),
        }
    return value


def body_strategy(operation: dict[str, Any]) -> st.SearchStrategy[bytes]:
    request = operation.get("requestBody")
    arbitrary = JSON_VALUE.map(lambda v: json.dumps(v).encode())
    if request is None:
        return weighted((9, st.just(b"")), (1, arbitrary))
    ref = request["content"]["application/json"]["schema"]["$ref"]
    model = ref.rsplit("/", 1)[-1]
    valid = from_schema(resolve({"$ref": ref}))
    value = weighted(
        (4, valid.flatmap(lambda v: steered(model, v))),
        (3, valid.flatmap(mutated)),
        (1, JSON_VALUE),
    )
    encoded = st.tuples(value, st.booleans()).map(lambda t: json.dumps(t[0], ensure_ascii=t[1]).encode())
    choices = [(8, encoded), (1, st.binary(max_size=48)), (1, arbitrary)]
    if not request.get("required", False):
        choices.append((2, st.just(b"")))
    return weighted(*choices)


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes

    @property
    def url(self) -> str:
        return self.path + (f"?{canonical_query(self.query)}" if self.query else "")

    def __repr__(self) -> str:
        return f"{self.method} {self.url} body={self.body[:300]!r}"


def request_strategy(path: str, method: str) -> st.SearchStrategy[Request]:
    operation = DOC["paths"][path][method.lower()]
    parameters = [resolve(p) for p in operation.get("parameters", [])]
    segments: dict[str, st.SearchStrategy[str]] = {}
    for p in parameters:
        if p["in"] == "path":
            if p["name"] == "shop_id":
                fixed = ("shop2", "nobody") if path.startswith("/admin/") else ("shop1",)
                segments[p["name"]] = st.sampled_from(fixed)
            else:
                segments[p["name"]] = segment(p["name"], p["schema"])
    queries = {p["name"]: query_value(p["schema"]) for p in parameters if p["in"] == "query"}

    @st.composite
    def build(draw: st.DrawFn) -> Request:
        concrete = path
        for name, strategy in segments.items():
            concrete = concrete.replace("{" + name + "}", draw(strategy))
        pairs = [(n, v) for n, s in queries.items() if (v := draw(s)) is not None]
        if draw(st.integers(0, 9)) == 0:
            pairs.append((draw(st.sampled_from(["x", "limit", "cursor"])), draw(QUERY_TEXT)))
        return Request(method, concrete, pairs, draw(body_strategy(operation)))

    return build()


# ---------------------------------------------------------------- sending


def send(world: World, auth: str, request: Request) -> Answer:
    if auth == "shop":
        shop = world.shop
        return shop.call(request.method, request.url, raw=request.body, signed_path=request.url)
    headers = {"Content-Type": "application/json"}
    if auth == "operator":
        headers["Authorization"] = f"Bearer {OPERATOR_TOKEN}"
    response = world.api.client.http.request(request.method, request.url, headers=headers, body=request.body)
    return _answer(response)


def auth_of(operation: dict[str, Any]) -> str:
    scheme = next(iter(operation["security"][0]))
    return {"ShopId": "shop", "OperatorBearer": "operator", "WechatPaySignature": "wechatpay"}[scheme]


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def fuzz_operation(world: World, fingerprint: Fingerprint, path: str, method: str) -> Counter[str]:
    """Run the generated requests of one operation; returns how often each status (and error code) came."""
    operation = DOC["paths"][path][method.lower()]
    auth = auth_of(operation)
    documented = set(operation["responses"])
    seen: Counter[str] = Counter()
    strategy = request_strategy(path, method) if auth != "wechatpay" else notification_strategy()

    @FUZZ_SETTINGS
    @given(strategy)
    def check(request: Any) -> None:
        before = fingerprint.take()
        answer = post_notification(world, request) if auth == "wechatpay" else send(world, auth, request)
        assert answer.status < 500, (request, answer.status, answer.body)
        assert str(answer.status) in documented, (request, answer.status, answer.body, sorted(documented))
        if auth != "wechatpay":
            assert answer.status != 401, ("a signed request was refused", request, answer.body)
        if 400 <= answer.status < 500:
            if auth == "wechatpay":
                assert isinstance(answer.body, dict) and answer.body.get("code") == "FAIL", answer.body
                seen[f"{answer.status}"] += 1
            else:
                seen[f"{answer.status} {assert_spec_error(answer, request)['code']}"] += 1
            after = fingerprint.take()
            assert after == before, (
                "a rejected request stored something",
                request,
                answer.body,
                Fingerprint.changes(before, after),
            )
            return
        seen[str(answer.status)] += 1
        if answer.status == 204:
            assert answer.body is None, (request, answer.body)
            return
        assert answer.body is not None, (request, answer.status)
        schema = operation["responses"][str(answer.status)]["content"]["application/json"]["schema"]
        if "$ref" in schema:  # an answer with a model: it must be what the document says
            errors = [e.message for e in Draft202012Validator(resolve(schema)).iter_errors(answer.body)]
            assert not errors, (request, errors[:3], answer.body)

    check()
    assert sum(seen.values()) == FUZZ_EXAMPLES
    return seen


TAGS = sorted({op["tags"][0] for item in DOC["paths"].values() for op in item.values()})


@pytest.mark.parametrize("tag", TAGS)
def test_generated_requests_never_5xx_and_rejections_store_nothing(
    api: Api, aws_env: dict[str, str], tag: str
) -> None:
    """Every operation of one tag of the document, against one world (building it is most of the cost)."""
    world = build_world(api, aws_env)
    fingerprint = Fingerprint(aws_env)
    operations = [
        (path, method) for path, method in OPERATIONS if DOC["paths"][path][method.lower()]["tags"][0] == tag
    ]
    assert operations
    for path, method in operations:
        seen = fuzz_operation(world, fingerprint, path, method)
        print(f"{method} {path}: {dict(sorted(seen.items()))}")


# ---------------------------------------------------------------- WeChat Pay notifications


@dataclass
class Notification:
    kind: str  # "unsigned", "signed-bytes", "encrypted"
    body: bytes
    event_type: str = ""
    resource: Any = None

    def __repr__(self) -> str:
        return f"Notification({self.kind}, event={self.event_type}, resource={self.resource!r:.300}, body={self.body[:200]!r})"


@st.composite
def notification_strategy(draw: st.DrawFn) -> Notification:
    kind = draw(st.sampled_from(["unsigned", "signed-bytes", "encrypted", "encrypted"]))
    if kind == "encrypted":
        event = draw(
            st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "MCHTRANSFER.BILL.FINISHED", "X.Y"])
        )
        base = (
            wx.transaction(draw(st.sampled_from(ORDERS)), 151_000, clock.now().replace(microsecond=0))
            if event != "REFUND.SUCCESS"
            else wx.refund(
                "o-1", draw(st.sampled_from(REFUNDS)), 1_000, 151_000, clock.now().replace(microsecond=0)
            )
        )
        resource = draw(
            weighted(
                (
                    3,
                    st.dictionaries(st.sampled_from(sorted(base)), JSON_VALUE, max_size=2).map(
                        lambda o: {**base, **o}
                    ),
                ),
                (1, st.just(base).map(lambda b: {k: v for k, v in b.items() if k != "amount"})),
                (1, st.dictionaries(st.text(max_size=12), JSON_VALUE, max_size=4)),
                (1, JSON_VALUE),  # a resource that is not even an object: 400
            )
        )
        return Notification(kind, b"", event, resource)
    body = draw(st.one_of(st.binary(max_size=64), JSON_VALUE.map(lambda v: json.dumps(v).encode())))
    return Notification(kind, body)


def post_notification(world: World, n: Notification) -> Answer:
    from fenxiao.adapters.wechatpay_crypto import notification_headers

    keys = wx.keys()
    now = int(clock.unix_now())
    if n.kind == "encrypted":
        headers, body = wx.notification(n.event_type, n.resource, timestamp=now)
    elif n.kind == "signed-bytes":
        body = n.body
        headers = {
            **notification_headers(
                keys.platform_private_key, keys.platform_public_key_id, body, now, "n" * 32
            ),
            "Content-Type": "application/json",
        }
    else:
        body = n.body
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": str(now),
            "Wechatpay-Nonce": "n" * 32,
            "Wechatpay-Signature": "c2lnbmF0dXJl",
            "Wechatpay-Serial": keys.platform_public_key_id,
        }
    response = world.api.client.http.request("POST", "/wechatpay/notify/shop1", headers=headers, body=body)
    return _answer(response)

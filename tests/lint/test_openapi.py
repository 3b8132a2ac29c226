"""docs/openapi.json is the API's published contract: generated from the routes and the request models, and
checked here so that the routes, the registry in fenxiao.api.openapi and the checked-in document agree."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest

from fenxiao.api import openapi
from tests.support.app import app_module
from tests.support.stack import ROOT

pytestmark = pytest.mark.lint

DOC_PATH = ROOT / "docs" / "openapi.json"
REGENERATE = "regenerate it: .venv/bin/python -m fenxiao.api.openapi > docs/openapi.json"


def _routes() -> dict[str, dict[str, Any]]:
    routes: dict[str, dict[str, Any]] = app_module().app.routes
    return routes


def _route_keys() -> set[tuple[str, str]]:
    return {(method, path) for path, methods in _routes().items() for method in methods}


def _fresh() -> dict[str, Any]:
    try:
        return openapi.build(_routes())
    except openapi.MissingOperation as exc:
        pytest.fail(str(exc))


def _checked_in() -> dict[str, Any]:
    if not DOC_PATH.exists():
        pytest.fail(f"{DOC_PATH.relative_to(ROOT)} is missing; {REGENERATE}")
    document: dict[str, Any] = json.loads(DOC_PATH.read_text(encoding="utf-8"))
    return document


def test_every_route_has_a_registry_entry() -> None:
    missing = sorted(_route_keys() - set(openapi.OPERATIONS))
    assert not missing, (
        "routes of functions/app.py without an entry in fenxiao.api.openapi.OPERATIONS (summary, auth, "
        f"answers, body model): {missing}; add them, then {REGENERATE}"
    )


def test_every_registry_entry_is_a_route() -> None:
    stale = sorted(set(openapi.OPERATIONS) - _route_keys())
    assert not stale, (
        f"entries of fenxiao.api.openapi.OPERATIONS that are no route of functions/app.py: {stale}"
    )


def test_checked_in_document_is_the_generated_one() -> None:
    fresh, checked_in = _fresh(), _checked_in()
    if checked_in == fresh:
        assert DOC_PATH.read_text(encoding="utf-8") == openapi.render(fresh), (
            f"formatting differs; {REGENERATE}"
        )
        return
    routes_now = {(m.upper(), p) for p, item in fresh["paths"].items() for m in item}
    routes_doc = {(m.upper(), p) for p, item in checked_in["paths"].items() for m in item}
    pytest.fail(
        f"docs/openapi.json is out of date; {REGENERATE}\n"
        f"  routes missing from it: {sorted(routes_now - routes_doc)}\n"
        f"  routes it has that are gone: {sorted(routes_doc - routes_now)}\n"
        f"  (or a model, summary or answer changed)"
    )


def test_document_paths_are_exactly_the_routes() -> None:
    document = _checked_in()
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert documented == _route_keys(), REGENERATE


def test_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    document = _fresh()
    assert document["openapi"].startswith("3.1")
    validate(document)


def _view_source(entry: Any) -> str:
    return inspect.getsource(inspect.unwrap(entry.view_function))


def test_every_route_that_reads_a_body_has_its_model() -> None:
    """A handler that parses its body (``call.parse(Model)``, ``call.json()``, the raw notification) has a
    body model in the registry, the one it parses; a handler that reads no body has none."""
    problems = []
    for path, methods in sorted(_routes().items()):
        for method, entry in sorted(methods.items()):
            source = _view_source(entry)
            reads_body = bool(re.search(r"call\.(parse|json)\(|current_request", source))
            op = openapi.OPERATIONS.get((method, path))
            if op is None:
                problems.append(f"{method} {path}: no registry entry")
                continue
            if reads_body and op.body is None:
                problems.append(f"{method} {path}: reads a JSON body but the registry names no body model")
            if not reads_body and op.body is not None:
                problems.append(
                    f"{method} {path}: the registry names {op.body.__name__} but the handler reads no body"
                )
            parsed = re.findall(r"call\.parse\((\w+)\)", source)
            if parsed and op.body is not None and parsed != [op.body.__name__]:
                problems.append(f"{method} {path}: parses {parsed} but the registry names {op.body.__name__}")
    assert not problems, "\n".join(problems)


def test_every_path_parameter_and_4xx_is_described() -> None:
    document = _fresh()
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert declared == names, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith("4") and "$ref" in answer:
                    assert answer["$ref"].startswith("#/components/responses/"), (method, path, status)
            if path.startswith("/shops/"):
                assert {"400", "401", "403"} <= set(operation["responses"]), (method, path)


# ---------------------------------------------------------------- answers


def _component(document: dict[str, Any], ref: str) -> dict[str, Any]:
    name = ref.removeprefix("#/components/schemas/")
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def test_every_success_answer_has_a_model() -> None:
    """Every documented 2xx with a body refers to a response model's schema, never a bare object."""
    document = _checked_in()
    problems = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                ref = schema.get("$ref", "")
                if not ref.startswith("#/components/schemas/"):
                    problems.append(f"{method.upper()} {path} {status}: {schema} is no model's schema")
                    continue
                component = _component(document, ref)
                if not ({"properties", "oneOf", "anyOf"} & set(component)):
                    problems.append(f"{method.upper()} {path} {status}: {ref} says nothing: {component}")
    assert not problems, "\n".join(problems)


def test_every_route_answers_through_its_registered_model() -> None:
    """A handler answers ``answer(Model, ...)`` with the model its registry entry names (so the document
    says what the handler sends); a handler with no body to answer (204) names none."""
    problems = []
    for path, methods in sorted(_routes().items()):
        for method, entry in sorted(methods.items()):
            op = openapi.OPERATIONS[(method, path)]
            if op.auth == "wechatpay":
                continue  # WeChat Pay's own answers, built by fenxiao.api.wechatpay
            used = set(re.findall(r"\banswer\(\s*(\w+)", _view_source(entry)))
            named = {op.response.__name__} if op.response is not None else set()
            if used != named:
                problems.append(
                    f"{method} {path}: answers through {sorted(used)}, the registry names {named}"
                )
    assert not problems, "\n".join(problems)


def test_component_names_are_the_model_names() -> None:
    """Two models of one name would be published under module-qualified names (a client's type names)."""
    qualified = [name for name in _fresh()["components"]["schemas"] if "__" in name]
    assert not qualified, f"rename one of the models behind {qualified}"


# Bodies the document's cross-field rules and the API must judge alike: (model, body, valid, who refuses).
# "model": the request model refuses it; "service": the model lets it in and the use case refuses it (400).
CROSS_FIELD_CASES = [
    ("GrowthEventIn", {"type": "review", "ref": "r-1"}, True, ""),
    ("GrowthEventIn", {"type": "review"}, False, "service"),
    ("GrowthEventIn", {"type": "review", "ref": None}, False, "service"),
    ("GrowthEventIn", {"type": "review", "ref": "not an id"}, False, "service"),
    ("GrowthEventIn", {"type": "signin"}, True, ""),
    ("GrowthEventIn", {"type": "profile", "ref": None}, True, ""),
    ("ApprovalIn", {"approve": True}, True, ""),
    ("ApprovalIn", {"approve": False, "reason": "duplicate request"}, True, ""),
    ("ApprovalIn", {"approve": False}, False, "service"),
    ("ApprovalIn", {"approve": False, "reason": None}, False, "service"),
    ("ApprovalIn", {"approve": False, "reason": "   "}, False, "service"),
    ("ShareCard", {"mode": "custom", "title": "t", "image_url": "https://example.com/a.png"}, True, ""),
    ("ShareCard", {"mode": "custom", "title": "t"}, False, "model"),
    ("ShareCard", {"mode": "custom", "title": "", "image_url": "https://example.com/a.png"}, False, "model"),
    ("CustomImage", {"mode": "custom"}, False, "model"),
    ("CustomImage", {"mode": "default"}, True, ""),
]


def _model(name: str) -> Any:
    from fenxiao.api import models
    from fenxiao.schemas import rules, settings, withdrawals

    for module in (models, rules, settings, withdrawals):
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(name)


@pytest.mark.parametrize(("name", "body", "valid", "refused_by"), CROSS_FIELD_CASES)
def test_cross_field_rules_in_the_document_judge_as_the_api_does(
    name: str, body: dict[str, Any], valid: bool, refused_by: str
) -> None:
    from datetime import UTC, datetime

    from jsonschema import Draft202012Validator
    from pydantic import ValidationError

    from fenxiao.domain.errors import InvalidInput

    document = _fresh()
    schema = {**document["components"]["schemas"][name], "components": document["components"]}
    validator = Draft202012Validator(schema)
    assert validator.is_valid(body) is valid, list(validator.iter_errors(body))
    try:
        _model(name).model_validate(body)
        model_accepts = True
    except ValidationError:
        model_accepts = False
    # A rule moved into the model: change "service" to "model" here (the document stays as it is).
    assert model_accepts is (refused_by != "model"), (name, body)
    if name == "GrowthEventIn" and refused_by == "service":
        from fenxiao.service.membership import resolve_event

        with pytest.raises(InvalidInput) as refused:
            resolve_event(body["type"], body.get("ref"), datetime.now(UTC))
        assert refused.value.field == "ref"


def test_document_says_json_integers_are_whole_numbers() -> None:
    """``100.0`` is a JSON Schema integer but not one for the API (strict models): the document says so."""
    from pydantic import ValidationError

    from fenxiao.schemas.withdrawals import WithdrawalIn

    with pytest.raises(ValidationError):
        WithdrawalIn.model_validate({"withdrawal_id": "w1", "amount_fen": 100.0, "openid": "o"})
    assert "100.0 and 1e2 are refused" in _fresh()["info"]["description"]

"""The environment's validation at cold start: pydantic's core with the rules a pydantic model of the same
fields would apply (required and non-empty, booleans as pydantic reads them, other names ignored), and a
``ConfigurationError`` naming every invalid or missing variable, never its value."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from fenxiao.config import ConfigurationError, Settings, settings_from_env

pytestmark = pytest.mark.unit

FIELDS = dataclasses.fields(Settings)
REQUIRED = [f.name for f in FIELDS if f.default is dataclasses.MISSING]


def _as_model() -> type[BaseModel]:
    """The same fields as a pydantic model: what the environment was validated by before."""
    spec: dict[str, Any] = {}
    for f in FIELDS:
        kind = bool if f.type == "bool" else str
        spec[f.name] = (kind, Field(min_length=1)) if f.default is dataclasses.MISSING else (kind, f.default)
    config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)
    return create_model("SettingsModel", __config__=config, **spec)


def _env(**over: str) -> dict[str, str]:
    env = {f"FENXIAO_{name.upper()}": f"value-of-{name}" for name in REQUIRED}
    env.update(over)
    return {k: v for k, v in env.items() if v != "<unset>"}


CASES = [
    {},
    {"FENXIAO_SHOPS_TABLE": ""},
    {"FENXIAO_SHOPS_TABLE": "<unset>", "FENXIAO_BILL_SALT": "<unset>"},
    {"FENXIAO_ALLOW_LOOPBACK_IMAGES": "true", "FENXIAO_ALLOW_CLOCK_OVERRIDE": "0"},
    {"FENXIAO_ALLOW_LOOPBACK_IMAGES": "yes", "FENXIAO_ALLOW_CLOCK_OVERRIDE": "off"},
    {"FENXIAO_ALLOW_LOOPBACK_IMAGES": "maybe"},
    {"FENXIAO_ALLOW_CLOCK_OVERRIDE": ""},
    {"FENXIAO_MEDIA_BUCKET": "", "FENXIAO_NOTIFY_BASE_URL": "https://example.com"},
    {"FENXIAO_SOMETHING_ELSE": "ignored", "AWS_REGION": "eu-west-1"},
    {"FENXIAO_REGION": "ap-east-1", "AWS_REGION": "eu-west-1"},
]


@pytest.mark.parametrize("over", CASES)
def test_settings_are_validated_as_a_pydantic_model_of_the_same_fields_would(over: dict[str, str]) -> None:
    env = _env(**over)
    values = {k.removeprefix("FENXIAO_").lower(): v for k, v in env.items() if k.startswith("FENXIAO_")}
    values.setdefault("region", env.get("AWS_REGION") or "us-east-1")
    try:
        expected: Any = _as_model().model_validate(values).model_dump()
    except ValidationError as exc:
        expected = sorted("FENXIAO_" + str(e["loc"][0]).upper() for e in exc.errors())
    try:
        got: Any = dataclasses.asdict(settings_from_env(env))
    except ConfigurationError as exc:
        got = sorted(str(exc).removeprefix("invalid or missing environment variables: ").split(", "))
        assert "value-of" not in str(exc) and "maybe" not in str(exc)
    assert got == expected


def test_settings_are_frozen_and_every_missing_variable_is_named() -> None:
    settings = settings_from_env(_env())
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.shops_table = "other"  # type: ignore[misc]
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({})
    assert str(raised.value) == "invalid or missing environment variables: " + ", ".join(
        f"FENXIAO_{name.upper()}" for name in REQUIRED
    )

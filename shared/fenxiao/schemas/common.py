"""Building blocks of every schema: strict models, field-blaming errors, ids, money and basis points, and
the one conversion of a failed validation into the ``InvalidInput`` that names the field (services and the
HTTP layer alike).

Models are strict (no type coercion: ``"5"`` is not an integer) and reject unknown fields, so a typo in a
field name is an error naming that field instead of a silently ignored setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.ids import ID_SCHEMA_PATTERN

Identifier = Annotated[str, StringConstraints(pattern=ID_SCHEMA_PATTERN)]
"""Ids chosen by the mall (shop, member, order, product, line, refund, withdrawal ids): URL-safe, so the
signed path is the path as sent."""

BasisPoints = Annotated[int, Field(ge=0, le=10000)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
ShortText = Annotated[str, StringConstraints(max_length=40)]
LongText = Annotated[str, StringConstraints(max_length=2000)]
# Documents growth_coefficient's syntax in docs/openapi.json; parse_coefficient is what checks it.
COEFFICIENT_SCHEMA_PATTERN = r"^(0|[1-9][0-9]{0,3})(\.[0-9]{1,4})?$"


def documented_as(pattern: str, bounded: Callable[[str], bool] = lambda _: True) -> Any:
    """Shows a string field with ``pattern`` (schema, errors) while a cheaper equivalent checks it.

    ``pattern``'s bounded repetition of a Unicode class (``[^\\s]{1,500}``) takes pydantic's Rust regex ~10 ms
    to compile at every model build (cold start); the checked pattern leaves the bound to ``max_length``
    (checked first) or to ``bounded``, so both accept the same strings."""
    message = "String should match pattern '{pattern}'"

    def as_documented(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            checked = handler(value)
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "string_pattern_mismatch":
                raise
            raise PydanticCustomError("string_pattern_mismatch", message, {"pattern": pattern}) from None
        if not bounded(checked):
            raise PydanticCustomError("string_pattern_mismatch", message, {"pattern": pattern})
        return checked

    return (Field(json_schema_extra={"pattern": pattern}), WrapValidator(as_documented))


# "https://" and at most 500 more characters, the bound being max_length's.
HttpsUrl = Annotated[
    str,
    StringConstraints(pattern=r"^https://[^\s]+$", max_length=508),
    *documented_as(r"^https://[^\s]{1,500}$"),
]


class FieldError(ValueError):
    """A model-level check that blames one field (the error names it instead of the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Strict(BaseModel):
    # defer_build: each model builds its validator on first use, not at cold start for every model.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def dotted(loc: tuple[Any, ...]) -> str:
    """``("rates", "level1_bp")`` -> ``rates.level1_bp``; ``("levels", 2, "name")`` -> ``levels[2].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("body",):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def from_validation_error(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """The first error of a pydantic validation, naming its field (model-level checks name the model)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = tuple(p for p in first["loc"] if p not in ("function-after", "function-before"))
    blamed = getattr((first.get("ctx") or {}).get("error"), "field", None)
    if blamed:
        loc = (*loc, *blamed.split("."))
    field = dotted(loc)
    if prefix:
        field = f"{prefix}.{field}" if field != "body" else prefix
    message = first["msg"].removeprefix("Value error, ")
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidInput(f"{field}: unknown field", code="unknown_field", field=field)
    if kind == "missing":
        return InvalidInput(f"{field}: field required", code="missing_field", field=field)
    return InvalidInput(f"{field}: {message}", code="invalid_field", field=field)

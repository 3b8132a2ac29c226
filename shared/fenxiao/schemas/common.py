"""Building blocks of every schema: strict models, field-blaming errors, ids, money and basis points, and
the one conversion of a failed validation into the ``InvalidInput`` that names the field (services and the
HTTP layer alike).

Models are strict (no type coercion: ``"5"`` is not an integer) and reject unknown fields, so a typo in a
field name is an error naming that field instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

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
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s]{1,500}$", max_length=508)]


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

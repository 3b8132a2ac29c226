"""The one place where errors become HTTP answers: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from fenxiao.domain.errors import FenxiaoError, InvalidInput


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


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


def to_response(exc: FenxiaoError) -> tuple[int, dict[str, Any]]:
    return exc.status, error_body(exc.code, exc.message, exc.field)

"""The one place where errors become HTTP answers: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

from typing import Any

from fenxiao.domain.errors import FenxiaoError

# The HTTP layer turns request bodies' validation errors into InvalidInput with the services' one function.
from fenxiao.schemas.common import from_validation_error as from_validation_error


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def to_response(exc: FenxiaoError) -> tuple[int, dict[str, Any]]:
    return exc.status, error_body(exc.code, exc.message, exc.field)

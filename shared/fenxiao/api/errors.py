"""The one place where errors become HTTP answers: ``{"error": {"code", "message", "field"?, "errcode"?}}``."""

from __future__ import annotations

from typing import Any

from fenxiao.domain.errors import FenxiaoError, UpstreamFailure


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def to_response(exc: FenxiaoError) -> tuple[int, dict[str, Any]]:
    body = error_body(exc.code, exc.message, exc.field)
    if isinstance(exc, UpstreamFailure) and exc.errcode is not None:
        body["error"]["errcode"] = exc.errcode  # WeChat's own code, for the mall's support staff
    return exc.status, body

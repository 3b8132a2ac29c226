"""Typed errors raised deep in the code and turned into HTTP answers in one place (api.errors).

Each error carries the SPEC §7 status, a stable machine-readable ``code`` and, where one input field is
at fault, its dotted name in ``field`` (for example ``rates.level1_bp``).
"""

from __future__ import annotations


class FenxiaoError(Exception):
    """Base of every business error. ``status`` is the HTTP status the API answers with."""

    status: int = 500
    default_code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class InvalidInput(FenxiaoError):
    """400: malformed or invalid input; ``field`` names the offending field."""

    status = 400
    default_code = "invalid_input"


class Unauthorized(FenxiaoError):
    """401: missing or bad credentials or signature."""

    status = 401
    default_code = "unauthorized"


class Forbidden(FenxiaoError):
    """403: authenticated, but the resource is not yours."""

    status = 403
    default_code = "forbidden"


class NotFound(FenxiaoError):
    """404: no such resource."""

    status = 404
    default_code = "not_found"


class Conflict(FenxiaoError):
    """409: conflicts with the current state (already bound elsewhere, insufficient balance, same id with a
    different body)."""

    status = 409
    default_code = "conflict"


class RuleViolation(FenxiaoError):
    """422: well-formed, but not allowed by the rules."""

    status = 422
    default_code = "not_allowed"


class UpstreamFailure(FenxiaoError):
    """502: WeChat answered with an error (``errcode`` set: code ``wechat_error``) or not at all (code
    ``wechat_unavailable``); nothing was stored, and the same request may be retried."""

    status = 502
    default_code = "wechat_error"

    def __init__(self, message: str, *, code: str | None = None, errcode: int | None = None) -> None:
        super().__init__(message, code=code)
        self.errcode = errcode

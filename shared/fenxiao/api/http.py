"""HTTP plumbing shared by every route: body limits and JSON parsing, authentication, answers, error mapping.

Routes in ``functions/routes/`` are wrapped by ``shop_route`` or ``operator_route``; everything that can go
wrong below them is a typed error turned into the SPEC's error shape here, in one place.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_core import ValidationError

from fenxiao import clock
from fenxiao.api import ordering
from fenxiao.api.auth import canonical_query, verify_operator, verify_shop_signature
from fenxiao.api.errors import error_body, to_response
from fenxiao.bootstrap import container
from fenxiao.domain.errors import FenxiaoError, Forbidden, InvalidInput, Unauthorized
from fenxiao.domain.ids import is_id
from fenxiao.observability import logger

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_BODY_BYTES = 64 * 1024
_app: dict[str, Any] = {}


def bind_app(app: Any) -> None:
    """Tell the route wrappers which Chalice app holds the current request, and put Chalice's own answers
    in the SPEC's error shape (called once by functions/app.py)."""
    _app["app"] = app
    app.register_middleware(chalice_errors_in_spec_shape, "http")


# Chalice answers some requests before any route runs, as {"Code", "Message"}: an unsupported Content-Type
# (415), a method the path does not have (405), an unhandled error (500). Same shape as every other error;
# a Content-Type other than JSON is invalid input like any other (400).
_CHALICE_ERRORS = {
    "UnsupportedMediaType": (400, "unsupported_media_type", "Content-Type"),
    "MethodNotAllowedError": (405, "method_not_allowed", None),
    "BadRequest": (400, "bad_request", None),
    "BadRequestError": (400, "bad_request", None),
    "InternalServerError": (500, "internal_error", None),
}


def chalice_errors_in_spec_shape(request: Any, get_response: Callable[[Any], Any]) -> Any:
    answer = get_response(request)
    body = getattr(answer, "body", None)
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return answer
    status, code, field = _CHALICE_ERRORS.get(str(body["Code"]), (answer.status_code, "rejected", None))
    path = str(((getattr(request, "context", None) or {}).get("resourcePath")) or "")
    if path.startswith("/wechatpay/"):
        payload: Any = {"code": "FAIL", "message": str(body["Message"])}
    else:
        payload = error_body(code, str(body["Message"]), field)
    headers = {k: v for k, v in (answer.headers or {}).items() if k.lower() != "content-type"}
    return response(status, payload, headers)


M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Call:
    """One authenticated API call: who made it, its raw body, and the time it is handled at."""

    shop_id: str | None
    raw_body: bytes
    now: Any  # datetime
    request: Any  # chalice.app.Request
    signed_at: int | None = None  # a shop call's X-Timestamp, verified with its signature

    def json(self) -> Any:
        return parse_json(self.raw_body)

    def parse(self, model: type[M]) -> M:
        return parse_model(model, self.raw_body)

    def query(self, name: str) -> str | None:
        params = self.request.query_params or {}
        value = params.get(name)
        return None if value is None else str(value)


class _NotJson(ValueError):
    """JSON that Python's parser would take but RFC 8259 interoperability excludes."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A name twice is read differently by different parsers (first or last wins): refused, not guessed.
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _NotJson(f"the name {name[:40]!r} appears twice in one object")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """The body as JSON: UTF-8, no NaN or Infinity, no duplicate names. Anything else is a 400, whatever
    the bytes (too deep a nesting, a number too long to convert): never a 5xx."""
    if not raw:
        raise InvalidInput("the body must be a JSON object", code="invalid_body", field="body")
    try:
        return json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant
        )
    except RecursionError:
        raise InvalidInput("the body is nested too deeply", code="invalid_json", field="body") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, _NotJson, or int()'s digit limit
        known = isinstance(exc, (UnicodeDecodeError, json.JSONDecodeError, _NotJson))
        detail = str(exc) if known else "a number has too many digits"
        raise InvalidInput(
            f"the body is not valid JSON: {detail}", code="invalid_json", field="body"
        ) from None


def parse_model(model: type[M], raw: bytes) -> M:
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_body", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # pydantic's model machinery (schemas.common) only once a body is parsed: not on the notification path
        from fenxiao.schemas.common import from_validation_error

        raise from_validation_error(exc) from None


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    from chalice import Response

    all_headers: dict[str, Any] = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    payload = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(body=payload, status_code=status, headers=all_headers)


def error_response(exc: FenxiaoError) -> Any:
    status, body = to_response(exc)
    return response(status, body)


def _headers(request: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in (request.headers or {}).items()}


def _raw_body(request: Any) -> bytes:
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(
            f"the body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large", field="body"
        )
    return bytes(raw)


def _unstaged_path(request: Any) -> str:
    """The concrete path without the stage or base path: the routed resource path with its ids filled in."""
    unstaged = str((request.context or {}).get("resourcePath") or "")
    for name, value in (request.uri_params or {}).items():
        unstaged = unstaged.replace("{" + name + "}", str(value))
    return unstaged


def candidate_paths(request: Any) -> list[str]:
    """The request path as the mall may have signed it (see fenxiao.api.auth)."""
    actual = (request.context or {}).get("path") or ""
    unstaged = _unstaged_path(request)
    paths = [p for p in (actual, unstaged) if p]
    base = container().settings.api_base_path.rstrip("/")
    if base and unstaged:
        paths.append(base + unstaged)
    return list(dict.fromkeys(paths))


def _query_string(request: Any) -> str:
    params = request.query_params
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if len(values) > 1:
            # API Gateway hands over each name's values grouped, so the order the query was signed in cannot
            # be rebuilt when a name repeats: refused as input, before any signature is judged.
            raise InvalidInput(f"{name}: given more than once", code="invalid_field", field=name)
        pairs.extend((name, v) for v in values)
    return canonical_query(pairs)


def authenticate_shop(request: Any, path_shop_id: str) -> str:
    """Verify the shop's signature and that the path is the shop's own; returns the shop id."""
    from fenxiao.service.shops import accepted_secrets, find_shop

    headers = _headers(request)
    shop_id = headers.get("x-shop-id")
    if not shop_id:
        raise Unauthorized("X-Shop-Id header is missing", code="missing_signature")
    shop = find_shop(shop_id) if len(shop_id) <= 64 else None
    if shop is None:
        raise Unauthorized("unknown X-Shop-Id or bad signature", code="bad_signature")
    candidates = accepted_secrets(container(), shop, clock.now())
    for i, secret in enumerate(candidates):
        try:
            verify_shop_signature(
                secret,
                headers,
                request.method,
                candidate_paths(request),
                _query_string(request),
                _raw_body(request),
                clock.unix_now(),
            )
            break
        except Unauthorized:
            if i == len(candidates) - 1:
                raise
    if shop_id != path_shop_id:
        raise Forbidden("a shop can reach only paths under its own /shops/{shop_id}", code="not_your_shop")
    return shop_id


def _guarded(
    fn: Callable[..., Any], authenticate: Callable[[Any, dict[str, Any]], str | None]
) -> Callable[..., Any]:
    from chalice import Response

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _app["app"].current_request
        log = logger()
        try:
            shop_id = authenticate(request, kwargs)
            if shop_id:
                log.append_keys(shop_id=shop_id)
            check_path_ids(kwargs)
            stamp = _headers(request).get("x-timestamp") if shop_id else None  # verified with the signature
            signed_at = int(stamp) if stamp else None
            call = Call(
                shop_id=shop_id,
                raw_body=_raw_body(request),
                now=clock.now(),
                request=request,
                signed_at=signed_at,
            )
            resource = str((request.context or {}).get("resourcePath") or "")
            ordered: tuple[str, int, str] | None = None  # (path, signed_at, request hash) of an ordered write
            if signed_at is not None and ordering.is_ordered(request.method, resource):
                # a last-writer-wins resource: refused if a write signed later (or a replay) was applied
                this_request = ordering.request_hash(request.method, _query_string(request), call.raw_body)
                ordered = (_unstaged_path(request), signed_at, this_request)
                ordering.check(str(shop_id), *ordered, clock.unix_now())
            result = fn(call, *args, **kwargs)
            answer = result if isinstance(result, Response) else response(200, result)
            if ordered is not None and 200 <= answer.status_code < 300:
                ordering.record(str(shop_id), *ordered, clock.unix_now())
            return answer
        except FenxiaoError as exc:
            if exc.status >= 500:
                log.exception("request failed", extra={"code": exc.code})
            else:
                log.info(
                    "request rejected", extra={"status": exc.status, "code": exc.code, "field": exc.field}
                )
            return error_response(exc)
        except Exception:
            log.exception("request failed")
            return response(500, error_body("internal_error", "an internal error occurred; retry later"))

    return wrapper


def shop_route(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Shop API route: signature checked, the shop may reach only its own paths."""
    return _guarded(fn, lambda request, kwargs: authenticate_shop(request, kwargs["shop_id"]))


def operator_route(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An operator route: bearer token checked."""

    def authenticate(request: Any, kwargs: dict[str, Any]) -> None:
        verify_operator(_headers(request), container().operator_token())
        return None

    return _guarded(fn, authenticate)


def checked_id(value: str, field: str) -> str:
    """Path ids follow the same rule as body ids: 1-64 of ``A-Z a-z 0-9 _ . : -``."""
    if not is_id(value):
        raise InvalidInput(
            f"{field}: must be 1-64 characters of A-Z a-z 0-9 _ . : -", code="invalid_field", field=field
        )
    return value


PATH_IDS = ("out_refund_no",)  # path parameters that are mall ids without the ``_id`` suffix


def check_path_ids(path_params: dict[str, Any]) -> None:
    """Every id in the path (``*_id`` and ``out_refund_no``) is checked before the route runs."""
    for name, value in path_params.items():
        if name.endswith("_id") or name in PATH_IDS:
            checked_id(value, name)

"""The WeChat Pay stand-in: a small HTTP server in the local stack's process, playing WeChat Pay's part.

It holds its own key material (``wechatpay_keys.StandinKeys``: platform keys, APIv3 key, a merchant key pair)
and reads time through ``fenxiao.clock``, so its signature timestamps follow the stack's clock override.

Local-only routes (never part of WeChat Pay's API, never configure these keys on a real shop):

``GET /standin/keys``
    the key material a demo shop configures with ``PUT /shops/{s}/settings/wechatpay``; the ready-made
    document is under ``wechatpay_settings``.
``POST /standin/notify`` ``{"shop_id", "event_type", "resource": {...}, "summary"?, "serial"?, "deliveries"?}``
    builds the API v3 notification WeChat Pay would send (``resource`` is the plaintext; it is encrypted
    with the APIv3 key, the body signed with the platform key of ``serial``, by default the platform
    public key), POSTs it to ``<api>/wechatpay/notify/{shop_id}`` ``deliveries`` times (default 1) and
    answers ``{"status", "statuses", "body", "notification_id"}`` with what the API answered.

WeChat Pay's own API (merchant transfers for payouts) is added to ``Standin.routes`` the same way.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fenxiao import clock
from fenxiao.adapters.wechatpay_crypto import encrypt_resource, notification_headers
from fenxiao_local.wechatpay_keys import StandinKeys

log = logging.getLogger("fenxiao_local.standin")

# The merchant the stand-in plays for demo shops (local values, WeChat Pay's formats).
LOCAL_MCHID = "1900000109"
LOCAL_APPID = "wxd678efh567hg6787"
LOCAL_ONLY_NOTE = "local stand-in test keys: for the local stack only, never configure them on a real shop"

CHINA = timezone(timedelta(hours=8))
_NONCE_ALPHABET = string.ascii_letters + string.digits

# event_type -> (resource.original_type and associated_data, summary), as WeChat Pay sends them.
EVENT_SHAPES = {
    "TRANSACTION.SUCCESS": ("transaction", "支付成功"),
    "REFUND.SUCCESS": ("refund", "退款成功"),
    "REFUND.ABNORMAL": ("refund", "退款异常"),
    "REFUND.CLOSED": ("refund", "退款关闭"),
    "MCHTRANSFER.BILL.FINISHED": ("mch_payment", "商家转账单据终态通知"),
}


def nonce(length: int) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def wechat_time(moment: datetime) -> str:
    """WeChat Pay's time format: RFC 3339 in China Standard Time, seconds, e.g. 2026-11-25T18:00:00+08:00."""
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def build_notification(
    keys: StandinKeys,
    event_type: str,
    resource: dict[str, Any],
    *,
    serial: str | None = None,
    summary: str | None = None,
    notification_id: str | None = None,
    original_type: str | None = None,
) -> tuple[bytes, dict[str, str], str]:
    """(body, headers, notification id) of an API v3 notification, as WeChat Pay sends it."""
    kind, default_summary = EVENT_SHAPES.get(event_type, (original_type or "unknown", event_type))
    kind = original_type or kind
    plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    notification_id = notification_id or str(uuid.uuid4())
    envelope = {
        "id": notification_id,
        "create_time": wechat_time(clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary or default_summary,
        "resource": encrypt_resource(plaintext, keys.apiv3_key, nonce(12), kind, original_type=kind),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    serial = serial or keys.platform_public_key_id
    headers = notification_headers(keys.signer(serial), serial, body, int(clock.unix_now()), nonce(32))
    return body, headers, notification_id


def keys_document(keys: StandinKeys, mchid: str = LOCAL_MCHID, appid: str = LOCAL_APPID) -> dict[str, Any]:
    platform_keys = [
        {"serial": keys.platform_public_key_id, "pem": keys.platform_public_key_pem()},
        {"serial": keys.certificate_serial, "pem": keys.platform_certificate_pem()},
    ]
    return {
        "note": LOCAL_ONLY_NOTE,
        "mchid": mchid,
        "appid": appid,
        "apiv3_key": keys.apiv3_key,
        "platform_public_key_id": keys.platform_public_key_id,
        "platform_public_key_pem": keys.platform_public_key_pem(),
        "platform_certificate_serial": keys.certificate_serial,
        "platform_certificate_pem": keys.platform_certificate_pem(),
        "merchant_serial": keys.merchant_serial,
        "merchant_private_key_pem": keys.merchant_private_key_pem(),
        "wechatpay_settings": {
            "mchid": mchid,
            "appid": appid,
            "apiv3_key": keys.apiv3_key,
            "platform_public_keys": platform_keys,
            "merchant_serial": keys.merchant_serial,
            "merchant_private_key_pem": keys.merchant_private_key_pem(),
        },
    }


# ---------------------------------------------------------------- the server


@dataclass
class StandinRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise StandinError(400, "PARAM_ERROR", "the body is not JSON") from None


class StandinError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class RawAnswer:
    """A route's answer as exact bytes with its own headers (WeChat Pay's signed answers)."""

    body: bytes
    headers: dict[str, str]


Answer = tuple[int, Any]  # (status, JSON document, RawAnswer or None)
RouteHandler = Callable[[StandinRequest], Answer]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler


class Standin:
    def __init__(self, keys: Callable[[], StandinKeys], host: str = "127.0.0.1", port: int = 0) -> None:
        self._keys = keys
        self.host = host
        self.api_url: str | None = None  # set once the HTTP API is listening
        self.routes: list[_Route] = []
        self.add_route("GET", "/standin/keys", self._get_keys)
        self.add_route("POST", "/standin/notify", self._post_notify)
        from fenxiao_local.standin_payouts import PayoutDesk  # merchant transfers (payouts)

        self.payouts = PayoutDesk(self)
        from fenxiao_local.standin_miniprogram import MiniProgramDesk  # mini-program codes, tokens, images

        self.miniprogram = MiniProgramDesk(self)
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="wechatpay-standin",
            daemon=True,
        )

    @property
    def keys(self) -> StandinKeys:
        return self._keys()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        """``path`` may hold ``{name}`` segments, passed in ``request.params``."""
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        self.routes.append(_Route(method.upper(), re.compile(f"^{regex}$"), handler))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def dispatch(self, request: StandinRequest) -> Answer:
        allowed = False
        for route in self.routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            allowed = True
            if route.method == request.method:
                request.params = match.groupdict()
                return route.handler(request)
        if allowed:
            raise StandinError(
                405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}"
            )
        raise StandinError(404, "NOT_FOUND", f"the stand-in has no {request.path}")

    # ------------------------------------------------------------ local-only routes

    def _get_keys(self, request: StandinRequest) -> Answer:
        return 200, keys_document(self.keys)

    def _post_notify(self, request: StandinRequest) -> Answer:
        data = request.json()
        if not isinstance(data, dict):
            raise StandinError(400, "PARAM_ERROR", "expected a JSON object")
        shop_id, event_type, resource = data.get("shop_id"), data.get("event_type"), data.get("resource")
        if not isinstance(shop_id, str) or not shop_id or not isinstance(event_type, str) or not event_type:
            raise StandinError(400, "PARAM_ERROR", "shop_id and event_type are required strings")
        if not isinstance(resource, dict):
            raise StandinError(400, "PARAM_ERROR", "resource must be the plaintext resource object")
        deliveries = data.get("deliveries", 1)
        if not isinstance(deliveries, int) or not 1 <= deliveries <= 20:
            raise StandinError(400, "PARAM_ERROR", "deliveries must be 1-20")
        if self.api_url is None:
            raise StandinError(503, "SYSTEM_ERROR", "the API is not up yet")
        try:
            body, headers, notification_id = build_notification(
                self.keys,
                event_type,
                resource,
                serial=data.get("serial"),
                summary=data.get("summary"),
                notification_id=data.get("id"),
            )
        except KeyError as exc:
            raise StandinError(400, "PARAM_ERROR", str(exc.args[0])) from None
        url = f"{self.api_url}/wechatpay/notify/{shop_id}"
        statuses, answer = [], None
        for _ in range(deliveries):
            status, answer = post(url, body, {**headers, "Content-Type": "application/json"})
            statuses.append(status)
        log.info("notification %s %s to %s: %s", notification_id, event_type, shop_id, statuses)
        return 200, {
            "status": statuses[-1],
            "statuses": statuses,
            "body": answer,
            "notification_id": notification_id,
        }

    # ------------------------------------------------------------ HTTP plumbing

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = StandinRequest(
                    method=self.command,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    status, document = standin.dispatch(request)
                except StandinError as exc:
                    status, document = exc.status, {"code": exc.code, "message": exc.message}
                except Exception as exc:
                    log.exception("stand-in route failed")
                    status, document = 500, {"code": "SYSTEM_ERROR", "message": type(exc).__name__}
                extra: dict[str, str] = {}
                if isinstance(document, RawAnswer):
                    payload, extra = document.body, document.headers
                else:
                    payload = b"" if document is None else json.dumps(document, ensure_ascii=False).encode()
                self.send_response(status)
                if not any(name.lower() == "content-type" for name in extra):
                    self.send_header("Content-Type", "application/json")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                from fenxiao.adapters.wechat_miniprogram import TOKEN_IN_URL  # tokens arrive in the query

                log.debug(format, *(TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in args))

        return Handler


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 30.0) -> tuple[int, Any]:
    """POST ``body`` and return (status, JSON answer or text or None), whatever the status."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")

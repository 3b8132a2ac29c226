"""HTTP clients of the API as a mall's backend and an operator call it (used by the demo and the e2e tests).

``ShopClient`` signs every request as SPEC §7 says: ``X-Shop-Id``, ``X-Timestamp`` and
``X-Signature = hex(HMAC-SHA256(api_secret, "{timestamp}\\n{METHOD}\\n{path?query}\\n{body}"))``, where the
signed path is the one requested (the base URL's own path prefix, e.g. ``/Prod``, included).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fenxiao.api.auth import sign

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def http_request(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 30.0
) -> tuple[int, Any]:
    """(status, JSON answer | text | None) whatever the status; network errors raise."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url,
        data=body if body or method in {"POST", "PUT", "PATCH"} else None,
        headers=headers or {},
        method=method,
    )
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


def _body(json_body: Any, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    if json_body is None:
        return b""
    return json.dumps(json_body, ensure_ascii=False).encode("utf-8")


class ShopClient:
    """Signed Shop API calls. ``clock`` gives the unix time to sign with (a mall's own clock)."""

    def __init__(
        self,
        base_url: str,
        shop_id: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.shop_id = shop_id
        self.secret = secret
        self.clock = clock
        self.timeout = timeout

    def path(self, suffix: str = "") -> str:
        return f"/shops/{self.shop_id}{suffix}"

    def signed_headers(
        self, method: str, path: str, body: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        signed_path = urlsplit(self.base_url).path.rstrip("/") + path
        return {
            **JSON_HEADERS,
            "X-Shop-Id": self.shop_id,
            "X-Timestamp": ts,
            "X-Signature": sign(self.secret, ts, method.upper(), signed_path, body),
        }

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, Any]:
        """Send ``json_body`` (or the exact bytes ``raw``) to ``path`` (with its query), signed."""
        method = method.upper()
        body = _body(json_body, raw)
        all_headers = {**self.signed_headers(method, path, body, timestamp=timestamp), **(headers or {})}
        return http_request(method, self.base_url + path, body, all_headers, self.timeout)


class OperatorClient:
    """Operator API calls with ``Authorization: Bearer <token>``."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, json_body: Any = None) -> tuple[int, Any]:
        headers = dict(JSON_HEADERS)
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return http_request(
            method.upper(), self.base_url + path, _body(json_body, None), headers, self.timeout
        )

    def create_shop(self, shop_id: str, name: str) -> tuple[int, Any]:
        return self.request("POST", "/admin/shops", {"shop_id": shop_id, "name": name})

    def run_job(self, job: str, now: str | None = None) -> tuple[int, Any]:
        return self.request("POST", f"/admin/jobs/{job}", {"now": now} if now else None)


class StandinClient:
    """The WeChat Pay stand-in's local-only routes."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def keys(self) -> tuple[int, Any]:
        return http_request("GET", self.base_url + "/standin/keys", timeout=self.timeout)

    def notify(
        self, shop_id: str, event_type: str, resource: dict[str, Any], **options: Any
    ) -> tuple[int, Any]:
        body = {"shop_id": shop_id, "event_type": event_type, "resource": resource, **options}
        return http_request(
            "POST", self.base_url + "/standin/notify", _body(body, None), dict(JSON_HEADERS), self.timeout
        )

"""WeChat Pay merchant transfers (商家转账, API v3) over HTTP: signed requests, verified answers, typed outcomes.

- ``POST /v3/fund-app/mch-transfer/transfer-bills`` creates a bill; WeChat Pay deduplicates on ``out_bill_no``.
- ``GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}`` reads it back.

Every request is signed ``WECHATPAY2-SHA256-RSA2048`` with the merchant key over the exact bytes sent (the
body is serialised once, signed, and those bytes go on the wire). Every answer we act on is verified with the
platform keys; one that does not verify is treated like no answer at all. urllib3 with explicit connect and
read timeouts and no automatic retries: the caller decides when to try again, always on the same bill number.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fenxiao.adapters.wechatpay_crypto import (
    PlatformKey,
    WechatPayCryptoError,
    build_authorization,
    verify_response,
)
from fenxiao.domain.withdrawals import OUT_BILL_NO

CREATE_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
QUERY_PATH = "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}"
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 8.0
MAX_ANSWER_BYTES = 256 * 1024
USER_AGENT = "fenxiao/0.1 (merchant transfers)"


class TransferError(Exception):
    """Base of the transfer client's errors. Messages never carry key material."""


class TransferUnavailable(TransferError):
    """No trustworthy answer (network error, timeout, 5xx, 429, an answer that does not verify): the bill
    may or may not exist. Retry later on the same out_bill_no."""


class TransferRejected(TransferError):
    """WeChat Pay answered a verified 4xx: it refused the request (``code`` and ``message`` are WeChat Pay's)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


_pool_lock = threading.Lock()
_pool: urllib3.PoolManager | None = None


def shared_pool() -> urllib3.PoolManager:
    """One connection pool per container (built on first use, never at import)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
        return _pool


def checked_base_url(base_url: str) -> tuple[str, str]:
    """(origin, path prefix) of the configured base URL; only http(s) with a host and no query."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("the WeChat Pay base URL must be http(s)://host[:port][/prefix]")
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def query_path(out_bill_no: str) -> str:
    if not OUT_BILL_NO.fullmatch(out_bill_no):
        raise ValueError("out_bill_no must be 5-32 letters or digits")
    return QUERY_PATH.format(out_bill_no=quote(out_bill_no, safe=""))


class TransferClient:
    """One shop's merchant transfer client (its mchid, merchant key and platform keys)."""

    def __init__(
        self,
        base_url: str,
        mchid: str,
        merchant_serial: str,
        private_key: RSAPrivateKey,
        platform_keys: Sequence[PlatformKey] | Mapping[str, PlatformKey],
        now_unix: Callable[[], float],
        pool: urllib3.PoolManager | None = None,
        timeout: urllib3.Timeout | None = None,
    ) -> None:
        self.base_url = base_url
        self._origin, self._prefix = checked_base_url(base_url)
        self._mchid = mchid
        self._serial = merchant_serial
        self._key = private_key
        self._platform_keys = platform_keys
        self._now_unix = now_unix
        self._pool = pool or shared_pool()
        self._timeout = timeout or urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)

    def create_bill(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Create (or, for a bill number WeChat Pay already has, read back) a transfer bill."""
        if not OUT_BILL_NO.fullmatch(str(request.get("out_bill_no", ""))):
            raise ValueError("out_bill_no must be 5-32 letters or digits")
        body = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        status, answer = self._call("POST", CREATE_PATH, body)
        if 200 <= status < 300:
            return answer
        raise _rejected(status, answer)

    def query_bill(self, out_bill_no: str) -> dict[str, Any] | None:
        """The bill as WeChat Pay holds it, or None when it has no bill with that number (verified 404)."""
        status, answer = self._call("GET", query_path(out_bill_no), b"")
        if 200 <= status < 300:
            return answer
        if status == 404 and answer.get("code") == "NOT_FOUND":
            return None
        raise _rejected(status, answer)

    def _call(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        signed_path = self._prefix + path
        authorization = build_authorization(
            method,
            signed_path,
            body,
            self._mchid,
            self._serial,
            self._key,
            int(self._now_unix()),
            secrets.token_hex(16),
        )
        headers = {
            "Authorization": authorization,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self._pool.request(
                method,
                self._origin + signed_path,
                body=body or None,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                raw = response.read(MAX_ANSWER_BYTES + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise TransferUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        status = int(response.status)
        if status >= 500 or status == 429:
            raise TransferUnavailable(f"{method} {path}: answered {status}")
        if len(raw) > MAX_ANSWER_BYTES:
            raise TransferUnavailable(f"{method} {path}: answer too large")
        try:
            verify_response(dict(response.headers.items()), raw, self._platform_keys, self._now_unix())
        except WechatPayCryptoError as exc:
            raise TransferUnavailable(
                f"{method} {path}: answer not verified ({type(exc).__name__})"
            ) from None
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            raise TransferUnavailable(f"{method} {path}: answer is not JSON") from None
        if not isinstance(answer, dict):
            raise TransferUnavailable(f"{method} {path}: answer is not a JSON object")
        return status, answer


def _rejected(status: int, answer: Mapping[str, Any]) -> TransferRejected:
    return TransferRejected(
        status, str(answer.get("code") or "UNKNOWN")[:64], str(answer.get("message") or "")[:200]
    )

"""WeChat's mini-program server API: access tokens (``cgi-bin/stable_token``) and unlimited mini-program codes
(``wxa/getwxacodeunlimit``), over urllib3 with explicit timeouts and no automatic retries, like the transfer
client.

Access tokens. WeChat limits how often a token may be fetched, so one appid's token is shared by every
container: ``AccessTokens`` keeps it per container until shortly before it expires, then reads the shared
store (one DynamoDB item per appid in production), and only when that is stale too does one container
refresh it. The refresher is chosen by a conditional write (a short claim with a version), never a lock
held across the call: the claimer calls WeChat and stores the token conditionally on its claim; the others
poll the store for a few seconds and take the new token, or claim in their turn once the claim has lapsed.
``stable_token`` without ``force_refresh`` answers the same token to concurrent callers while it is valid,
so even a lapsed claim cannot make two containers hold different tokens. A code request answered 40001
(invalid token) or 42001 (expired) invalidates that token and is tried once more with a fresh one.

Secrets and tokens never appear in an error's message, a log line or an answer: errmsg text from WeChat
is scrubbed of both before it is kept.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import urllib3

STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
CODE_PATH = "/wxa/getwxacodeunlimit"
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 8.0
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # a mini-program code is a few hundred KB at most
TOKEN_INVALID = frozenset({40001, 42001})  # invalid credential, access token expired
REFRESH_MARGIN_SECONDS = 300.0  # a token is refreshed this long before it expires
CLAIM_SECONDS = 10.0  # how long one container's claim to refresh a token stands
WAIT_FOR_REFRESH_SECONDS = CLAIM_SECONDS + 2.0  # the others wait for it, then claim in turn or give up (502)


class WechatError(Exception):
    """Base of the mini-program client's errors; messages never carry a secret or a token."""


class WechatUnavailable(WechatError):
    """No usable answer: network error, timeout, 5xx, an answer too large or not understood."""


class WechatApiError(WechatError):
    """WeChat answered with an error code (``errcode``; e.g. 45009 rate limit, -1 system busy, 41030 page)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class CodeImage:
    body: bytes
    content_type: str


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:200]


TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s\"']+")


class RedactTokens(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included, and getwxacodeunlimit takes the
    access token in its query: the token is cut out of the record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = TOKEN_IN_URL.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def _redact_urllib3_logs() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())


class MiniProgramClient:
    """The two calls, at ``base_url`` (https://api.weixin.qq.com, or the local stand-in)."""

    def __init__(self, base_url: str, pool: urllib3.PoolManager | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.pool = pool or urllib3.PoolManager(retries=False, maxsize=8)
        _redact_urllib3_logs()

    def stable_token(self, appid: str, secret: str) -> tuple[str, int]:
        """(access_token, expires_in seconds)."""
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": False}
        status, _headers, raw = self._post(STABLE_TOKEN_PATH, body)
        document = self._json(status, raw, secret)
        token, expires_in = document.get("access_token"), document.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            raise WechatUnavailable("stable_token answered without access_token/expires_in")
        return token, expires_in

    def code_image(self, token: str, scene: str, page: str, env_version: str, width: int = 430) -> CodeImage:
        """An unlimited mini-program code for ``scene`` that opens ``page`` (check_path off: a page not yet
        released in ``env_version`` still gets a code)."""
        body = {"scene": scene, "page": page, "check_path": False, "env_version": env_version, "width": width}
        status, headers, raw = self._post(f"{CODE_PATH}?access_token={quote(token, safe='')}", body)
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if status == 200 and content_type in ("image/png", "image/jpeg"):
            return CodeImage(raw, content_type)
        self._json(status, raw, token)  # raises the error it carries
        raise WechatUnavailable(f"getwxacodeunlimit answered {status} {content_type or 'without a type'}")

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any, bytes]:
        try:
            answer = self.pool.request(
                "POST",
                self.base_url + path,
                body=json.dumps(body, separators=(",", ":")).encode(),
                headers={"Content-Type": "application/json"},
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
                preload_content=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise WechatUnavailable(f"WeChat did not answer ({type(exc).__name__})") from None
        try:
            raw = answer.read(MAX_ANSWER_BYTES + 1)
        except urllib3.exceptions.HTTPError as exc:
            raise WechatUnavailable(f"WeChat's answer broke off ({type(exc).__name__})") from None
        finally:
            answer.release_conn()
        if len(raw) > MAX_ANSWER_BYTES:
            raise WechatUnavailable("WeChat's answer is too large")
        if answer.status >= 500:
            raise WechatUnavailable(f"WeChat answered HTTP {answer.status}")
        return answer.status, answer.headers, raw

    @staticmethod
    def _json(status: int, raw: bytes, *secrets: str) -> dict[str, Any]:
        try:
            document = json.loads(raw)
        except ValueError:
            raise WechatUnavailable(f"WeChat answered HTTP {status} with no JSON") from None
        if not isinstance(document, dict):
            raise WechatUnavailable(f"WeChat answered HTTP {status} with no JSON object")
        errcode = document.get("errcode", 0)
        if isinstance(errcode, int) and errcode != 0:
            raise WechatApiError(errcode, _scrub(str(document.get("errmsg", "")), *secrets))
        if status != 200:
            raise WechatUnavailable(f"WeChat answered HTTP {status}")
        return document


# ---------------------------------------------------------------- access tokens shared across containers


@dataclass(frozen=True)
class StoredToken:
    """The shared item of one appid: its token (may be empty), when it expires (unix s), the optimistic
    version, and until when a container's claim to refresh it stands (0: no claim)."""

    token: str
    expires_at: float
    version: int
    claimed_until: float = 0.0


class TokenStore(Protocol):
    """Where one appid's token is shared. Every write is conditional on ``version`` (None: no item yet)."""

    def read(self, appid: str) -> StoredToken | None: ...

    def claim(self, appid: str, version: int | None, until: float) -> int | None:
        """Claim the refresh: set ``claimed_until`` if the item is still at ``version``; the new version, or
        None when another container changed it first."""
        ...

    def put(self, appid: str, token: str, expires_at: float, version: int) -> bool:
        """Store a fresh token (clearing the claim) if the item is still at ``version``."""
        ...

    def invalidate(self, appid: str, token: str) -> None:
        """Mark ``token`` expired if it is still the stored one (WeChat said it is no longer valid)."""
        ...


class MemoryTokenStore:
    """A TokenStore in one process (tests; the DynamoDB store keeps the same item and conditions)."""

    def __init__(self) -> None:
        self.items: dict[str, StoredToken] = {}
        self._lock = threading.Lock()

    def read(self, appid: str) -> StoredToken | None:
        with self._lock:
            return self.items.get(appid)

    def claim(self, appid: str, version: int | None, until: float) -> int | None:
        with self._lock:
            item = self.items.get(appid)
            if (item.version if item else None) != version:
                return None
            new = (version or 0) + 1
            self.items[appid] = StoredToken(
                item.token if item else "", item.expires_at if item else 0, new, until
            )
            return new

    def put(self, appid: str, token: str, expires_at: float, version: int) -> bool:
        with self._lock:
            item = self.items.get(appid)
            if item is None or item.version != version:
                return False
            self.items[appid] = StoredToken(token, expires_at, version + 1, 0.0)
            return True

    def invalidate(self, appid: str, token: str) -> None:
        with self._lock:
            item = self.items.get(appid)
            if item is not None and item.token == token:
                self.items[appid] = StoredToken(item.token, 0.0, item.version + 1, item.claimed_until)


class AccessTokens:
    """One container's view of the shared tokens (lives in the bootstrap container)."""

    def __init__(
        self,
        client: MiniProgramClient,
        store: TokenStore,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self._cached: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, appid: str, secret: Callable[[], str]) -> str:
        """A valid token for ``appid``; ``secret`` is called (and the appsecret decrypted) only when this
        container is the one that refreshes."""
        now = self.clock()
        cached = self._cached.get(appid)
        if cached and now < cached[1] - REFRESH_MARGIN_SECONDS:
            return cached[0]
        deadline = now + WAIT_FOR_REFRESH_SECONDS
        while True:
            now = self.clock()
            item = self.store.read(appid)
            if item and item.token and now < item.expires_at - REFRESH_MARGIN_SECONDS:
                return self._keep(appid, item.token, item.expires_at)
            if not (item and item.claimed_until > now):
                version = self.store.claim(appid, item.version if item else None, now + CLAIM_SECONDS)
                if version is not None:
                    return self._refresh(appid, secret, version)
            if now >= deadline:
                raise WechatUnavailable("another container is refreshing the access token; try again")
            self.sleep(random.uniform(0.05, 0.2))

    def _refresh(self, appid: str, secret: Callable[[], str], version: int) -> str:
        token, expires_in = self.client.stable_token(appid, secret())
        expires_at = self.clock() + expires_in
        self.store.put(appid, token, expires_at, version)  # a lapsed claim may lose: the token is still good
        return self._keep(appid, token, expires_at)

    def _keep(self, appid: str, token: str, expires_at: float) -> str:
        with self._lock:
            self._cached[appid] = (token, expires_at)
        return token

    def invalidate(self, appid: str, token: str) -> None:
        with self._lock:
            if self._cached.get(appid, ("",))[0] == token:
                del self._cached[appid]
        self.store.invalidate(appid, token)

    def code_image(
        self, appid: str, secret: Callable[[], str], scene: str, page: str, env_version: str
    ) -> CodeImage:
        """The code for ``scene``; a token WeChat calls invalid or expired is replaced and the call made
        once more."""
        token = self.token(appid, secret)
        try:
            return self.client.code_image(token, scene, page, env_version)
        except WechatApiError as exc:
            if exc.errcode not in TOKEN_INVALID:
                raise
            self.invalidate(appid, token)
        return self.client.code_image(self.token(appid, secret), scene, page, env_version)

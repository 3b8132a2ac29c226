"""The app in-process: functions/app.py loaded once, called through chalice.test.Client as the operator and as
signed shops."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.support.stack import OPERATOR_TOKEN, ROOT

_app_module: Any = None


def app_module() -> Any:
    """functions/app.py, imported once by file path (it is the Lambda handler module, not a package)."""
    global _app_module
    if _app_module is None:
        from fenxiao_local.runtime import load_module

        _app_module = load_module(ROOT / "functions" / "app.py", "app")
    return _app_module


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        return self.body["error"]


def _answer(response: Any) -> Answer:
    raw = response.body
    text = raw.decode() if isinstance(raw, bytes) else (raw or "")
    body = json.loads(text) if text else None
    return Answer(response.status_code, body, dict(response.headers))


class Api:
    """The app through chalice.test.Client: operator calls and signed shop calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def operator(
        self, method: str, path: str, body: Any = None, token: str | None = OPERATOR_TOKEN
    ) -> Answer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        raw = b"" if body is None else json.dumps(body).encode()
        return _answer(self.client.http.request(method, path, headers=headers, body=raw))

    def create_shop(self, shop_id: str = "shop1", name: str = "Demo shop") -> ShopCaller:
        answer = self.operator("POST", "/admin/shops", {"shop_id": shop_id, "name": name})
        assert answer.status == 201, answer
        return ShopCaller(self, shop_id, answer.body["api_secret"])


class ShopCaller:
    def __init__(self, api: Api, shop_id: str, secret: str) -> None:
        self.api = api
        self.shop_id = shop_id
        self.secret = secret

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        shop_header: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signed_path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        from fenxiao import clock
        from fenxiao.api.auth import sign

        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        ts = str(int(clock.unix_now()) if timestamp is None else timestamp)
        signature = sign(secret or self.secret, ts, method, signed_path or path, data)
        all_headers = {
            "Content-Type": "application/json",
            "X-Shop-Id": shop_header or self.shop_id,
            "X-Timestamp": ts,
            "X-Signature": signature,
        }
        all_headers.update(headers or {})
        return _answer(self.api.client.http.request(method, path, headers=all_headers, body=data))

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PUT", path, body, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)

    def path(self, rest: str) -> str:
        return f"/shops/{self.shop_id}{rest}"

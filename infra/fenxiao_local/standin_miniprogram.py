"""The stand-in's mini-program API: ``cgi-bin/stable_token``, ``wxa/getwxacodeunlimit`` (a real QR code of
the scene, drawn with segno) and test images for custom poster backgrounds, with WeChat's error answers.

Faults: ``POST /standin/miniprogram/faults {"codes": [40001, 45009, ...]}`` queues answers for the next
getwxacodeunlimit calls: a WeChat errcode (40001 invalid token, 42001 expired, 45009 rate limit, 41030
page, -1 busy), ``500`` (HTTP 500) or ``"timeout"`` (answers after ``timeout_seconds``). Calls are counted
per endpoint (``GET /standin/miniprogram/calls``), so tests can see that a repeat fetched nothing.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections import Counter
from typing import Any

import segno
from PIL import Image

from fenxiao_local.standin import RawAnswer, Standin, StandinError, StandinRequest

TOKEN_SECONDS = 7200
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
    45009: "reach max api daily quota limit",
    41030: "invalid page",
    -1: "system error",
}


class MiniProgramDesk:
    def __init__(self, standin: Standin, timeout_seconds: float = 12.0) -> None:
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (appid, expires at)
        self.faults: list[int | str] = []
        self.calls: Counter[str] = Counter()
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        standin.add_route("POST", "/cgi-bin/stable_token", self._stable_token)
        standin.add_route("POST", "/wxa/getwxacodeunlimit", self._code)
        standin.add_route("GET", "/images/{name}", self._image)
        standin.add_route("POST", "/standin/miniprogram/faults", self._set_faults)
        standin.add_route("GET", "/standin/miniprogram/calls", lambda request: (200, dict(self.calls)))

    # ------------------------------------------------------------ control

    def queue_faults(self, *codes: int | str) -> None:
        with self._lock:
            self.faults.extend(codes)

    def expire_tokens(self) -> None:
        """Every token issued so far answers 40001 from now on (as after WeChat invalidated them)."""
        with self._lock:
            self.tokens.clear()

    def _set_faults(self, request: StandinRequest) -> tuple[int, Any]:
        data = request.json()
        codes = data.get("codes") if isinstance(data, dict) else None
        if not isinstance(codes, list) or not all(c == "timeout" or isinstance(c, int) for c in codes):
            raise StandinError(400, "PARAM_ERROR", 'expected {"codes": [errcode | 500 | "timeout", ...]}')
        self.queue_faults(*codes)
        return 200, {"queued": len(self.faults)}

    # ------------------------------------------------------------ WeChat's endpoints

    def _stable_token(self, request: StandinRequest) -> tuple[int, Any]:
        self.calls["stable_token"] += 1
        data = request.json()
        if not isinstance(data, dict) or data.get("grant_type") != "client_credential":
            return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
        appid, secret = data.get("appid"), data.get("secret")
        if not isinstance(appid, str) or not appid or not isinstance(secret, str) or not secret:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        with self._lock:
            now = time.time()
            for token, (owner, expires_at) in self.tokens.items():
                if owner == appid and expires_at - now > 300 and not data.get("force_refresh"):
                    return 200, {"access_token": token, "expires_in": int(expires_at - now)}
            token = "standin-" + secrets.token_urlsafe(24)
            self.tokens[token] = (appid, now + TOKEN_SECONDS)
        return 200, {"access_token": token, "expires_in": TOKEN_SECONDS}

    def _code(self, request: StandinRequest) -> tuple[int, Any]:
        self.calls["getwxacodeunlimit"] += 1
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
            issued = self.tokens.get(request.query.get("access_token", ""))
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
        elif fault == 500:
            raise StandinError(500, "SYSTEM_ERROR", "the stand-in was told to fail")
        elif isinstance(fault, int):
            return 200, {"errcode": fault, "errmsg": ERRMSG.get(fault, "error")}
        if issued is None or issued[1] <= time.time():
            return 200, {"errcode": 40001, "errmsg": ERRMSG[40001]}
        data = request.json()
        scene = data.get("scene") if isinstance(data, dict) else None
        if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
            return 200, {
                "errcode": 40169,
                "errmsg": "invalid length for scene, or the data is not json string",
            }
        width = data.get("width", 430)
        out = io.BytesIO()
        qr = segno.make(scene, error="m")
        scale = max(1, int(width) // (qr.symbol_size()[0]))
        qr.save(out, kind="png", scale=scale, border=4)
        return 200, RawAnswer(out.getvalue(), {"Content-Type": "image/png"})

    # ------------------------------------------------------------ poster backgrounds for tests

    def _image(self, request: StandinRequest) -> tuple[int, Any]:
        self.calls["images"] += 1
        name = request.params["name"]
        if name in ("background.png", "background.jpg"):
            fmt = "PNG" if name.endswith(".png") else "JPEG"
            out = io.BytesIO()
            Image.new("RGB", (750, 1334), "#2E7D32").save(out, format=fmt)
            return 200, RawAnswer(out.getvalue(), {"Content-Type": f"image/{fmt.lower()}"})
        if name == "not-an-image.png":
            return 200, RawAnswer(b"<html>hello</html>", {"Content-Type": "text/html"})
        if name == "too-large.png":
            return 200, RawAnswer(
                b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024 + 1), {"Content-Type": "image/png"}
            )
        if name == "too-many-pixels.png":
            out = io.BytesIO()
            Image.new("1", (5000, 5000)).save(out, format="PNG")  # 5000×5000 in a few KB
            return 200, RawAnswer(out.getvalue(), {"Content-Type": "image/png"})
        raise StandinError(404, "NOT_FOUND", f"no test image {name}")

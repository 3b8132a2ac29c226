"""The local stack's own AWS clients reach moto without a socket.

Every boto3 and PynamoDB client of the stack's process is built as in AWS: it signs a request for
``AWS_ENDPOINT_URL`` (moto's server) and hands it to botocore's HTTP layer. Just before botocore would
open a connection, its ``before-send`` event offers the request to handlers; ``Shortcut`` answers a
request for moto's address by calling the moto server's own WSGI application in the calling thread,
with the environ moto's werkzeug server would have built from the same bytes. Everything above the
socket is unchanged (product code, boto3, PynamoDB, botocore's signing, serialization, retries and
checksum checks, moto's routing and handlers); what goes away is per request: a TCP connection (botocore's
pool reopened one for most requests: 16 % of the stack's busy time), the HTTP exchange on both sides, a
server thread, and Flask's request context around moto's handler. Clients in other processes (the benchmarks, a developer's AWS CLI, presigned URLs) still
use moto's HTTP server, which serves the same backends.
"""

from __future__ import annotations

import io
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

_EVENT = "before-send"


class _Body(io.BytesIO):
    """What botocore reads an answer from (urllib3's ``stream()``)."""

    def stream(self, **_: Any) -> Any:
        data = self.read()
        if data:
            yield data


def _latin1(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()  # a file-like body (uploads): botocore would stream it
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def wsgi_environ(method: str, url: str, headers: Any, body: bytes) -> dict[str, Any]:
    """The environ werkzeug's server builds for this request line, headers and body (serving.py)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path).encode("utf-8").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": parts.netloc,  # http.client sends it; moto routes by it and the signature
    }
    if body and not any(name.lower() == "content-length" for name in headers):
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        name = _latin1(name)
        if "_" in name:
            continue  # werkzeug drops these (an underscore could spoof a dash)
        key = name.upper().replace("-", "_")
        text = _latin1(value).replace("\r\n", "")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
            if key in environ and key != "HTTP_HOST":
                text = f"{environ[key]},{text}"
        environ[key] = text
    return environ


class Shortcut:
    """A botocore ``before-send`` handler answering the requests for ``endpoint`` with ``app`` (the moto
    server's ``DomainDispatcherApplication``): it picks the service's Flask app as the server does, then
    calls that route's moto handler directly with moto's own request type, as moto's in-process mock
    does (Flask's request context and response wrapping are the part skipped)."""

    def __init__(self, endpoint: str, app: Any) -> None:
        self.prefix = endpoint.rstrip("/") + "/"
        self.endpoint = endpoint.rstrip("/")
        self.app = app
        self.enabled = True
        self.requests = 0
        self._handlers: dict[tuple[Any, str, str], Any] = {}

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        url = request.url
        if not self.enabled or not (url == self.endpoint or url.startswith(self.prefix)):
            return None
        self.requests += 1
        body = _body_bytes(request.body)
        environ = wsgi_environ(request.method, url, request.headers, body)
        handler = self._handler(self.app.get_application(environ), request.method, environ["PATH_INFO"])
        if handler is None:
            status, headers, content = self._wsgi(environ)
        else:
            status, headers, content = _call_moto(handler, request.method, url, request.headers, body)
        response_headers = HTTPHeaders()
        for name, value in headers:
            response_headers[name] = value
        return AWSResponse(url, status, response_headers, _Body(content))

    def _handler(self, flask_app: Any, method: str, path: str) -> Any:
        """The moto handler the server's Flask app routes this method and path to (None: not a plain
        moto route, e.g. /moto-api: the whole WSGI app answers)."""
        key = (flask_app, method, path)
        if key not in self._handlers:
            from werkzeug.exceptions import HTTPException

            try:
                endpoint, _ = flask_app.url_map.bind("localhost").match(path, method)
            except HTTPException:
                endpoint = None
            view = flask_app.view_functions.get(endpoint) if endpoint else None
            self._handlers[key] = getattr(view, "callback", None)
        return self._handlers[key]

    def _wsgi(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), headers
            return lambda data: answer.setdefault("written", []).append(data)

        chunks = self.app(environ, start_response)
        try:
            content = b"".join([*answer.get("written", []), *chunks])
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], content


def _call_moto(
    handler: Any, method: str, url: str, headers: Any, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What moto.moto_server's ``convert_to_flask_response`` does around a handler, without Flask."""
    from botocore.exceptions import ClientError
    from moto.core.exceptions import HTTPException
    from moto.core.request import Request
    from moto.moto_api import recorder

    request = Request.from_primitives(method, url, headers, body)
    try:
        recorder._record_request(request)
        result = handler(request, request.raw_url, dict(request.headers))
    except HTTPException as exc:  # moto's server answers these through Flask's error handling
        result = exc.code, dict(exc.get_headers()), exc.get_body()
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, response_headers, content = result if len(result) == 3 else (200, {}, result)
    if isinstance(content, str):
        content = content.encode("utf-8")
    pairs = [(str(k), str(v)) for k, v in (response_headers or {}).items()]
    return int(status), pairs, content or b""


def install(endpoint: str, app: Any) -> Shortcut:
    """Every botocore session created from now on in this process takes the shortcut to ``endpoint``."""
    from botocore.handlers import BUILTIN_HANDLERS

    shortcut = Shortcut(endpoint, app)
    BUILTIN_HANDLERS.append((_EVENT, shortcut))
    return shortcut


def uninstall(shortcut: Shortcut) -> None:
    """Sessions created while it was installed keep the handler: it stands aside (their requests go to
    the socket, as before)."""
    from botocore.handlers import BUILTIN_HANDLERS

    shortcut.enabled = False
    if (_EVENT, shortcut) in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.remove((_EVENT, shortcut))

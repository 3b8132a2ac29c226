"""The HTTP API, locally: API Gateway's part in front of the Chalice app of ``functions/app.py``.

Chalice's local gateway turns each request into the API Gateway proxy event the deployed function gets
(headers kept, the raw body bytes passed as they came) and calls the same app object that the pollers and
timers use. What API Gateway does from ``template.yaml`` is done from it here too: only the paths and
methods of the API function's ``Type: Api`` events are served; any other request gets API Gateway's
403 "missing authentication token" with the template's ``GatewayResponses`` body. One thread per
connection: concurrent requests run concurrently, each with its own ``app.current_request``.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalGateway,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from fenxiao_local.datastack import run_in_wide_frame
from fenxiao_local.runtime import context_for
from fenxiao_local.template import Function

log = logging.getLogger("fenxiao_local.api")

DEFAULT_NOT_FOUND = b'{"message": "Missing Authentication Token"}'


@dataclass(frozen=True)
class GatewaySettings:
    function: Function
    routes: frozenset[tuple[str, str]]  # (resource path, METHOD) from the template's Api events
    not_found_body: bytes
    stack_name: str
    region: str


class MissingRoute(LocalGatewayException):
    CODE = 403


class _Gateway(LocalGateway):
    def __init__(self, app_object: Any, config: Config, settings: GatewaySettings) -> None:
        super().__init__(app_object, config)
        self._settings = settings
        self._create_event = self.event_converter.create_lambda_event
        self.event_converter.create_lambda_event = self._decoded_path_parameters  # type: ignore[method-assign]  # type: ignore[method-assign]

    def _decoded_path_parameters(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        # API Gateway hands the function its path parameters URL-decoded (/members/m%2Da -> m-a); the
        # request's path stays as sent, which is what a signature covers
        event = self._create_event(method, path, headers, body)
        captured = event.get("pathParameters")
        if captured:
            event["pathParameters"] = {name: unquote(value) for name, value in captured.items()}
        return event

    def _generate_lambda_context(self) -> Any:
        s = self._settings
        return context_for(s.function, s.stack_name, s.region)

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            resource = self.event_converter._route_matcher.match_route(path).route
        except ValueError:
            resource = None
        if resource is None or (resource, method.upper()) not in self._settings.routes:
            raise MissingRoute(
                {
                    "x-amzn-ErrorType": "MissingAuthenticationTokenException",
                    "Content-Type": "application/json",
                },
                self._settings.not_found_body,
            )
        return super().handle_request(method, path, headers, body)


class _RequestHandler(ChaliceRequestHandler):
    timeout = 30  # an idle keep-alive connection ends, and its thread with it

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: Any,
        app_object: Any,
        config: Config,
        settings: GatewaySettings,
    ) -> None:
        self.local_gateway = _Gateway(app_object, config, settings)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info('"%s" %s', self.requestline, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class _Server(ThreadedHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 resets a burst of simultaneous clients (API Gateway queues them)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Each request's thread runs its deep stack from a wide frame (datastack.py): no chunk churn
        run_in_wide_frame(super().process_request_thread, request, client_address)


class HttpApi:
    """The API server on ``host:port`` (0: any free port), served from its own thread.

    The socket is bound at construction (so the address is known before the handlers' environment is
    built); requests wait in the listen backlog until ``start`` hands the server its app.
    """

    def __init__(self, host: str, port: int) -> None:
        try:
            self.server = _Server((host, port), BaseHTTPRequestHandler)
        except OSError as exc:
            raise OSError(
                exc.errno, f"the HTTP API cannot listen on {host}:{port} ({exc.strerror}); see --port"
            ) from None
        self._thread = threading.Thread(target=self._serve, name="http-api", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _serve(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def start(self, app: Any, settings: GatewaySettings) -> None:
        if not isinstance(app, LocalChalice):
            # What chalice.local.create_local_server does: current_request becomes thread-local.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        config = Config.create(
            app_name=getattr(app, "app_name", "app"),
            lambda_timeout=settings.function.timeout_seconds,
            lambda_memory_size=settings.function.memory_mb,
        )
        self.server.RequestHandlerClass = functools.partial(
            _RequestHandler, app_object=app, config=config, settings=settings
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

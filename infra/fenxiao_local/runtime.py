"""The Lambda side of the local stack: the handler module, handler lookup and a Lambda context object."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fenxiao_local.template import Function

ACCOUNT_ID = "123456789012"  # moto's default account

Handler = Callable[[Any, Any], Any]
HandlerLookup = Callable[[Function], Handler]


class LambdaContext:
    """What Lambda passes as ``context``: the fields handlers and Powertools read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_seconds: int, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def context_for(function: Function, stack_name: str, region: str) -> LambdaContext:
    return LambdaContext(
        f"{stack_name}-{function.logical_id}", function.memory_mb, function.timeout_seconds, region
    )


def load_module(path: Path, name: str) -> ModuleType:
    """Import a handler module by file path, once (``functions/app.py`` is not a package).

    Lambda imports ``<module>`` from the function's code directory; here that module object is shared by
    the HTTP API, the queue pollers and the timers. An already imported module of that file is reused.
    """
    resolved = path.resolve()
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == resolved:
        return existing
    if str(resolved.parent) not in sys.path:  # Lambda runs a handler with its code directory on sys.path
        sys.path.insert(0, str(resolved.parent))
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {resolved}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def module_lookup(modules: dict[str, ModuleType]) -> HandlerLookup:
    """Find ``Handler: module.attribute`` among the loaded modules."""

    def lookup(function: Function) -> Handler:
        module = modules[function.module_name]
        handler = getattr(module, function.attribute, None)
        if handler is None or not callable(handler):
            raise AttributeError(
                f"{function.logical_id}: {function.handler} is not a callable in {module.__file__}"
            )
        return handler

    return lookup

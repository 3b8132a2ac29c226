"""botocore sessions that share one model loader.

Every new botocore session normally re-reads and re-parses the service model JSON files (DynamoDB,
SQS, KMS...). PynamoDB opens a session per connection and per thread, so a process with worker threads
(the local stack) or many short-lived stacks (the tests) pays that parse again and again. One shared,
caching loader makes the parse happen once per process; it changes nothing else.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_loader: Any = None


def _shared_loader() -> Any:
    global _loader
    if _loader is None:
        with _lock:
            if _loader is None:
                from botocore.loaders import create_loader

                _loader = create_loader()
    return _loader


def botocore_session() -> Any:
    """A new botocore session using the process-wide model loader."""
    from botocore.session import get_session

    session = get_session()
    session.register_component("data_loader", _shared_loader())
    return session


def boto3_session(region: str) -> Any:
    import boto3

    return boto3.session.Session(botocore_session=botocore_session(), region_name=region)


def share_loader_with_pynamodb() -> None:
    """Make PynamoDB's connections use sessions with the shared loader (idempotent)."""
    import pynamodb.connection.base as base

    if getattr(base.get_session, "__name__", "") != "botocore_session":
        base.get_session = botocore_session

"""Logs (Powertools JSON logger, secrets masked) and metrics (CloudWatch embedded metric format).

Built lazily on first use, never at import. The logger's formatter masks every value whose key looks
like a secret, wherever it sits in a log record, so a careless ``logger.info(..., extra=body)`` cannot leak.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

SECRET_KEY = re.compile(
    r"(secret|token|password|passwd|apiv3|private|pem|signature|authorization|api_key|ciphertext|_ct$)",
    re.IGNORECASE,
)
MASK = "***"


def mask(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by ``***``."""
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEY.search(k) else mask(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask(v, depth + 1) for v in value]
    return value


@lru_cache(maxsize=1)
def logger() -> Any:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class MaskingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: Any) -> str:
            return super().serialize(mask(log))

    return Logger(logger_formatter=MaskingFormatter(), utc=True)


_pending = {"metrics": False}


def flush_metrics() -> None:
    """Write the invocation's metrics (EMF on stdout), if it recorded any."""
    if _pending["metrics"]:
        _pending["metrics"] = False
        metrics().flush_metrics()


@lru_cache(maxsize=1)
def metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics()


def count(name: str, value: int = 1, **metadata: str) -> None:
    """Add one count metric; shop ids go in metadata, never in dimensions (cardinality)."""
    from aws_lambda_powertools.metrics import MetricUnit

    m = metrics()
    _pending["metrics"] = True
    m.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for k, v in metadata.items():
        m.add_metadata(key=k, value=v)


def duration(name: str, milliseconds: float, **metadata: str) -> None:
    """Add one duration metric (milliseconds)."""
    from aws_lambda_powertools.metrics import MetricUnit

    m = metrics()
    _pending["metrics"] = True
    m.add_metric(name=name, unit=MetricUnit.Milliseconds, value=milliseconds)
    for k, v in metadata.items():
        m.add_metadata(key=k, value=v)

"""Logs (Powertools JSON logger, secrets masked) and metrics (CloudWatch embedded metric format).

Built lazily on first use, never at import. Every metric carries the current ``shop_id`` (the one the
entry points append to the logger) as EMF metadata, never as a dimension. The logger's formatter masks every value whose key looks
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


# The metadata of the metrics waiting to be flushed. An EMF blob has one metadata set for all its metrics,
# so a metric whose metadata differs (another shop, another job) first flushes the blob before it.
_pending: dict[str, Any] = {"metrics": False, "metadata": {}}


def flush_metrics() -> None:
    """Write the invocation's metrics (EMF on stdout), if it recorded any."""
    if _pending["metrics"]:
        _pending["metrics"] = False
        _pending["metadata"] = {}
        metrics().flush_metrics()


@lru_cache(maxsize=1)
def metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics()


def current_shop_id() -> str | None:
    """The shop the current log lines are about (``shop_id`` appended to the logger by the entry points)."""
    value = logger().get_current_keys().get("shop_id")
    return value if isinstance(value, str) and value else None


def _add(name: str, unit: Any, value: float, metadata: dict[str, Any]) -> None:
    meta = {k: str(v) for k, v in metadata.items()}
    shop_id = current_shop_id()
    if shop_id and "shop_id" not in meta:
        meta["shop_id"] = shop_id
    if _pending["metrics"] and meta != _pending["metadata"]:
        flush_metrics()
    m = metrics()
    m.add_metric(name=name, unit=unit, value=value)
    for k, v in meta.items():
        m.add_metadata(key=k, value=v)
    _pending["metrics"] = True
    _pending["metadata"] = meta


def count(name: str, value: int = 1, **metadata: Any) -> None:
    """Add one count metric. The current shop id (see ``current_shop_id``) and ``metadata`` go in the EMF
    metadata, never in dimensions (cardinality): the only dimension is ``service``."""
    from aws_lambda_powertools.metrics import MetricUnit

    _add(name, MetricUnit.Count, value, metadata)


def duration(name: str, milliseconds: float, **metadata: Any) -> None:
    """Add one duration metric (milliseconds); metadata as for ``count``."""
    from aws_lambda_powertools.metrics import MetricUnit

    _add(name, MetricUnit.Milliseconds, milliseconds, metadata)

"""The composition root: builds adapters once per container and hands them out.

Nothing here runs at import. ``container()`` reads and validates the settings on first use (cold start),
points the PynamoDB models at their tables and creates the boto3 clients; later calls return the same
object. Tests and the local stack call ``reset()`` after changing the environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from fenxiao.config import Settings, settings_from_env

_lock = threading.Lock()
_container: Container | None = None


@dataclass
class Container:
    settings: Settings
    _cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def boto_session(self) -> Any:
        from fenxiao.adapters.aws import boto3_session

        return boto3_session(self.settings.region)

    def _client(self, service: str) -> Any:
        from botocore.config import Config

        timeouts = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 4})
        return self.boto_session.client(service, config=timeouts)

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def kms(self) -> Any:
        return self._client("kms")

    @cached_property
    def secrets(self) -> Any:
        from fenxiao.adapters.secrets import SecretBox

        return SecretBox(self.kms, self.settings.kms_key_id)

    @cached_property
    def queues(self) -> Any:
        from fenxiao.adapters.queues import Queues

        return Queues(self.sqs, self.settings)

    # ------------------------------------------------------------ the operator token (Secrets Manager)

    @cached_property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    def operator_token(self) -> str:
        """The operator token from its secret: read at first use, read again once it is
        OPERATOR_TOKEN_TTL_SECONDS old. Without the secret, or with a short token in it, nothing is accepted."""
        import time

        from fenxiao import config

        cached: tuple[str, float] | None = self._cache.get("operator_token")  # (token, monotonic read time)
        if cached is not None and time.monotonic() - cached[1] < config.OPERATOR_TOKEN_TTL_SECONDS:
            return cached[0]
        arn = self.settings.operator_token_secret_arn
        if not arn:
            raise config.ConfigurationError("FENXIAO_OPERATOR_TOKEN_SECRET_ARN is not set for this function")
        token = str(self.secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
        if len(token) < config.OPERATOR_TOKEN_MIN_LENGTH:
            raise config.ConfigurationError(
                f"the operator token secret holds fewer than {config.OPERATOR_TOKEN_MIN_LENGTH} characters"
            )
        self._cache["operator_token"] = (token, time.monotonic())
        return token


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                settings = settings_from_env()
                from fenxiao.adapters.tables import bind_tables

                bind_tables(settings)
                _container = Container(settings=settings)
    return _container


def reset() -> None:
    """Forget the container (tests, local stack): the next ``container()`` reads the environment again."""
    global _container
    with _lock:
        _container = None

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
from fenxiao.domain.eligibility import KnownModes

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

    # The shops' eligibility-mode versions known for good (adapters.members.eligibility_modes).
    eligibility_modes: KnownModes = field(default_factory=KnownModes)


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

"""The composition root: builds adapters once per container and hands them out.

Nothing here runs at import. ``container()`` reads and validates the settings on first use (cold start),
points the PynamoDB models at their tables and creates the boto3 clients; later calls return the same
object. Tests and the local stack call ``reset()`` after changing the environment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fenxiao.config import Settings, settings_from_env
from fenxiao.domain.eligibility import KnownModes

if TYPE_CHECKING:
    from fenxiao.adapters.media import MediaStore
    from fenxiao.adapters.shops import ShopModel
    from fenxiao.adapters.wechat_miniprogram import AccessTokens, MiniProgramClient
    from fenxiao.adapters.wechatpay_crypto import PlatformKey
    from fenxiao.adapters.wechatpay_transfer import TransferClient

_lock = threading.Lock()
_container: Container | None = None

V = TypeVar("V")


class ShopCache(Generic[V]):
    """One value per shop, kept in this container for a while (material decrypted with KMS, clients built
    from it). A new container starts empty, so ``reset()`` forgets every entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, V]] = {}

    def get(
        self,
        shop_id: str,
        max_age_seconds: float,
        build: Callable[[], V],
        still_good: Callable[[V], bool] | None = None,
    ) -> V:
        """The shop's value if stored less than ``max_age_seconds`` ago (and ``still_good``), else ``build()``'s,
        stored as of now (a build that raises stores nothing)."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(shop_id)
        if hit is not None and now - hit[0] < max_age_seconds and (still_good is None or still_good(hit[1])):
            return hit[1]
        value = build()
        with self._lock:
            self._entries[shop_id] = (now, value)
        return value

    def forget(self, shop_id: str) -> None:
        with self._lock:
            self._entries.pop(shop_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Container:
    settings: Settings
    # WeChat Pay, per shop: notification keys (shop, platform keys by serial, APIv3 key) and transfer
    # clients with the shop's wx_updated_at they were built from (service.notifications, service.payouts).
    notify_keys: ShopCache[tuple[ShopModel, dict[str, PlatformKey], str]] = field(default_factory=ShopCache)
    transfer_clients: ShopCache[tuple[str, TransferClient]] = field(default_factory=ShopCache)
    # The shops' eligibility-mode versions known for good (adapters.members.eligibility_modes).
    eligibility_modes: KnownModes = field(default_factory=KnownModes)
    # The operator token and when it was read (monotonic), from its secret (operator_token()).
    _operator_token: tuple[str, float] | None = None

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

    # ------------------------------------------------------------ S3 and WeChat's mini-program API

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def media(self) -> MediaStore:
        from fenxiao import config
        from fenxiao.adapters.media import MediaStore

        if not self.settings.media_bucket:
            raise config.ConfigurationError("FENXIAO_MEDIA_BUCKET is not set for this function")
        return MediaStore(self.s3, self.settings.media_bucket)

    @cached_property
    def miniprogram(self) -> MiniProgramClient:
        from fenxiao.adapters.wechat_miniprogram import MiniProgramClient

        return MiniProgramClient(self.settings.wechat_api_base_url)

    @cached_property
    def access_tokens(self) -> AccessTokens:
        """Access tokens per appid: kept in this container, shared with the others through ShopsTable."""
        from fenxiao.adapters.wechat_miniprogram import AccessTokens
        from fenxiao.adapters.wechat_tokens import DynamoTokenStore

        return AccessTokens(self.miniprogram, DynamoTokenStore())

    # ------------------------------------------------------------ the operator token (Secrets Manager)

    @cached_property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    def operator_token(self) -> str:
        """The operator token from its secret: read at first use, read again once it is
        OPERATOR_TOKEN_TTL_SECONDS old. Without the secret, or with a short token in it, nothing is accepted."""
        from fenxiao import config

        cached = self._operator_token
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
        self._operator_token = (token, time.monotonic())
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

"""Settings read from the environment once per container and validated at cold start.

Every name is the one ``template.yaml`` sets in ``Globals.Function.Environment`` (or a function's own
``Environment``); the local stack sets the same names from the stack it creates out of that template.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from pydantic_core import SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

ENV_PREFIX = "FENXIAO_"
# The least a token read from the secret may have (the template generates 43; a shorter one is refused).
OPERATOR_TOKEN_MIN_LENGTH = 32
# How long a container keeps the token it read: a rotation (put-secret-value) reaches every container within.
OPERATOR_TOKEN_TTL_SECONDS = 300.0


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The environment, validated by pydantic's core (``_VALIDATOR``): a field without a default is required
    and non-empty. Not a ``BaseModel``: the first payment notification validates nothing else with pydantic,
    and building a model class would load pydantic's model machinery (~40 ms CPU) at every cold start."""

    shops_table: str
    config_table: str
    members_table: str
    orders_table: str
    ledger_table: str
    withdrawals_table: str
    leaderboard_table: str
    notifications_table: str
    order_events_queue_url: str
    binding_events_queue_url: str
    payout_queue_url: str
    jobs_queue_url: str
    kms_key_id: str
    # Mixed into every WeChat Pay bill number: this stack's bills are never another deployment's.
    bill_salt: str
    # The Secrets Manager secret holding the operator token; only ApiFunction is given it (and may read it).
    operator_token_secret_arn: str = ""
    wechatpay_base_url: str = "https://api.mch.weixin.qq.com"
    # WeChat's server API for mini-program codes and access tokens (the local stack: its stand-in).
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    # The private bucket of mini-program codes and posters (only ApiFunction is given it).
    media_bucket: str = ""
    # Custom poster backgrounds from http://127.0.0.1 (the local stand-in's test images); never in AWS.
    allow_loopback_images: bool = False
    # Public base URL of this API, for the notify_url of merchant transfers ("" = rely on bill queries).
    notify_base_url: str = ""
    api_base_path: str = ""
    allow_clock_override: bool = False
    region: str = "us-east-1"


def _schema() -> cs.CoreSchema:
    """Settings' fields as pydantic reads a model's: strings (non-empty when required), booleans as pydantic
    takes them ("true", "1", "yes", "off", ...), defaults as declared; other names ignored, values never
    echoed in errors."""
    fields = {}
    for field in dataclasses.fields(Settings):
        required = field.default is dataclasses.MISSING
        schema: cs.CoreSchema = (
            cs.bool_schema() if field.type == "bool" else cs.str_schema(min_length=1 if required else None)
        )
        if not required:
            schema = cs.with_default_schema(schema, default=field.default)
        fields[field.name] = cs.typed_dict_field(schema, required=required)
    return cs.typed_dict_schema(fields, extra_behavior="ignore")


_VALIDATOR = SchemaValidator(_schema(), cs.CoreConfig(hide_input_in_errors=True))


class ConfigurationError(RuntimeError):
    """The environment does not hold a valid configuration; raised at cold start."""


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        name.removeprefix(ENV_PREFIX).lower(): value
        for name, value in env.items()
        if name.startswith(ENV_PREFIX)
    }
    values.setdefault("region", env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1")
    try:
        return Settings(**_VALIDATOR.validate_python(values))
    except ValidationError as exc:
        fields = ", ".join(ENV_PREFIX + ".".join(str(p) for p in e["loc"]).upper() for e in exc.errors())
        raise ConfigurationError(f"invalid or missing environment variables: {fields}") from None

"""The operator token lives in Secrets Manager (template.yaml OperatorTokenSecret), never in an environment:
the API reads it at first use, keeps it OPERATOR_TOKEN_TTL_SECONDS, and accepts nothing without it."""

from __future__ import annotations

import os
import re

import pytest

from fenxiao import bootstrap, config
from tests.support.app import Api
from tests.support.stack import OPERATOR_TOKEN, TEMPLATE

pytestmark = pytest.mark.api

NEW_TOKEN = "rotated-operator-token-0123456789abcdefghij"


def _put(token: str) -> None:
    arn = os.environ["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"]
    bootstrap.container().secretsmanager.put_secret_value(SecretId=arn, SecretString=token)


def _create(api: Api, shop_id: str, token: str) -> int:
    return api.operator("POST", "/admin/shops", {"shop_id": shop_id, "name": "Tea"}, token=token).status


def test_the_token_is_in_no_environment_variable_only_the_secret_arn(api: Api) -> None:
    assert OPERATOR_TOKEN not in os.environ.values()
    assert "FENXIAO_OPERATOR_TOKEN" not in os.environ
    assert _create(api, "s-env", OPERATOR_TOKEN) == 201  # read from the secret the ARN names


def test_a_rotation_reaches_a_warm_container_once_its_copy_is_older_than_the_ttl(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config.OPERATOR_TOKEN_TTL_SECONDS == 300.0  # five minutes, as docs/operations.md says
    assert _create(api, "s-1", OPERATOR_TOKEN) == 201  # read now, kept
    _put(NEW_TOKEN)
    assert _create(api, "s-2", OPERATOR_TOKEN) == 201  # within the TTL the container keeps its copy
    assert _create(api, "s-3", NEW_TOKEN) == 401
    monkeypatch.setattr(config, "OPERATOR_TOKEN_TTL_SECONDS", 0.0)  # the copy is now older than the TTL
    assert _create(api, "s-4", NEW_TOKEN) == 201
    answer = api.operator("POST", "/admin/shops", {"shop_id": "s-5", "name": "Tea"}, token=OPERATOR_TOKEN)
    assert answer.status == 401 and answer.error["code"] == "bad_token"


def test_a_short_token_in_the_secret_is_refused_and_nothing_is_stored(api: Api) -> None:
    short = "s" * (config.OPERATOR_TOKEN_MIN_LENGTH - 1)
    _put(short)
    assert _create(api, "s-short", short) == 500
    assert _create(api, "s-short", OPERATOR_TOKEN) == 500
    _put(OPERATOR_TOKEN)  # a refused token is not kept: the next request reads the secret again
    assert _create(api, "s-short", OPERATOR_TOKEN) == 201  # not 409: nothing was stored before


def test_a_function_without_the_secret_accepts_no_operator_call(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FENXIAO_OPERATOR_TOKEN_SECRET_ARN")  # as every worker's environment
    bootstrap.reset()
    with pytest.raises(config.ConfigurationError, match="FENXIAO_OPERATOR_TOKEN_SECRET_ARN"):
        bootstrap.container().operator_token()
    assert _create(api, "s-none", OPERATOR_TOKEN) == 500


def test_the_secret_the_stack_generates_is_43_letters_and_digits(aws_env: dict[str, str]) -> None:
    from fenxiao_local.secret_store import OPERATOR_TOKEN_SECRET, create_secrets
    from fenxiao_local.template import Template

    client = bootstrap.container().secretsmanager
    arn = create_secrets(Template.load(TEMPLATE), "generated", {}, client)[OPERATOR_TOKEN_SECRET]
    value = client.get_secret_value(SecretId=arn)["SecretString"]
    assert re.fullmatch(r"[A-Za-z0-9]{43}", value), value

"""The stack in-process: template.yaml created on moto by CloudFormation, the handlers' environment from its
Outputs, a fresh copy of it for each test, and one DynamoDB request at a time for tests that run threads."""

from __future__ import annotations

import copy
import functools
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
OPERATOR_TOKEN = "test-operator-token-0123456789abcdef"
# moto's fake credentials, in the environment of every test that talks to a moto account.
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

# Globals env var -> the stack Output that names the same resource.
ENV_FROM_OUTPUT = {
    "FENXIAO_SHOPS_TABLE": "ShopsTableName",
    "FENXIAO_CONFIG_TABLE": "ConfigTableName",
    "FENXIAO_MEMBERS_TABLE": "MembersTableName",
    "FENXIAO_ORDERS_TABLE": "OrdersTableName",
    "FENXIAO_LEDGER_TABLE": "LedgerTableName",
    "FENXIAO_WITHDRAWALS_TABLE": "WithdrawalsTableName",
    "FENXIAO_LEADERBOARD_TABLE": "LeaderboardTableName",
    "FENXIAO_NOTIFICATIONS_TABLE": "NotificationsTableName",
    "FENXIAO_ORDER_EVENTS_QUEUE_URL": "OrderEventsQueueUrl",
    "FENXIAO_BINDING_EVENTS_QUEUE_URL": "BindingEventsQueueUrl",
    "FENXIAO_PAYOUT_QUEUE_URL": "PayoutQueueUrl",
    "FENXIAO_JOBS_QUEUE_URL": "JobsQueueUrl",
    "FENXIAO_KMS_KEY_ID": "SecretsKeyId",
}


@functools.cache
def _template() -> Any:
    """template.yaml as the local stack reads it, parsed once per process (pure-Python YAML: ~0.5 s a parse)."""
    from fenxiao_local.template import Template

    return Template.load(TEMPLATE)


@functools.cache
def _cheap_moto_setup() -> None:
    """Two costs of moto's that every test paid for its fresh stack, and no test looks at (once per process):
    CloudFormation parsing the same template text again (kept per text; each stack gets its own deep copy, so
    none shares another's), and an RSA-2048 key generated for each SYMMETRIC_DEFAULT KMS key, which only asymmetric
    keys use (sign/verify); a symmetric key's own material stays random per key."""
    from moto.cloudformation.models import Stack
    from moto.kms import models as kms_models

    parse = functools.lru_cache(maxsize=4)(Stack.parse_template)
    Stack.parse_template = staticmethod(lambda template: copy.deepcopy(parse(template)))  # type: ignore[method-assign]
    generate = kms_models.generate_private_key
    unused = generate("SYMMETRIC_DEFAULT")
    kms_models.generate_private_key = lambda key_spec: (
        unused if key_spec == "SYMMETRIC_DEFAULT" else generate(key_spec)
    )


def create_stack(region: str = "us-east-1") -> dict[str, str]:
    """Create the stack from template.yaml (inside an active moto mock) and return the handlers' env."""
    from fenxiao.adapters.aws import boto3_session
    from fenxiao_local.secret_store import OPERATOR_TOKEN_SECRET, create_secrets

    _cheap_moto_setup()
    session = boto3_session(region)
    cf = session.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf.create_stack(StackName="fenxiao-test", TemplateBody=TEMPLATE.read_text())
        described = cf.describe_stacks(StackName="fenxiao-test")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    # moto's CloudFormation skips AWS::SecretsManager::Secret; created as the local stack does.
    secret_arns = create_secrets(
        _template(),
        "fenxiao-test",
        {OPERATOR_TOKEN_SECRET: OPERATOR_TOKEN},
        session.client("secretsmanager"),
    )
    env = {name: outputs[output] for name, output in ENV_FROM_OUTPUT.items()}
    env.update(
        {
            "FENXIAO_OPERATOR_TOKEN_SECRET_ARN": secret_arns[OPERATOR_TOKEN_SECRET],
            "FENXIAO_WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com",
            "FENXIAO_API_BASE_PATH": "",
            "FENXIAO_ALLOW_CLOCK_OVERRIDE": "true",
            "FENXIAO_BILL_SALT": described["StackId"],  # the template's !Ref AWS::StackId
            "POWERTOOLS_SERVICE_NAME": "fenxiao-svc",
            "POWERTOOLS_METRICS_NAMESPACE": "Fenxiao",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    return env


@dataclass(frozen=True)
class StackCopy:
    """What create_stack() left in moto, kept aside: every region backend moto holds after it (today
    CloudFormation, DynamoDB, SQS, KMS, Secrets Manager, IAM, S3, SNS, CloudWatch, Logs) and the env."""

    env: dict[str, str]
    # (moto's BackendDict, account, region, a private copy of that region's backend)
    backends: tuple[tuple[Any, str, str, Any], ...]

    def restore(self) -> dict[str, str]:
        """Put a fresh copy of the stack into moto's backends (inside a mock_aws() just started, so empty)
        and answer its env. Nothing is shared with the kept copy or with an earlier restore."""
        copies = _copy_backends([backend for _, _, _, backend in self.backends])
        for (backends, account, region, _), copied in zip(self.backends, copies, strict=True):
            dict.__setitem__(backends[account], region, copied)  # the backend moto would have created
        return dict(self.env)


def _copy_backends(backends: list[Any]) -> list[Any]:
    """Deep copies, all in one memo so that references between backends (a CloudFormation stack's resources
    are the tables and queues themselves) land on the copies; each SQS queue gets a new lock, which cannot
    be copied."""
    import threading

    from moto.sqs.models import SQSBackend

    memo: dict[int, Any] = {}
    for backend in backends:
        if isinstance(backend, SQSBackend):
            for queue in backend.queues.values():
                memo[id(queue._messages_lock)] = threading.Condition()
    copied: list[Any] = copy.deepcopy(backends, memo)
    return copied


@functools.cache
def created_stack() -> StackCopy:
    """template.yaml created once per process, in a mock of its own (on the engine, as in aws_env; call it
    outside any active mock), kept as copied right after creation: each test restores it in its own
    mock_aws() instead of paying CloudFormation again. The tests of a process then share the generated
    names, the KMS key (and its material) and the StackId (the bill salt); no test relies on them differing."""
    from moto import mock_aws
    from moto.core.base_backend import BackendDict

    from fenxiao_local.fast_moto import item_level_moto

    with mock_aws(), item_level_moto():
        env = create_stack()
        live = [
            (backends, account, region, backend)
            for backends in BackendDict._instances
            for account, region, backend in backends.iter_backends()
        ]
        kept = _copy_backends([backend for _, _, _, backend in live])  # moto wipes the live ones on exit
    return StackCopy(
        env=env,
        backends=tuple(
            (backends, account, region, copied)
            for (backends, account, region, _), copied in zip(live, kept, strict=True)
        ),
    )


def take_messages(queue_url: str) -> list[dict[str, Any]]:
    """Take (receive and delete) every message waiting on the queue, oldest first; their JSON bodies."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def sqs_event(sample: dict[str, Any], *bodies: str) -> dict[str, Any]:
    """A sample SQS event with one record per body instead, each a copy of its first (message ids msg-0, ...)."""
    record = sample["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        copied = copy.deepcopy(record)
        copied.update(messageId=f"msg-{i}", body=body)
        records.append(copied)
    return {"Records": records}


@contextmanager
def moto_dynamodb_serialized() -> Iterator[None]:
    """Let threads share moto's in-process DynamoDB: moto handles one DynamoDB request at a time, with the
    local stack's lock (fenxiao_local.stack.serialize_moto_dynamodb says why; the only lock). It stays on
    after the block, which is harmless; the threads still interleave freely *between* requests, which is
    where the service's races live."""
    from fenxiao_local.stack import serialize_moto_dynamodb

    serialize_moto_dynamodb()
    yield

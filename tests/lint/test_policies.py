"""template.yaml's least-privilege policies, batch timing, gateway answers and business alarms.

Each function gets only the tables, queues and KMS uses its code makes (traced from functions/app.py
through the services; the expectations below are that trace written down). SAM policy templates:
DynamoDBReadPolicy = read, DynamoDBWritePolicy = write (incl. condition checks), DynamoDBCrudPolicy = both.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.lint.test_template import FUNCTIONS, RESOURCES, TEMPLATE_DOC
from tests.support.app import app_module
from tests.support.stack import ROOT, TEMPLATE

pytestmark = pytest.mark.lint

TABLES = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::DynamoDB::Table"}
QUEUES = {
    name for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue" and not name.endswith("DLQ")
}
DYNAMO_TEMPLATES = {
    "DynamoDBReadPolicy": {"read"},
    "DynamoDBWritePolicy": {"write"},
    "DynamoDBCrudPolicy": {"read", "write"},
}


class Grants:
    """What one function's Policies allow, in the terms of this test."""

    def __init__(self, policies: list[Any]) -> None:
        self.tables: dict[str, set[str]] = {}
        self.queues: set[str] = set()
        self.kms: list[tuple[str, frozenset[str] | None]] = []  # (action, allowed purposes or None = any)
        self.secrets: set[str] = set()  # Secrets Manager secrets it may read (logical ids)
        self.s3: list[tuple[str, Any]] = []  # (action, resource as written)
        for policy in policies:
            (kind, args), *rest = policy.items()
            assert not rest, policy
            if kind in DYNAMO_TEMPLATES:
                table = args["TableName"]["Ref"]
                assert table in TABLES, policy
                self.tables.setdefault(table, set()).update(DYNAMO_TEMPLATES[kind])
            elif kind == "SQSSendMessagePolicy":
                queue = args["QueueName"]["Fn::GetAtt"][0]
                assert queue in QUEUES, policy
                self.queues.add(queue)
            elif kind == "AWSSecretsManagerGetSecretValuePolicy":
                secret = args["SecretArn"]["Ref"]
                assert RESOURCES[secret]["Type"] == "AWS::SecretsManager::Secret", policy
                self.secrets.add(secret)
            elif kind in ("KMSEncryptPolicy", "KMSDecryptPolicy"):
                assert args["KeyId"] == {"Ref": "SecretsKey"}, policy
                self.kms.append(("kms:Encrypt" if kind == "KMSEncryptPolicy" else "kms:Decrypt", None))
            elif kind == "Statement":
                for statement in args:
                    assert statement["Effect"] == "Allow", statement
                    actions = statement["Action"]
                    for action in [actions] if isinstance(actions, str) else actions:
                        if action.startswith("s3:"):
                            assert "Condition" not in statement, statement
                            self.s3.append((action, statement["Resource"]))
                            continue
                        assert action.startswith("kms:"), f"inline statements are for KMS or S3: {statement}"
                        assert statement["Resource"] == {"Fn::GetAtt": ["SecretsKey", "Arn"]}, statement
                        purposes = (
                            (statement.get("Condition") or {})
                            .get("StringEquals", {})
                            .get("kms:EncryptionContext:purpose")
                        )
                        self.kms.append((action, frozenset(purposes) if purposes else None))
            else:
                raise AssertionError(f"policy kind not understood by this test: {kind}")

    def reads(self, table: str) -> bool:
        return "read" in self.tables.get(table, set())

    def writes(self, table: str) -> bool:
        return "write" in self.tables.get(table, set())

    def kms_actions(self) -> set[str]:
        return {action for action, _ in self.kms}


GRANTS = {name: Grants(fn["Properties"].get("Policies", [])) for name, fn in FUNCTIONS.items()}
WORKERS = {name for name in FUNCTIONS if name != "ApiFunction"}


def _purposes() -> tuple[str, str, str, str]:
    from fenxiao.service.settings import APIV3_PURPOSE, MERCHANT_KEY_PURPOSE, MINIPROGRAM_APPSECRET_PURPOSE
    from fenxiao.service.shops import SECRET_PURPOSE

    return SECRET_PURPOSE, APIV3_PURPOSE, MERCHANT_KEY_PURPOSE, MINIPROGRAM_APPSECRET_PURPOSE


# The encryption-context purposes each function's code binds, traced from the calls of SecretBox.
API_SECRET, APIV3_KEY, MERCHANT_KEY = "api_secret", "wechatpay_apiv3_key", "wechatpay_merchant_private_key"
APPSECRET = "miniprogram_appsecret"  # the mini-program settings' appsecret (service.settings)
DECRYPTS = {
    # shop signatures (service.shops); WeChat Pay notifications (service.notifications, through
    # service.settings.apiv3_key: the APIv3 key alone); the appsecret (codes).
    "ApiFunction": frozenset({API_SECRET, APIV3_KEY, APPSECRET}),
    # service.payouts: the merchant key signs the transfer requests (through wechatpay_secrets, which
    # decrypts the APIv3 key too).
    "PayoutWorkerFunction": frozenset({APIV3_KEY, MERCHANT_KEY}),
}
ENCRYPTS = {
    # shop creation and secret rotation (service.shops); the settings documents (service.settings).
    "ApiFunction": frozenset({API_SECRET, APIV3_KEY, MERCHANT_KEY, APPSECRET}),
}


def _bound_in_code() -> dict[str, set[str]]:
    """``encrypt``/``decrypt`` -> the purposes shared/fenxiao passes to them (by their *_PURPOSE constant)."""
    source = "\n".join(p.read_text() for p in (ROOT / "shared" / "fenxiao").rglob("*.py"))
    constants = dict(re.findall(r'^(\w+_PURPOSE) = "(\w+)"$', source, flags=re.M))
    found: dict[str, set[str]] = {"encrypt": set(), "decrypt": set()}
    for call, constant in re.findall(r"\.(encrypt|decrypt)\((?:[^()]|\([^()]*\))*?\bpurpose=(\w+)", source):
        found[call].add(constants[constant])
    return found


# ---------------------------------------------------------------- tables


def test_every_function_has_its_own_policies() -> None:
    assert set(GRANTS) == {
        "ApiFunction",
        "OrderWorkerFunction",
        "BindingWorkerFunction",
        "PayoutWorkerFunction",
        "JobsWorkerFunction",
        "SchedulerFunction",
    }
    worker_tables = {name: frozenset(g.tables) for name, g in GRANTS.items() if name in WORKERS}
    # The jobs worker and the scheduler run the same job pages; every other worker differs from all.
    assert worker_tables["JobsWorkerFunction"] == worker_tables["SchedulerFunction"]
    others = [t for n, t in worker_tables.items() if n != "SchedulerFunction"]
    assert len(set(others)) == len(others), "two workers share the same tables: not traced per function"
    assert all(len(g.tables) < len(TABLES) for n, g in GRANTS.items() if n in WORKERS)


def test_only_the_api_writes_shops_and_configuration() -> None:
    for table in ("ShopsTable", "ConfigTable"):
        writers = {name for name, g in GRANTS.items() if g.writes(table)}
        assert writers == {"ApiFunction"}, (table, writers)


def test_the_order_consumer_reaches_only_orders_members_ledger_and_reads_settings() -> None:
    order = GRANTS["OrderWorkerFunction"]
    assert order.tables == {
        "ConfigTable": {"read"},
        "OrdersTable": {"read", "write"},
        "MembersTable": {"read", "write"},
        "LedgerTable": {"read", "write"},
    }
    assert not order.queues and not order.kms


def test_the_binding_consumer_moves_no_money() -> None:
    binding = GRANTS["BindingWorkerFunction"]
    assert binding.tables == {
        "ConfigTable": {"read"},
        "MembersTable": {"read"},
        "LeaderboardTable": {"read", "write"},
    }
    assert not binding.queues and not binding.kms


def test_the_payout_worker_and_the_jobs() -> None:
    payout = GRANTS["PayoutWorkerFunction"]
    assert payout.tables["ShopsTable"] == {"read"} and payout.tables["ConfigTable"] == {"read"}
    assert payout.tables["NotificationsTable"] == {"write"}  # a contradicting final state, recorded
    assert (
        payout.writes("WithdrawalsTable") and payout.writes("LedgerTable") and payout.writes("MembersTable")
    )
    assert "OrdersTable" not in payout.tables and "LeaderboardTable" not in payout.tables
    assert payout.queues == {"PayoutQueue"}  # its own delayed nudges

    jobs = GRANTS["JobsWorkerFunction"]
    assert jobs.tables["ShopsTable"] == {"read"} and jobs.tables["WithdrawalsTable"] == {"read"}
    # The audit, summary-rebuild and distributor-recount read the distribution settings (is_distributor_at).
    assert jobs.tables["ConfigTable"] == {"read"} and "NotificationsTable" not in jobs.tables
    assert jobs.queues == {"OrderEventsQueue", "PayoutQueue", "JobsQueue"}


def test_the_api_keeps_what_it_needs() -> None:
    api = GRANTS["ApiFunction"]
    assert all(api.reads(t) and api.writes(t) for t in TABLES)  # writes everything, runs jobs inline
    assert api.queues == QUEUES
    assert api.kms_actions() == {"kms:Encrypt", "kms:Decrypt"}


# ---------------------------------------------------------------- KMS


def test_only_the_api_encrypts_and_only_the_payout_worker_among_workers_decrypts() -> None:
    encrypters = {name for name, g in GRANTS.items() if "kms:Encrypt" in g.kms_actions()}
    assert encrypters == {"ApiFunction"}
    decrypting_workers = {name for name in WORKERS if GRANTS[name].kms}
    assert decrypting_workers == {"PayoutWorkerFunction"}


def test_the_payout_worker_decrypts_only_wechat_pay_secrets_never_an_api_secret() -> None:
    api_secret, apiv3, merchant_key, _appsecret = _purposes()
    grants = GRANTS["PayoutWorkerFunction"].kms
    assert grants == [("kms:Decrypt", frozenset({apiv3, merchant_key}))]
    assert all(purposes is not None and api_secret not in purposes for _, purposes in grants)


def test_every_kms_grant_is_limited_to_the_purposes_its_function_uses() -> None:
    for name, grants in GRANTS.items():
        for action, purposes in grants.kms:
            assert purposes is not None, f"{name}: {action} without a kms:EncryptionContext:purpose condition"
        for action, expected in (("kms:Decrypt", DECRYPTS), ("kms:Encrypt", ENCRYPTS)):
            allowed = set().union(*(p or set() for a, p in grants.kms if a == action))
            assert allowed == expected.get(name, frozenset()), (name, action)
    code = _bound_in_code()
    assert code["decrypt"] == set().union(*DECRYPTS.values())
    assert code["encrypt"] == set().union(*ENCRYPTS.values())
    # The API has no merchant-key grant: its notify path decrypts the APIv3 key alone.
    notify = (ROOT / "shared" / "fenxiao" / "service" / "notifications.py").read_text()
    assert MERCHANT_KEY not in DECRYPTS["ApiFunction"]
    assert "apiv3_key(" in notify and "wechatpay_secrets(" not in notify


def test_the_purposes_in_the_template_are_the_ones_the_code_binds_into_the_encryption_context() -> None:
    from fenxiao.adapters.secrets import SecretBox

    class RecordingKms:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def decrypt(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"Plaintext": b"plain"}

    kms = RecordingKms()
    for purpose in _purposes():
        SecretBox(kms, "key-id").decrypt(b"ciphertext", shop_id="s1", purpose=purpose)
    assert [c["EncryptionContext"] for c in kms.calls] == [
        {"shop_id": "s1", "purpose": p} for p in _purposes()
    ]
    template_purposes = set().union(*(p for g in GRANTS.values() for _, p in g.kms if p))
    assert template_purposes and template_purposes <= set(_purposes())
    assert _purposes() == (API_SECRET, APIV3_KEY, MERCHANT_KEY, APPSECRET)


# ---------------------------------------------------------------- the operator token


def test_only_the_api_reads_the_operator_token_and_no_function_has_it_in_its_environment() -> None:
    secrets = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == {"OperatorTokenSecret"}
    readers = {name for name, g in GRANTS.items() if g.secrets}
    assert readers == {"ApiFunction"} and GRANTS["ApiFunction"].secrets == secrets
    # Lambda shows environment variables to anyone with lambda:GetFunctionConfiguration: the ARN only.
    environments = {"Globals": TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]}
    environments |= {
        n: (f["Properties"].get("Environment") or {}).get("Variables", {}) for n, f in FUNCTIONS.items()
    }
    token_variables = {
        (where, name) for where, env in environments.items() for name in env if "OPERATOR_TOKEN" in name
    }
    assert token_variables == {("ApiFunction", "FENXIAO_OPERATOR_TOKEN_SECRET_ARN")}
    assert environments["ApiFunction"]["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"] == {"Ref": "OperatorTokenSecret"}
    text = TEMPLATE.read_text()
    assert "{{resolve:secretsmanager" not in text, (
        "a dynamic reference would put the value in the environment"
    )
    no_echo = {name for name, p in TEMPLATE_DOC["Parameters"].items() if p.get("NoEcho")}
    assert not no_echo, f"secrets are generated in Secrets Manager, not passed as parameters: {no_echo}"
    # The outputs name the secret and how to read it, never its value.
    outputs = TEMPLATE_DOC["Outputs"]
    assert outputs["OperatorTokenSecretArn"]["Value"] == {"Ref": "OperatorTokenSecret"}
    command = outputs["OperatorTokenCommand"]["Value"]["Fn::Sub"]
    assert "secretsmanager get-secret-value" in command and "${OperatorTokenSecret}" in command


# ---------------------------------------------------------------- batches and timeouts


def _sqs_sources() -> dict[str, tuple[str, dict[str, Any]]]:
    out = {}
    for name, fn in FUNCTIONS.items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                out[event["Properties"]["Queue"]["Fn::GetAtt"][0]] = (name, event["Properties"])
    return out


def _timeout(function: str) -> int:
    props = FUNCTIONS[function]["Properties"]
    return int(props.get("Timeout") or TEMPLATE_DOC["Globals"]["Function"]["Timeout"])


def test_chalice_batch_sizes_match_the_template() -> None:
    app = app_module().app
    chalice = {source.queue: source.batch_size for source in app.event_sources if hasattr(source, "queue")}
    template = {queue: int(props["BatchSize"]) for queue, (_, props) in _sqs_sources().items()}
    assert chalice == template


def test_every_queue_outlives_its_function_and_the_payout_batch_fits_its_timeout() -> None:
    from fenxiao.adapters.wechatpay_transfer import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS

    for queue, (function, _) in _sqs_sources().items():
        visibility = int(RESOURCES[queue]["Properties"]["VisibilityTimeout"])
        assert visibility >= _timeout(function), (queue, visibility, function)

    function, props = _sqs_sources()["PayoutQueue"]
    calls_per_message = 3  # query, create, query again (service.payouts._submit)
    worst = int(props["BatchSize"]) * calls_per_message * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)
    assert worst <= _timeout(function) / 2, "leave half the timeout to DynamoDB, KMS and retries"
    assert int(RESOURCES["PayoutQueue"]["Properties"]["VisibilityTimeout"]) >= 6 * _timeout(function)


# ---------------------------------------------------------------- API Gateway's own answers


def _gateway_bodies() -> dict[str, dict[str, Any]]:
    responses = RESOURCES["FenxiaoApi"]["Properties"]["GatewayResponses"]
    out = {}
    for kind, spec in responses.items():
        text = spec["ResponseTemplates"]["application/json"]
        # $context.error.messageString is API Gateway's message, already a quoted JSON string
        out[kind] = json.loads(text.replace("$context.error.messageString", '"gateway message"'))
    return out


def test_gateway_answers_are_in_the_spec_shape_with_accurate_codes() -> None:
    bodies = _gateway_bodies()
    for kind, body in bodies.items():
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) <= {
            "code",
            "message",
            "field",
        }, kind
        assert re.fullmatch(r"[a-z_]+", body["error"]["code"]), kind
    codes = {kind: body["error"]["code"] for kind, body in bodies.items()}
    assert (
        codes["REQUEST_TOO_LARGE"] == "body_too_large"
        and bodies["REQUEST_TOO_LARGE"]["error"]["field"] == "body"
    )
    assert codes["THROTTLED"] == "throttled"
    assert codes["ACCESS_DENIED"] == "forbidden" and codes["WAF_FILTERED"] == "forbidden"
    assert codes["MISSING_AUTHENTICATION_TOKEN"] == "not_found"  # API Gateway's answer to an unknown route
    assert [k for k, c in codes.items() if c == "not_found"] == ["MISSING_AUTHENTICATION_TOKEN"]
    assert codes["DEFAULT_5XX"] == "unavailable"


# ---------------------------------------------------------------- business alarms


def test_business_alarms_watch_metrics_the_code_emits() -> None:
    service = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    source = "\n".join(p.read_text() for p in (ROOT / "shared" / "fenxiao").rglob("*.py"))
    emitted = set(re.findall(r"\bcount\(\s*\"(\w+)\"", source))
    alarms = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "Fenxiao"
    }
    assert {"PayoutAfterFinal", "AuditDifferences"} <= set(alarms)
    for metric, alarm in alarms.items():
        assert metric in emitted, f"alarm on {metric}, which no count() emits"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}], metric
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


# ---------------------------------------------------------------- S3


def test_only_the_api_reaches_the_media_bucket_and_only_its_objects() -> None:
    buckets = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::S3::Bucket"}
    assert buckets == {"MediaBucket"}
    for name in WORKERS:
        assert GRANTS[name].s3 == [], name
        assert "FENXIAO_MEDIA_BUCKET" not in (FUNCTIONS[name]["Properties"].get("Environment") or {}).get(
            "Variables", {}
        )
    # service.centre reads (GET, HEAD) and writes objects; a HEAD of a missing object needs ListBucket.
    assert sorted(GRANTS["ApiFunction"].s3, key=str) == sorted(
        [
            ("s3:GetObject", {"Fn::Sub": "${MediaBucket.Arn}/*"}),
            ("s3:PutObject", {"Fn::Sub": "${MediaBucket.Arn}/*"}),
            ("s3:ListBucket", {"Fn::GetAtt": ["MediaBucket", "Arn"]}),
        ],
        key=str,
    )
    env = FUNCTIONS["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["FENXIAO_MEDIA_BUCKET"] == {"Ref": "MediaBucket"}
    media = (ROOT / "shared" / "fenxiao" / "adapters" / "media.py").read_text()
    assert set(re.findall(r"self\.s3\.(\w+)\(", media)) == {
        "head_object",
        "get_object",
        "put_object",
        "generate_presigned_url",
    }


def test_the_media_bucket_is_private_encrypted_and_expires_posters() -> None:
    bucket = RESOURCES["MediaBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert "posters/" in expiring and "codes/" not in expiring

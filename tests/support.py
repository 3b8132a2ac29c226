"""Test support: the stack from template.yaml on moto in-process, the app, signed shop requests."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
OPERATOR_TOKEN = "test-operator-token-0123456789abcdef"

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


def create_stack(region: str = "us-east-1") -> dict[str, str]:
    """Create the stack from template.yaml (inside an active moto mock) and return the handlers' env."""
    from fenxiao.adapters.aws import boto3_session
    from fenxiao_local.secret_store import OPERATOR_TOKEN_SECRET, create_secrets
    from fenxiao_local.template import Template

    session = boto3_session(region)
    cf = session.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf.create_stack(StackName="fenxiao-test", TemplateBody=TEMPLATE.read_text())
        described = cf.describe_stacks(StackName="fenxiao-test")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    # moto's CloudFormation skips AWS::SecretsManager::Secret; created as the local stack does.
    secret_arns = create_secrets(
        Template.load(TEMPLATE),
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


_app_module: Any = None


def app_module() -> Any:
    """functions/app.py, imported once by file path (it is the Lambda handler module, not a package)."""
    global _app_module
    if _app_module is None:
        from fenxiao_local.runtime import load_module

        _app_module = load_module(ROOT / "functions" / "app.py", "app")
    return _app_module


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        return self.body["error"]


def _answer(response: Any) -> Answer:
    raw = response.body
    text = raw.decode() if isinstance(raw, bytes) else (raw or "")
    body = json.loads(text) if text else None
    return Answer(response.status_code, body, dict(response.headers))


class Api:
    """The app through chalice.test.Client: operator calls and signed shop calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def operator(
        self, method: str, path: str, body: Any = None, token: str | None = OPERATOR_TOKEN
    ) -> Answer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        raw = b"" if body is None else json.dumps(body).encode()
        return _answer(self.client.http.request(method, path, headers=headers, body=raw))

    def create_shop(self, shop_id: str = "shop1", name: str = "Demo shop") -> ShopCaller:
        answer = self.operator("POST", "/admin/shops", {"shop_id": shop_id, "name": name})
        assert answer.status == 201, answer
        return ShopCaller(self, shop_id, answer.body["api_secret"])


class ShopCaller:
    def __init__(self, api: Api, shop_id: str, secret: str) -> None:
        self.api = api
        self.shop_id = shop_id
        self.secret = secret

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        shop_header: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signed_path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        from fenxiao import clock
        from fenxiao.api.auth import sign

        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        ts = str(int(clock.unix_now()) if timestamp is None else timestamp)
        signature = sign(secret or self.secret, ts, method, signed_path or path, data)
        all_headers = {
            "Content-Type": "application/json",
            "X-Shop-Id": shop_header or self.shop_id,
            "X-Timestamp": ts,
            "X-Signature": signature,
        }
        all_headers.update(headers or {})
        return _answer(self.api.client.http.request(method, path, headers=all_headers, body=data))

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PUT", path, body, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)

    def path(self, rest: str) -> str:
        return f"/shops/{self.shop_id}{rest}"


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)

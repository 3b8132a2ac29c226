"""What a cold Lambda imports before its first event: the handler module must not pull in the table models,
the services, the request, response and settings-document models or Powertools (each is imported on first
use, once per container; the configuration is validated on the first event, by pydantic's core alone). The
timings themselves are a benchmark (tests/bench/test_bench_cold_import.py); this is the structural guard
that keeps them there. The payment notification's own path (service.notify_handlers) must not load the
payout code, the settings documents or the order bodies' models either: it verifies, records and nudges. The
first order message reads the distribution rules (schemas.rules), not the pages' look, posters, mini-program
or WeChat Pay models (schemas.settings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.unit

DEFERRED = (
    "fenxiao.adapters.members",
    "fenxiao.adapters.orders",
    "fenxiao.service.reconcile",
    "fenxiao.service.notifications",
    "fenxiao.api.responses",
    "fenxiao.api.models",
    "fenxiao.schemas.settings",
    "fenxiao.schemas.orders",
    "aws_lambda_powertools",
    "pydantic.main",  # pydantic's model machinery: the first body parsed or settings document read loads it
)


def test_importing_the_handler_module_defers_models_services_and_powertools() -> None:
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'functions')!r}); import app; "
        f"print(json.dumps(sorted(m for m in {list(DEFERRED)!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


NOT_ON_THE_NOTIFICATION_PATH = (
    "fenxiao.service.payouts",
    "fenxiao.service.settings",
    "fenxiao.schemas.settings",
    "fenxiao.schemas.orders",
    "fenxiao.api.responses",
    "pydantic.main",  # nothing on it is a pydantic model
    "cryptography.x509",  # the platform certificates' keys are stored beside them, read without X.509
)


def test_the_order_message_path_reads_the_rules_without_the_other_settings_models() -> None:
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'functions')!r}); import app; "
        "import fenxiao.entry.consumers, fenxiao.service.reconcile; "
        "print(json.dumps(['fenxiao.schemas.rules' in sys.modules, 'fenxiao.schemas.settings' in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, False]


def test_the_payment_notification_path_defers_payouts_and_settings_documents() -> None:
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'functions')!r}); import app; "
        "import fenxiao.api.wechatpay, fenxiao.service.notify_handlers, fenxiao.adapters.wechatpay_crypto; "
        f"print(json.dumps(sorted(m for m in {list(NOT_ON_THE_NOTIFICATION_PATH)!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []

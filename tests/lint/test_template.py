"""The template is the single source of truth: it and the code must agree, and SAM must accept it."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fenxiao_local.template import load_template
from tests.support.app import app_module
from tests.support.stack import ROOT, TEMPLATE

pytestmark = pytest.mark.lint


TEMPLATE_DOC = load_template(TEMPLATE)
RESOURCES: dict[str, Any] = TEMPLATE_DOC["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def _api_events() -> set[tuple[str, str]]:
    out = set()
    for fn in FUNCTIONS.values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                out.add((event["Properties"]["Path"], event["Properties"]["Method"].upper()))
    return out


def _chalice_routes() -> set[tuple[str, str]]:
    app = app_module().app
    return {(path, method) for path, entries in app.routes.items() for method in entries}


def test_every_chalice_route_has_its_template_event_and_back() -> None:
    routes, events = _chalice_routes(), _api_events()
    assert routes - events == set(), "routes without an Api event in template.yaml"
    assert events - routes == set(), "template Api events without a Chalice route"


def test_every_handler_exists_and_every_entry_point_is_deployed() -> None:
    module = app_module()
    handlers = {fn["Properties"]["Handler"] for fn in FUNCTIONS.values()}
    for handler in handlers:
        name = handler.removeprefix("app.")
        assert hasattr(module, name), f"template Handler {handler} is not defined in functions/app.py"
    source = (ROOT / "functions" / "app.py").read_text()
    declared = {f"app.{m}" for m in re.findall(r"^def (on_\w+)\(", source, flags=re.M)}
    assert declared <= handlers, f"entry points not deployed by template.yaml: {declared - handlers}"


def test_every_sqs_function_reports_batch_item_failures() -> None:
    for name, fn in FUNCTIONS.items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                props = event["Properties"]
                assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
                queue = props["Queue"]["Fn::GetAtt"][0]
                assert "RedrivePolicy" in RESOURCES[queue]["Properties"], f"{queue} has no DLQ"
            if event["Type"] == "Schedule":
                assert event["Properties"]["Schedule"].startswith(("rate(", "cron(")), name


def test_every_table_and_queue_is_wired_to_settings() -> None:
    from fenxiao.config import Settings

    settings_fields = dataclasses.fields(Settings)
    env = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]
    fields = {f.name for f in settings_fields}
    for name in env:
        if name.startswith("FENXIAO_"):
            assert name.removeprefix("FENXIAO_").lower() in fields, f"{name} is not a Settings field"
    referenced = {v["Ref"] for v in env.values() if isinstance(v, dict) and "Ref" in v}
    for logical, resource in RESOURCES.items():
        if resource["Type"] == "AWS::DynamoDB::Table" or (
            resource["Type"] == "AWS::SQS::Queue" and not logical.endswith("DLQ")
        ):
            assert logical in referenced, f"{logical} is not given to the functions"
    required = {f.name for f in settings_fields if f.default is dataclasses.MISSING}
    given = {n.removeprefix("FENXIAO_").lower() for n in env}
    assert required <= given, f"settings without a template variable: {required - given}"


def test_every_index_the_code_queries_is_in_the_template() -> None:
    from pynamodb.indexes import GlobalSecondaryIndex

    import fenxiao.adapters

    declared = {
        gsi["IndexName"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::DynamoDB::Table"
        for gsi in r["Properties"].get("GlobalSecondaryIndexes", [])
    }
    table_modules = [
        importlib.import_module(f"fenxiao.adapters.{m.name}")
        for m in pkgutil.iter_modules(fenxiao.adapters.__path__)
    ]
    used = {
        obj.Meta.index_name
        for module in table_modules
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, GlobalSecondaryIndex) and obj is not GlobalSecondaryIndex
    }
    assert "DueCommissions" in used and "BoardRanking" in used  # every table module was read
    assert used == declared


def test_sam_validate_lint_passes() -> None:
    sam = ROOT / ".tools" / "sam" / "bin" / "sam"
    assert sam.exists(), "the SAM CLI venv is missing: run `python3 dev.py test`, which creates .tools/sam"
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=Path(ROOT),
        env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".tools")},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def _cfn_lint_serverless(*args: str) -> subprocess.CompletedProcess[str]:
    cfn_lint = ROOT / ".tools" / "sam" / "bin" / "cfn-lint"
    assert cfn_lint.exists(), (
        "the SAM CLI venv is missing: run `python3 dev.py test`, which creates .tools/sam"
    )
    return subprocess.run(
        [str(cfn_lint), "--append-rules", "cfn_lint_serverless.rules", *args],
        capture_output=True,
        text=True,
        cwd=Path(ROOT),
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".tools")},
        timeout=300,
        check=False,
    )


def test_aws_serverless_rules_find_no_error() -> None:
    """AWS's serverless rules (cfn-lint-serverless): no error-level finding. A finding that does not apply is
    suppressed on its resource (Metadata cfn-lint ignore_checks) with the reason beside it; warnings are
    printed (pytest -rP shows them)."""
    listed = _cfn_lint_serverless("--list-rules")
    assert "ES4000" in listed.stdout, "the serverless rules did not load: " + listed.stdout + listed.stderr
    result = _cfn_lint_serverless("--format", "json", "--", str(TEMPLATE))
    # cfn-lint exits 0 (clean), 2 (errors), 4 (warnings), 6 (both); anything else is a crash.
    assert result.returncode in {0, 2, 4, 6}, result.stdout + result.stderr
    findings = json.loads(result.stdout or "[]")

    def line(f: dict[str, Any]) -> str:
        where = f"{f['Location']['Start']['LineNumber']}"
        return f"{f['Rule']['Id']} template.yaml:{where} {f['Message']}"

    for finding in findings:
        if finding["Level"] != "Error":
            print("serverless rules warning:", line(finding))
    errors = [line(f) for f in findings if f["Level"] == "Error"]
    assert not errors, "\n".join(errors)


def _arn_of(value: Any) -> str:
    """The resource whose Arn ``!GetAtt X.Arn`` names."""
    assert isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn", value
    return str(value["Fn::GetAtt"][0])


def _queue_of(arn: Any) -> str:
    queue = _arn_of(arn)
    assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue", queue
    return queue


def test_every_timer_keeps_its_failures_in_a_dead_letter_queue() -> None:
    """A timer's event that EventBridge cannot deliver and an invocation that fails Lambda's retries both
    land in an alarmed queue, instead of being lost (a weekly rollover would otherwise wait a week)."""
    timers = _events_of("Schedule")
    assert timers
    queues = set()
    for name, fn, props in timers:
        queue = _queue_of((props.get("DeadLetterConfig") or {}).get("Arn"))
        on_failure = fn.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        assert on_failure.get("Type") == "SQS", f"{name}: no on-failure destination"
        assert _queue_of(on_failure.get("Destination")) == queue, name
        assert fn["EventInvokeConfig"].get("MaximumRetryAttempts", 2) >= 1, name
        queues.add(queue)
    for queue in queues:
        assert queue.endswith("DLQ"), f"{queue}: the DLQ alarm and the dashboard find DLQs by name"
        assert RESOURCES[queue]["Properties"]["MessageRetentionPeriod"] == 1209600, queue
        # EventBridge sends through the queue's policy (the function's destination through its role).
        statements = [
            s
            for r in RESOURCES.values()
            if r["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": queue} in r["Properties"]["Queues"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Allow"
            and s["Principal"] == {"Service": "events.amazonaws.com"}
            and s["Action"] == "sqs:SendMessage"
            and s["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
            and s.get("Condition")
            for s in statements
        ), f"{queue}: no policy lets this account's EventBridge rules send to it"
        assert queue not in str(TEMPLATE_DOC["Globals"]), f"{queue} is not for the handlers to use"
        assert f"${{{queue}.QueueName}}" in RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]


def _parameter_with_default(ref: Any) -> dict[str, Any]:
    assert isinstance(ref, dict) and set(ref) == {"Ref"}, ref
    parameter = TEMPLATE_DOC["Parameters"][ref["Ref"]]
    assert "Default" in parameter, f"{ref['Ref']}: `sam deploy --guided` needs a default"
    return dict(parameter)


def test_the_api_stage_logs_every_request_and_throttles_by_default() -> None:
    props = RESOURCES["FenxiaoApi"]["Properties"]
    access_log = props["AccessLogSetting"]
    group = _arn_of(access_log["DestinationArn"])
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[group]["Properties"]["RetentionInDays"] > 0
    # One JSON object per request, carrying the request id the function logs as api_request_id.
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", access_log["Format"]))
    assert access_log["Format"].count("$context.requestId") == 1 and "api_request_id" in line
    assert {"status", "ip", "path", "latency_ms"} <= set(line)
    # API Gateway writes logs through the account's CloudWatch role, set before the stage exists.
    assert RESOURCES["FenxiaoApi"]["DependsOn"] == "ApiGatewayAccount"
    role = _arn_of(RESOURCES["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"])
    trust = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert RESOURCES[role]["DeletionPolicy"] == "Retain"

    (default,) = [s for s in props["MethodSettings"] if s["HttpMethod"] == "*" and s["ResourcePath"] == "/*"]
    rate = _parameter_with_default(default["ThrottlingRateLimit"])
    burst = _parameter_with_default(default["ThrottlingBurstLimit"])
    assert rate["Type"] == burst["Type"] == "Number"
    assert 0 < rate["Default"] <= burst["Default"] <= 5000, "defaults within API Gateway's account limits"


def test_the_payout_worker_has_concurrency_of_its_own_that_its_poller_respects() -> None:
    """A flood of API or job invocations cannot take the account's concurrency from payouts; the poller
    never starts more than the reservation, so throttling never pushes a withdrawal into the DLQ."""
    props = FUNCTIONS["PayoutWorkerFunction"]["Properties"]
    reserved = props["ReservedConcurrentExecutions"]
    condition, when_on, when_off = reserved["Fn::If"]
    parameter = _parameter_with_default(when_on)
    assert when_off == {"Ref": "AWS::NoValue"}
    assert TEMPLATE_DOC["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [when_on, "0"]}]}
    assert parameter["Default"] >= 2 and parameter["MinValue"] == 0
    ((_, _, event),) = [e for e in _events_of("SQS") if e[0] == "PayoutWorkerFunction"]
    assert event["ScalingConfig"] == {
        "Fn::If": [condition, {"MaximumConcurrency": when_on}, {"Ref": "AWS::NoValue"}]
    }


def test_every_dlq_and_function_has_an_alarm() -> None:
    alarms = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched_queues = {
        d["Value"]["Fn::GetAtt"][0] for a in alarms for d in a["Dimensions"] if d["Name"] == "QueueName"
    }
    watched_functions = {
        d["Value"]["Ref"] for a in alarms for d in a["Dimensions"] if d["Name"] == "FunctionName"
    }
    dlqs = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue" and name.endswith("DLQ")}
    assert dlqs and dlqs == watched_queues
    assert set(FUNCTIONS) == watched_functions
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def _events_of(kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(function logical id, function properties, event properties) of every event of that type."""
    return [
        (name, fn["Properties"], event["Properties"])
        for name, fn in FUNCTIONS.items()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == kind
    ]


def test_every_chalice_sqs_handler_matches_its_template_event() -> None:
    """The queue, batch size and partial-batch answers Chalice declares are the ones SAM deploys (and the
    local poller reads from the template), so the decorator cannot drift from what runs."""
    from chalice.app import SQSEventConfig

    declared = {e.handler_string: e for e in app_module().app.event_sources if isinstance(e, SQSEventConfig)}
    deployed: dict[str, list[dict[str, Any]]] = {}
    for _, fn, props in _events_of("SQS"):
        deployed.setdefault(fn["Handler"], []).append(props)
    assert set(declared) == set(deployed), "Chalice SQS handlers and template SQS events differ"
    for handler, config in declared.items():
        (props,) = deployed[handler]  # one queue per consumer
        queue = props["Queue"]["Fn::GetAtt"]
        assert queue == [config.queue, "Arn"], (
            f"{handler}: Chalice reads {config.queue}, the template {queue}"
        )
        assert RESOURCES[config.queue]["Type"] == "AWS::SQS::Queue"
        assert props.get("BatchSize") == config.batch_size, (
            f"{handler}: batch_size {config.batch_size} in functions/app.py, BatchSize "
            f"{props.get('BatchSize')} in template.yaml"
        )
        assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], handler
        window = props.get("MaximumBatchingWindowInSeconds", 0)
        assert window == config.maximum_batching_window_in_seconds, handler


def test_every_schedule_runs_a_registered_job() -> None:
    from fenxiao.service import jobs

    registered = set(jobs.JOBS)
    schedules = _events_of("Schedule")
    assert schedules, "the template has no timers"
    for name, fn, props in schedules:
        assert fn["Handler"] == "app.on_schedule", f"{name}: timers go to app.on_schedule"
        job = json.loads(props["Input"])["job"]
        assert job in registered, f"{name} schedules job {job!r}; registered jobs: {sorted(registered)}"


def test_the_readme_lists_every_deploy_parameter() -> None:
    """`sam deploy --guided` asks for every template parameter; the README's table explains each one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploying to AWS", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
    assert listed == set(TEMPLATE_DOC["Parameters"]), (
        "README's deploy parameter table and template.yaml differ"
    )

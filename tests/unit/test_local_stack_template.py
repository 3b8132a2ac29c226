"""How the local stack reads template.yaml: short tags, event sources, parameters, intrinsic functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenxiao_local.template import Intrinsics, Template, TemplateError, load_template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def test_short_tags_load_as_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      R: !Ref B\n"
        "      G: !GetAtt B.Arn\n"
        "      G2: !GetAtt [B, QueueName]\n"
        "      S: !Sub arn:${AWS::Partition}:sqs:${B.QueueName}\n"
        "      J: !Join ['-', [a, !Ref B]]\n"
        "      I: !If [Cond, 1, 2]\n"
        "      P: &shared [1, 2]\n"
        "      Q: *shared\n"
    )
    props = load_template(path)["Resources"]["A"]["Properties"]
    assert props["R"] == {"Ref": "B"}
    assert props["G"] == {"Fn::GetAtt": ["B", "Arn"]}
    assert props["G2"] == {"Fn::GetAtt": ["B", "QueueName"]}
    assert props["S"] == {"Fn::Sub": "arn:${AWS::Partition}:sqs:${B.QueueName}"}
    assert props["J"] == {"Fn::Join": ["-", ["a", {"Ref": "B"}]]}
    assert props["I"] == {"Fn::If": ["Cond", 1, 2]}
    assert props["Q"] == [1, 2]

    resolver = Intrinsics(
        ref=lambda name: {"B": "queue-url", "AWS::Partition": "aws"}[name],
        get_att=lambda logical_id, attribute: f"{logical_id}.{attribute}!",
    )
    assert resolver.resolve(props["S"]) == "arn:aws:sqs:B.QueueName!"
    assert resolver.resolve(props["J"]) == "a-queue-url"
    assert resolver.resolve({"Fn::Sub": ["${x}/${!literal}", {"x": {"Ref": "B"}}]}) == "queue-url/${literal}"
    with pytest.raises(TemplateError, match="Fn::If"):
        resolver.resolve(props["I"])


def test_event_sources_of_the_template(template: Template) -> None:
    sqs = {s.queue_logical_id: s for s in template.sqs_sources()}
    assert set(sqs) == {"OrderEventsQueue", "BindingEventsQueue", "PayoutQueue", "JobsQueue"}
    assert sqs["OrderEventsQueue"].function.handler == "app.on_order_event"
    assert sqs["OrderEventsQueue"].batch_size == 10
    assert sqs["PayoutQueue"].batch_size == 1  # one withdrawal per invocation (its WeChat Pay calls)
    assert sqs["JobsQueue"].function.timeout_seconds == 900
    assert all(s.report_batch_item_failures for s in sqs.values())

    timers = {s.event_name: s for s in template.schedule_sources()}
    assert timers["WeeklyRolloverTimer"].expression == "cron(0 16 ? * SUN *)"
    assert timers["AuditTimer"].input == {"job": "audit"}
    assert {s.function.handler for s in timers.values()} == {"app.on_schedule"}

    routes = template.api_routes()
    assert ("/shops/{shop_id}/settings/distribution", "PUT") in {(r.path, r.method) for r in routes}
    assert {r.function.handler for r in routes} == {"app.app"}
    api = template.api_function()
    assert api is not None and template.handler_file(api) == ROOT / "functions" / "app.py"
    assert api.memory_mb == 512 and api.timeout_seconds == 30  # from Globals


def test_globals_environment_is_the_handlers_environment(template: Template) -> None:
    env = template.global_environment()
    assert env["FENXIAO_SHOPS_TABLE"] == {"Ref": "ShopsTable"}
    assert not any("OPERATOR_TOKEN" in name for name in env)  # only the API function has the secret's ARN
    api = template.api_function()
    assert api is not None
    assert api.environment["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"] == {"Ref": "OperatorTokenSecret"}
    assert env["FENXIAO_ALLOW_CLOCK_OVERRIDE"] == "false"


def test_parameters_are_checked_like_cloudformation_does(template: Template, tmp_path: Path) -> None:
    values = template.parameter_values({"LogLevel": "DEBUG"})
    assert values["LogLevel"] == "DEBUG" and values["ApiBasePath"] == ""
    assert template.parameter_values({})["LogLevel"] == "INFO"  # `sam deploy --guided` needs no value
    with pytest.raises(TemplateError, match="LogLevel"):
        template.parameter_values({"LogLevel": "LOUD"})
    with pytest.raises(TemplateError, match="unknown parameters: Nope"):
        template.parameter_values({"Nope": "x"})
    path = tmp_path / "t.yaml"
    path.write_text("Parameters:\n  Token: {Type: String, MinLength: 32}\nResources: {}\n")
    with pytest.raises(TemplateError, match="Token: at least 32"):
        Template.load(path).parameter_values({"Token": "short"})
    with pytest.raises(TemplateError, match="Token"):
        Template.load(path).parameter_values({})


def test_gateway_response_body_from_the_template(template: Template) -> None:
    body = template.gateway_response_body("MISSING_AUTHENTICATION_TOKEN", 403)
    assert body is not None and '"not_found"' in body
    five = template.gateway_response_body("INTEGRATION_FAILURE", 504)
    assert five is not None and '"unavailable"' in five

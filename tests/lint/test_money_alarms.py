"""The money and trust metrics of SPEC §10 each have an alarm on the alarm topic."""

from __future__ import annotations

import pytest

from tests.lint.test_template import RESOURCES

pytestmark = pytest.mark.lint


@pytest.mark.parametrize("metric", ["BillMismatch", "TrustSettingsChanged", "PayoutAfterFinal"])
def test_the_metric_is_alarmed(metric: str) -> None:
    alarms = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == metric
    ]
    assert len(alarms) == 1, metric
    alarm = alarms[0]
    assert alarm["Namespace"] == "Fenxiao"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "fenxiao-svc"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]

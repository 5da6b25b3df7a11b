"""The stage's alarms, their SNS topic and its CloudWatch dashboard, for the packaged template.

Every xtimer metric they name comes from chalicelib.observability.catalog (by its constant, so
a renamed or removed metric fails at import and in tests/component/test_observability.py, not
in an alarm that never fires); the others are AWS's own (AWS/Lambda, AWS/SQS). Dimensions are
those the EMF sink writes: Stage and Function.

Parameters of the stack: AlarmEmail (optional: an e-mail subscription to the topic, confirmed
by a link AWS mails), LatenessP99ThresholdMs and OldestFireAgeSeconds.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.observability import catalog
from chalicelib.observability.catalog import NAMESPACE, Metric
from xtimer_deploy.stage import Stage

TOPIC = "AlarmTopic"
EMAIL_CONDITION = "HasAlarmEmail"

PARAMETERS: dict[str, dict[str, Any]] = {
    "AlarmEmail": {"Type": "String", "Default": "",
                   "Description": "An e-mail address the alarms are sent to (empty: none; subscribe to the topic "
                                  "yourself). AWS mails a confirmation link first."},
    "LatenessP99ThresholdMs": {"Type": "Number", "Default": 1000, "MinValue": 1,
                               "Description": "Alarm when the callbacks' p99 lateness is above this, in ms."},
    "OldestFireAgeSeconds": {"Type": "Number", "Default": 1800, "MinValue": 60,
                             "Description": "Alarm when a message has been in the fire queue this long, in s "
                                            "(fires are sent up to 10 minutes ahead, retries wait up to 5)."},
}


def _ours(metric: Metric, stage: Stage) -> list[dict[str, str]]:
    return [{"Name": "Stage", "Value": stage.name}, {"Name": "Function", "Value": metric.function.value}]


def _alarm(description: str, *, namespace: str, metric_name: str, dimensions: list[dict[str, Any]],
           statistic: str, comparison: str, threshold: Any, period: int = 300, periods: int = 1,
           datapoints: int | None = None, missing: str = "notBreaching") -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric_name, "Dimensions": dimensions,
        "Period": period, "EvaluationPeriods": periods, "DatapointsToAlarm": datapoints or periods,
        "ComparisonOperator": comparison, "Threshold": threshold, "TreatMissingData": missing,
        "AlarmActions": [{"Ref": TOPIC}], "OKActions": [{"Ref": TOPIC}],
    }
    if statistic.startswith("p"):
        properties["ExtendedStatistic"] = statistic
    else:
        properties["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def alarms(stage: Stage) -> dict[str, dict[str, Any]]:
    names = stage.names()
    found: dict[str, dict[str, Any]] = {
        "DeadLetterQueueAlarm": _alarm(
            f"Fires of {stage.name} are on the dead-letter queue: they failed for good (docs/operations.md).",
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions=[{"Name": "QueueName", "Value": names["dead_letter_queue"]}],
            statistic="Maximum", comparison="GreaterThanOrEqualToThreshold", threshold=1),
        "FireQueueAgeAlarm": _alarm(
            f"A message has waited in {stage.name}'s fire queue too long: is the worker keeping up?",
            namespace="AWS/SQS", metric_name="ApproximateAgeOfOldestMessage",
            dimensions=[{"Name": "QueueName", "Value": names["fire_queue"]}],
            statistic="Maximum", comparison="GreaterThanThreshold", threshold={"Ref": "OldestFireAgeSeconds"},
            period=60, periods=5, datapoints=3),
        "TickNotRunningAlarm": _alarm(
            f"{stage.name}'s tick has not finished a run for 3 minutes: no fires are being enqueued.",
            namespace=NAMESPACE, metric_name=catalog.TICK_DURATION.name,
            dimensions=_ours(catalog.TICK_DURATION, stage), statistic="SampleCount",
            comparison="LessThanThreshold", threshold=1, period=60, periods=3, missing="breaching"),
        "LatenessAlarm": _alarm(
            f"{stage.name}'s callbacks leave late: p99 lateness above the threshold.",
            namespace=NAMESPACE, metric_name=catalog.CALLBACK_LATENESS.name,
            dimensions=_ours(catalog.CALLBACK_LATENESS, stage), statistic="p99",
            comparison="GreaterThanThreshold", threshold={"Ref": "LatenessP99ThresholdMs"}, periods=3, datapoints=2),
    }
    for logical_id in ("Worker", "Tick"):
        for metric_name in ("Errors", "Throttles"):
            found[f"{logical_id}{metric_name}Alarm"] = _alarm(
                f"{stage.function_name(logical_id)}: {metric_name.lower()} (its log group says why).",
                namespace="AWS/Lambda", metric_name=metric_name,
                dimensions=[{"Name": "FunctionName", "Value": {"Ref": logical_id}}],
                statistic="Sum", comparison="GreaterThanOrEqualToThreshold", threshold=1)
    return found


def _line(metric: Metric, stage: Stage, stat: str, label: str | None = None) -> list[Any]:
    return [NAMESPACE, metric.name, "Stage", stage.name, "Function", metric.function.value,
            {"stat": stat, "label": label or f"{metric.name} {stat}"}]


def _widget(title: str, lines: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "view": "timeSeries", "stacked": False,
        "period": 60, "stat": stat, "metrics": lines}}


def dashboard_body(stage: Stage) -> dict[str, Any]:
    c, names = catalog, stage.names()
    fires = [c.FIRES_DELIVERED, c.FIRES_FAILED, c.FIRES_RETRIED, c.FIRES_DEAD_LETTERED, c.FIRES_DROPPED,
             c.FIRES_MISSED, c.FIRES_SKIPPED, c.CLAIM_CONFLICTS, c.FIRES_DEFERRED, c.CALLBACKS_SHORT_CIRCUITED]
    functions = stage.function_names()
    return {"widgets": [
        _widget("Fires per minute", [_line(m, stage, "Sum", m.name) for m in fires], 0, 0),
        _widget("Callback lateness (ms)", [_line(c.CALLBACK_LATENESS, stage, s) for s in ("p50", "p99", "Maximum")],
                12, 0, "p99"),
        _widget("Callback duration (ms)", [_line(c.CALLBACK_DURATION, stage, s) for s in ("p50", "p99")], 0, 6, "p99"),
        _widget("Tick", [_line(c.TICK_DURATION, stage, "Maximum", "TickDuration ms"),
                         _line(c.TICK_TIMERS_READ, stage, "Sum", "timers read"),
                         _line(c.TICK_FIRES_ENQUEUED, stage, "Sum", "fires enqueued")], 12, 6),
        _widget("Queues", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names["fire_queue"],
             {"stat": "Maximum", "label": "fire queue visible"}],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", names["fire_queue"],
             {"stat": "Maximum", "label": "fire queue oldest (s)"}],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names["dead_letter_queue"],
             {"stat": "Maximum", "label": "dead-letter queue"}],
        ], 0, 12),
        _widget("Functions: errors and throttles", [
            ["AWS/Lambda", metric_name, "FunctionName", functions[logical_id],
             {"stat": "Sum", "label": f"{logical_id} {metric_name.lower()}"}]
            for logical_id in ("APIHandler", "Tick", "Worker") for metric_name in ("Errors", "Throttles")
        ], 12, 12),
    ]}


def resources(stage: Stage) -> dict[str, dict[str, Any]]:
    """The topic, its optional e-mail subscription, the alarms and the dashboard, by logical id."""
    found: dict[str, dict[str, Any]] = {
        TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{stage.app_name}-{stage.name}-alarms"}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": EMAIL_CONDITION, "Properties": {
            "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}, "TopicArn": {"Ref": TOPIC}}},
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": f"{stage.app_name}-{stage.name}",
            "DashboardBody": {"Fn::Sub": json.dumps(dashboard_body(stage), separators=(",", ":"))}}},
    }
    found.update(alarms(stage))
    return found


def conditions() -> dict[str, Any]:
    return {EMAIL_CONDITION: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}}


def referenced_metrics(template: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric name, dimensions) of every xtimer metric a template's alarms and dashboard name.
    Dimension values that are not plain strings are left out (none of ours are)."""
    found: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for item in template.get("Resources", {}).values():
        properties = item.get("Properties", {})
        if item.get("Type") == "AWS::CloudWatch::Alarm" and properties.get("Namespace") == NAMESPACE:
            found.add((properties["MetricName"],
                       tuple(sorted((d["Name"], d["Value"]) for d in properties["Dimensions"]))))
        if item.get("Type") == "AWS::CloudWatch::Dashboard":
            body = properties["DashboardBody"]
            body = json.loads(body["Fn::Sub"] if isinstance(body, dict) else body)
            for widget in body["widgets"]:
                for line in widget["properties"].get("metrics", []):
                    if line[0] == NAMESPACE:
                        pairs = [x for x in line[2:] if isinstance(x, str)]
                        found.add((line[1], tuple(sorted(zip(pairs[::2], pairs[1::2])))))
    return found

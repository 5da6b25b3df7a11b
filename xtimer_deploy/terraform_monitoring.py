"""The alarms, their SNS topic (with the optional e-mail subscription) and the dashboard, for
`make package-terraform`: translated from the CloudFormation resources xtimer_deploy.monitoring
generates from the metric catalog, so both paths alarm on the same metrics with the same settings.

CloudFormation's stack parameters become Terraform variables (AlarmEmail -> alarm_email, ...);
`Ref`s to them, to the topic and to the functions become Terraform references; an alarm's name,
which CloudFormation makes up, is `<app>-<stage>-<LogicalId>`.
"""
from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.observability.catalog import NAMESPACE
from xtimer_deploy import monitoring
from xtimer_deploy.stage import FUNCTIONS, Stage

TOPIC = "alarms"
SUBSCRIPTION = "alarm_email"
DASHBOARD = "dashboard"
REGION = "${data.aws_region.chalice.name}"  # chalice.tf.json declares data.aws_region.chalice
ALARM_ARGUMENTS = {
    "AlarmDescription": "alarm_description", "Namespace": "namespace", "MetricName": "metric_name",
    "Period": "period", "EvaluationPeriods": "evaluation_periods", "DatapointsToAlarm": "datapoints_to_alarm",
    "ComparisonOperator": "comparison_operator", "Threshold": "threshold", "TreatMissingData": "treat_missing_data",
    "Statistic": "statistic", "ExtendedStatistic": "extended_statistic", "AlarmActions": "alarm_actions",
    "OKActions": "ok_actions",
}
"""AWS::CloudWatch::Alarm property -> aws_cloudwatch_metric_alarm argument (Dimensions apart)."""


class Untranslatable(ValueError):
    """A CloudFormation construct this module has no Terraform for (add it here)."""


def variable_name(parameter: str) -> str:
    """LatenessP99ThresholdMs -> lateness_p99_threshold_ms."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).lower()


def variables() -> dict[str, dict[str, Any]]:
    found = {}
    for name, parameter in monitoring.PARAMETERS.items():
        kind = {"String": "string", "Number": "number"}[parameter["Type"]]
        found[variable_name(name)] = {"type": kind, "default": parameter["Default"],
                                      "description": parameter["Description"]}
    return found


def _value(value: Any) -> Any:
    """A CloudFormation value with its Refs as Terraform references."""
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        if set(value) != {"Ref"}:
            raise Untranslatable(f"no Terraform for {value!r}")
        ref = value["Ref"]
        if ref in monitoring.PARAMETERS:
            return f"${{var.{variable_name(ref)}}}"
        if ref == monitoring.TOPIC:
            return f"${{aws_sns_topic.{TOPIC}.arn}}"
        if ref in FUNCTIONS:
            return f"${{aws_lambda_function.{FUNCTIONS[ref]}.function_name}}"
        raise Untranslatable(f"no Terraform for a Ref to {ref!r}")
    return value


def _alarm(stage: Stage, logical_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(properties) - set(ALARM_ARGUMENTS) - {"Dimensions"})
    if unknown:
        raise Untranslatable(f"{logical_id}: no aws_cloudwatch_metric_alarm argument for {unknown}")
    alarm = {"alarm_name": f"{stage.app_name}-{stage.name}-{logical_id}"}
    alarm.update({ALARM_ARGUMENTS[k]: _value(v) for k, v in properties.items() if k != "Dimensions"})
    alarm["dimensions"] = {d["Name"]: _value(d["Value"]) for d in properties["Dimensions"]}
    return alarm


def resources(stage: Stage) -> dict[str, dict[str, Any]]:
    """The Terraform resources by type and name, from xtimer_deploy.monitoring's."""
    found: dict[str, dict[str, Any]] = {"aws_sns_topic": {}, "aws_sns_topic_subscription": {},
                                        "aws_cloudwatch_metric_alarm": {}, "aws_cloudwatch_dashboard": {}}
    for logical_id, item in monitoring.resources(stage).items():
        kind, properties = item["Type"], item["Properties"]
        if kind == "AWS::SNS::Topic":
            found["aws_sns_topic"][TOPIC] = {"name": properties["TopicName"]}
        elif kind == "AWS::SNS::Subscription":
            if item.get("Condition") != monitoring.EMAIL_CONDITION:
                raise Untranslatable(f"{logical_id}: a subscription without the e-mail condition")
            found["aws_sns_topic_subscription"][SUBSCRIPTION] = {
                "count": "${var.alarm_email == \"\" ? 0 : 1}", "protocol": properties["Protocol"],
                "endpoint": _value(properties["Endpoint"]), "topic_arn": _value(properties["TopicArn"])}
        elif kind == "AWS::CloudWatch::Alarm":
            found["aws_cloudwatch_metric_alarm"][logical_id] = _alarm(stage, logical_id, properties)
        elif kind == "AWS::CloudWatch::Dashboard":
            body = properties["DashboardBody"]["Fn::Sub"]
            if re.sub(r"\$\{AWS::Region\}", "", body).count("${"):
                raise Untranslatable(f"{logical_id}: a substitution other than AWS::Region")
            found["aws_cloudwatch_dashboard"][DASHBOARD] = {
                "dashboard_name": properties["DashboardName"], "dashboard_body": body.replace("${AWS::Region}", REGION)}
        else:
            raise Untranslatable(f"{logical_id}: no Terraform for {kind}")
    return found


def referenced_metrics(config: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric name, dimensions) of every xtimer metric a Terraform configuration's alarms and
    dashboard name, as xtimer_deploy.monitoring.referenced_metrics finds them in a template."""
    found: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    items = config.get("resource", {})
    for alarm in items.get("aws_cloudwatch_metric_alarm", {}).values():
        if alarm.get("namespace") == NAMESPACE:
            found.add((alarm["metric_name"], tuple(sorted(alarm["dimensions"].items()))))
    for dashboard in items.get("aws_cloudwatch_dashboard", {}).values():
        for widget in json.loads(dashboard["dashboard_body"])["widgets"]:
            for line in widget["properties"].get("metrics", []):
                if line[0] == NAMESPACE:
                    pairs = [x for x in line[2:] if isinstance(x, str)]
                    found.add((line[1], tuple(sorted(zip(pairs[::2], pairs[1::2])))))
    return found

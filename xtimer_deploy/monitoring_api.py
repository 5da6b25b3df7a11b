"""`make deploy`'s alarms, topic and dashboard: xtimer_deploy.monitoring's CloudFormation
resources, made through the CloudWatch and SNS APIs for stages deployed with `chalice deploy`.

The same definitions as the packaged template, with its references resolved here: a function's
`Ref` is its name, the topic's is its ARN, a parameter's is the value given or its default, and
`${AWS::Region}` is the session's region. Alarm names are `<app>-<stage>-<logical id>`. Every
call is an upsert (PutMetricAlarm, PutDashboard, CreateTopic and Subscribe are idempotent), so a
second deploy changes nothing; `remove` deletes what `apply` made.
"""
from __future__ import annotations

from typing import Any

import boto3

from xtimer_deploy import monitoring
from xtimer_deploy.stage import FUNCTIONS, Stage


def alarm_name(stage: Stage, logical_id: str) -> str:
    return f"{stage.app_name}-{stage.name}-{logical_id}"


def _resolve(value: Any, refs: dict[str, Any], region: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            return value["Fn::Sub"].replace("${AWS::Region}", region)
        return {key: _resolve(item, refs, region) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, refs, region) for item in value]
    return value


def apply(stage: Stage, session: boto3.session.Session, *, email: str | None = None,
          parameters: dict[str, Any] | None = None) -> list[str]:
    """Create or update the topic, the e-mail subscription (if `email`), the alarms and the
    dashboard; returns what was done, one line each."""
    sns, cloudwatch = session.client("sns"), session.client("cloudwatch")
    resources = monitoring.resources(stage)
    topic = sns.create_topic(Name=resources[monitoring.TOPIC]["Properties"]["TopicName"])["TopicArn"]
    done = [f"topic {topic}"]
    refs: dict[str, Any] = {name: spec["Default"] for name, spec in monitoring.PARAMETERS.items()}
    refs.update(parameters or {})
    refs.update({logical_id: stage.function_name(logical_id) for logical_id in FUNCTIONS})
    refs[monitoring.TOPIC] = topic
    if email:
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=email)
        done.append(f"e-mail subscription {email} (AWS mails a confirmation link)")
    for logical_id, resource in resources.items():
        properties = _resolve(resource["Properties"], refs, session.region_name)
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            properties["Threshold"] = float(properties["Threshold"])
            cloudwatch.put_metric_alarm(AlarmName=alarm_name(stage, logical_id), **properties)
            done.append(f"alarm {alarm_name(stage, logical_id)}")
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            cloudwatch.put_dashboard(**properties)
            done.append(f"dashboard {properties['DashboardName']}")
    return done


def remove(stage: Stage, session: boto3.session.Session) -> list[str]:
    """Delete the alarms, the dashboard and the topic (with its subscriptions) if they exist."""
    sns, cloudwatch = session.client("sns"), session.client("cloudwatch")
    resources = monitoring.resources(stage)
    done: list[str] = []
    alarms = [alarm_name(stage, k) for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"]
    existing = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
    if existing:
        cloudwatch.delete_alarms(AlarmNames=sorted(existing))
        done += [f"alarm {name}" for name in sorted(existing)]
    dashboard = resources["Dashboard"]["Properties"]["DashboardName"]
    if any(d["DashboardName"] == dashboard
           for d in cloudwatch.list_dashboards(DashboardNamePrefix=dashboard).get("DashboardEntries", [])):
        cloudwatch.delete_dashboards(DashboardNames=[dashboard])
        done.append(f"dashboard {dashboard}")
    topic_name = resources[monitoring.TOPIC]["Properties"]["TopicName"]
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1] == topic_name:
                sns.delete_topic(TopicArn=topic["TopicArn"])
                done.append(f"topic {topic['TopicArn']}")
    return done

"""`make deploy`: everything a `chalice deploy` of xtimer needs, in order, safe to run again.

1. the tables and queues (chalicelib.storage.resources.provision: creates what is missing, never
   changes what exists; stops if what exists differs from what the code needs);
2. `chalice deploy --stage <stage>` (the functions, the API, the minute schedule, the SQS trigger);
3. the functions' log groups with the stage's retention (Chalice 1.34 names the API handler's
   after `api_handler`, not after the function, so that one would otherwise be missing);
4. `ReportBatchItemFailures` on the worker's SQS trigger (xtimer_deploy.trigger);
5. the alarms, their SNS topic (and an e-mail subscription if asked) and the dashboard, as the
   packaged template has them (xtimer_deploy.monitoring_api).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import boto3

from chalicelib.storage import resources
from xtimer_deploy import monitoring_api, trigger
from xtimer_deploy.stage import Stage

Echo = Callable[[str], None]


class DeployError(RuntimeError):
    """A deployment step cannot go on; the message says what to do."""


def aws_session(profile: str | None = None, region: str | None = None) -> boto3.session.Session:
    region = region or os.environ.get("AWS_REGION") or None  # botocore itself reads only AWS_DEFAULT_REGION
    session = boto3.session.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise DeployError("no AWS region: set AWS_REGION (or a region in your AWS profile), or pass --region")
    return session


def identity(session: boto3.session.Session) -> str:
    """'account 123456789012, region us-east-1' (also checks that the credentials work)."""
    account = session.client("sts").get_caller_identity()["Account"]
    return f"account {account}, region {session.region_name}"


def provision(stage: Stage, session: boto3.session.Session) -> tuple[list[str], list[str]]:
    """Create the stage's missing tables and queues; returns (what was created, differences of
    what exists from what the code needs)."""
    with stage.active():
        dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
        created = resources.provision(dynamodb, sqs)
        return created, resources.differences(dynamodb, sqs)


def log_retention_days(stage: Stage) -> int | None:
    from xtimer_deploy.stage import read_config

    value = stage.settings.get("log_retention_in_days", read_config(stage.project_dir).get("log_retention_in_days"))
    return int(value) if value else None


def ensure_log_groups(stage: Stage, logs: Any) -> list[str]:
    """Each function's log group, with the stage's retention; returns what was created or changed."""
    done = []
    retention = log_retention_days(stage)
    for function in stage.function_names().values():
        name = f"/aws/lambda/{function}"
        found = [g for g in logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
                 if g["logGroupName"] == name]
        if not found:
            logs.create_log_group(logGroupName=name)
            done.append(f"log group {name}")
        if retention and (not found or found[0].get("retentionInDays") != retention):
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
            done.append(f"retention {retention} days on {name}")
    return done


def fire_queue_arn(stage: Stage, sqs: Any) -> str:
    name = stage.names()["fire_queue"]
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def enable_partial_batch_failures(stage: Stage, session: boto3.session.Session, *,
                                  sleep: Callable[[float], None] = time.sleep) -> list[trigger.TriggerUpdate]:
    return trigger.report_batch_item_failures(
        session.client("lambda"), stage.function_name("Worker"), fire_queue_arn(stage, session.client("sqs")),
        sleep=sleep)


def deployed_resources(stage: Stage) -> list[dict[str, Any]]:
    """What `chalice deploy` recorded in .chalice/deployed/<stage>.json ([] if nothing)."""
    try:
        return list(json.loads(stage.deployed_file.read_text()).get("resources", []))
    except FileNotFoundError:
        return []


def api_url(stage: Stage) -> str | None:
    for item in deployed_resources(stage):
        if item.get("resource_type") == "rest_api":
            return item.get("rest_api_url")
    return None


def deploy(stage: Stage, session: boto3.session.Session, *, chalice: Callable[[list[str]], None],
           echo: Echo = print, ignore_differences: bool = False,
           sleep: Callable[[float], None] = time.sleep, alarm_email: str | None = None) -> None:
    echo(f"Deploying xtimer stage {stage.name!r} to {identity(session)}")

    echo("1/5 tables and queues")
    created, differences = provision(stage, session)
    for item in created:
        echo(f"    created {item}")
    if not created:
        echo("    all there already")
    for item in differences:
        echo(f"    DIFFERS: {item}")
    if differences and not ignore_differences:
        raise DeployError("what exists differs from what the code needs (above). Deploying does not change "
                          "existing tables or queues: fix them by hand, or pass --ignore-differences.")

    echo(f"2/5 chalice deploy --stage {stage.name}")
    chalice(["deploy", "--stage", stage.name])

    echo("3/5 log groups")
    for item in ensure_log_groups(stage, session.client("logs")) or ["all there already, with their retention"]:
        echo(f"    {item}")

    echo("4/5 the worker's SQS trigger reports partial batch failures")
    for update in enable_partial_batch_failures(stage, session, sleep=sleep):
        echo(f"    {update.uuid}: {'ReportBatchItemFailures set' if update.changed else 'already set'}")

    echo("5/5 alarms, their topic and the dashboard (docs/operations.md)")
    for item in monitoring_api.apply(stage, session, email=alarm_email):
        echo(f"    {item}")

    url = api_url(stage)
    echo(f"Done. API: {url}" if url else f"Done. API URL: `chalice url --stage {stage.name}`")

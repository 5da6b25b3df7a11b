"""`make destroy`: delete a stage deployed with `make deploy`, saying first exactly what goes.

The app (functions, API, schedule, SQS trigger, roles) is deleted with `chalice delete`, which
works from .chalice/deployed/<stage>.json; the alarms, their topic and the dashboard that `make
deploy` made (xtimer_deploy.monitoring_api) are deleted with it. The data (tables, queues with the fires in flight and
the dead letters, log groups) is kept unless asked for, and then only after the stage's name is
typed back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import boto3

from chalicelib.storage import resources
from xtimer_deploy import monitoring_api
from xtimer_deploy.deploy import Echo, deployed_resources
from xtimer_deploy.stage import Stage

_KINDS = {
    "lambda_function": ("function", "lambda_arn"),
    "rest_api": ("REST API", "rest_api_url"),
    "iam_role": ("IAM role", "role_name"),
    "sqs_event": ("SQS trigger of", "queue"),
    "scheduled_event": ("schedule rule", "rule_name"),
    "cloudwatch_event": ("schedule rule", "rule_name"),
    "log_group": ("retention setting of log group", "log_group_name"),
}


@dataclass
class Plan:
    app: list[str] = field(default_factory=list)  # what `chalice delete` deletes
    data: list[str] = field(default_factory=list)  # tables, queues, log groups
    delete_data: bool = False

    def lines(self, stage: Stage) -> list[str]:
        out = [f"`chalice delete --stage {stage.name}` deletes:"]
        out += [f"    {item}" for item in self.app] or [
            f"    nothing: {stage.deployed_file.relative_to(stage.project_dir)} is missing, so Chalice knows of "
            "no deployed resources (deployed from another checkout? copy that file here first)"]
        out.append(f"and the alarms, the topic {stage.app_name}-{stage.name}-alarms and the dashboard "
                   f"{stage.app_name}-{stage.name}, if there")
        if self.delete_data:
            out.append("and then, with everything in them:")
        else:
            out.append("kept (DELETE_DATA=1 or --delete-data deletes them too):")
        out += [f"    {item}" for item in self.data]
        return out


def data_names(stage: Stage) -> tuple[list[str], list[str], list[str]]:
    """The stage's tables, queues and log groups (with the one Chalice 1.34 names after api_handler)."""
    with stage.active():
        tables = [resources.table_definition(model)["TableName"] for model in resources.TABLES.values()]
        queues = [queue.name for queue in resources.queue_definitions()]
    groups = [f"/aws/lambda/{name}" for name in stage.function_names().values()]
    groups.append(f"/aws/lambda/{stage.app_name}-{stage.name}-api_handler")
    return tables, queues, groups


def plan(stage: Stage, delete_data: bool) -> Plan:
    app = []
    for item in deployed_resources(stage):
        kind, key = _KINDS.get(item.get("resource_type", ""), (item.get("resource_type", "resource"), "name"))
        app.append(f"{kind} {item.get(key) or item.get('name')}")
    tables, queues, groups = data_names(stage)
    data = [f"table {t}" for t in tables] + [f"queue {q}" for q in queues] + [f"log group {g}" for g in groups]
    return Plan(app=app, data=data, delete_data=delete_data)


def delete_data(stage: Stage, session: boto3.session.Session) -> list[str]:
    """Delete the stage's tables, queues and log groups that exist; returns what was deleted."""
    deleted = []
    tables, queues, groups = data_names(stage)
    dynamodb, sqs, logs = session.client("dynamodb"), session.client("sqs"), session.client("logs")
    for table in tables:
        try:
            dynamodb.delete_table(TableName=table)
            deleted.append(f"table {table}")
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
    for queue in queues:
        try:
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"])
            deleted.append(f"queue {queue}")
        except sqs.exceptions.QueueDoesNotExist:
            pass
    for group in groups:
        try:
            logs.delete_log_group(logGroupName=group)
            deleted.append(f"log group {group}")
        except logs.exceptions.ResourceNotFoundException:
            pass
    return deleted


def destroy(stage: Stage, session: boto3.session.Session, *, delete_data_too: bool, assume_yes: bool,
            chalice: Callable[[list[str]], None], confirm: Callable[[str], bool], ask: Callable[[str], str],
            echo: Echo = print, where: str = "") -> bool:
    """Show the plan, ask, delete. False if the user said no (nothing was deleted)."""
    the_plan = plan(stage, delete_data_too)
    echo(f"Destroying xtimer stage {stage.name!r}{' in ' + where if where else ''}.")
    for line in the_plan.lines(stage):
        echo(line)
    if not assume_yes:
        if not confirm(f"Delete stage {stage.name!r} as above?"):
            echo("Nothing deleted.")
            return False
        if delete_data_too and ask(f"This deletes every timer and record of {stage.name!r}. "
                                   "Type the stage name to go on").strip() != stage.name:
            echo("That is not the stage name; nothing deleted.")
            return False
    if the_plan.app:
        chalice(["delete", "--stage", stage.name])
    for item in monitoring_api.remove(stage, session):
        echo(f"deleted {item}")
    if delete_data_too:
        for item in delete_data(stage, session):
            echo(f"deleted {item}")
    echo("Done.")
    return True

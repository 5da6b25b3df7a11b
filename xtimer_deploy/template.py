"""The merge template for `chalice package --merge-template`, generated from chalicelib.storage.resources.

Chalice's template has the functions, the API, the schedule and the SQS trigger. This adds:
- the tables (keys, indexes, TTL, on-demand) and the queues (the fire queue's visibility timeout
  and redrive to the dead-letter queue, the DLQ's retention), kept when the stack is deleted;
- `FunctionResponseTypes: [ReportBatchItemFailures]` on the worker's SQS trigger;
- the functions' names as `chalice deploy` gives them, and their log groups' names spelled out
  (Chalice 1.34 refers to the API handler's as `${ApiHandler}`, a resource that does not
  exist), so the roles' log permissions can name the log groups exactly;
- the roles' policy (Chalice makes one role per function), with the tables' and queues' own
  ARNs (xtimer_deploy.iam);
- the alarms, their SNS topic (an optional e-mail subscription by parameter) and the stage's
  CloudWatch dashboard (xtimer_deploy.monitoring, generated from the metric catalog);
- Outputs with every table and queue, the alarm topic and the dashboard.

Chalice merges this into its template key by key (dicts merge, anything else replaces), so
these are the only things it changes. `check_template` verifies the merged result.
"""
from __future__ import annotations

from typing import Any

from chalicelib.storage import resources
from xtimer_deploy import iam, monitoring
from xtimer_deploy.stage import FUNCTIONS, WORKER_TRIGGER, Stage, log_group_id, resource_ids, role_id

KEEP = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
"""Data outlives the stack: deleting or replacing it leaves tables and queues in place."""


def _cfn_value(value: str) -> Any:
    return int(value) if value.isdigit() else value


def data_resources(stage: Stage) -> dict[str, dict[str, Any]]:
    """The tables and queues as CloudFormation resources, by logical id."""
    found: dict[str, dict[str, Any]] = {}
    ids = resource_ids()
    with stage.active():
        for key, model in resources.TABLES.items():
            properties = resources.table_definition(model)
            ttl = resources.ttl_attribute(model)
            if ttl:
                properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
            found[ids[key]] = {"Type": "AWS::DynamoDB::Table", **KEEP, "Properties": properties}
        queues = resources.queue_definitions()
        keys_by_name = {queue.name: queue.key for queue in queues}
        for queue in queues:
            properties = {"QueueName": queue.name,
                          **{name: _cfn_value(value) for name, value in queue.attributes.items()}}
            if queue.dead_letter_queue:
                target = {"Fn::GetAtt": [ids[keys_by_name[queue.dead_letter_queue]], "Arn"]}
                properties["RedrivePolicy"] = resources.redrive_policy(queue, target)
            found[ids[queue.key]] = {"Type": "AWS::SQS::Queue", **KEEP, "Properties": properties}
    return found


def outputs() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, logical_id in resource_ids().items():
        if key in resources.TABLES:
            found[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        else:
            found[f"{logical_id}Url"] = {"Value": {"Ref": logical_id}}
            found[f"{logical_id}Arn"] = {"Value": {"Fn::GetAtt": [logical_id, "Arn"]}}
    for logical_id in FUNCTIONS:
        if logical_id != "APIHandler":  # Chalice outputs APIHandlerName itself
            found[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
    found["AlarmTopicArn"] = {"Value": {"Ref": monitoring.TOPIC}}
    found["DashboardName"] = {"Value": {"Ref": "Dashboard"}}
    return found


def role_policy(stage: Stage) -> dict[str, Any]:
    return iam.policy(stage, iam.CloudFormationArns(resource_ids()))


def merge_template(stage: Stage) -> dict[str, Any]:
    merged: dict[str, Any] = data_resources(stage)
    document = role_policy(stage)
    for logical_id, name in stage.function_names().items():
        merged[logical_id] = {"Properties": {"FunctionName": name}}
        merged[log_group_id(logical_id)] = {"Properties": {"LogGroupName": f"/aws/lambda/{name}"}}
        merged[role_id(logical_id)] = {"Properties": {"Policies": [
            {"PolicyName": f"{role_id(logical_id)}Policy", "PolicyDocument": document},
        ]}}
    merged["Worker"]["Properties"]["Events"] = {
        WORKER_TRIGGER: {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}},
    }
    merged.update(monitoring.resources(stage))
    return {"Parameters": monitoring.PARAMETERS, "Conditions": monitoring.conditions(),
            "Resources": merged, "Outputs": outputs()}


def check_template(template: dict[str, Any], stage: Stage) -> list[str]:
    """What a packaged (merged) template lacks of a working xtimer stage; [] when complete."""
    problems: list[str] = []
    found = template.get("Resources", {})
    names = stage.names()

    def resource(logical_id: str, kind: str) -> dict[str, Any]:
        item = found.get(logical_id)
        if not isinstance(item, dict) or item.get("Type") != kind:
            problems.append(f"{logical_id}: missing, or not a {kind}")
            return {}
        return item.get("Properties", {})

    for logical_id, expected in data_resources(stage).items():
        properties = resource(logical_id, expected["Type"])
        if properties and properties != expected["Properties"]:
            problems.append(f"{logical_id}: properties differ from chalicelib.storage.resources")
    for logical_id, expected in monitoring.resources(stage).items():
        if found.get(logical_id) != expected:
            problems.append(f"{logical_id}: missing, or not xtimer_deploy.monitoring's {expected['Type']}")
    for name in monitoring.PARAMETERS:
        if name not in template.get("Parameters", {}):
            problems.append(f"parameter {name} is missing (xtimer_deploy.monitoring.PARAMETERS)")
    functions = {logical_id: resource(logical_id, "AWS::Serverless::Function") for logical_id in FUNCTIONS}
    extra = sorted(k for k, v in found.items() if v.get("Type") == "AWS::Serverless::Function" and k not in FUNCTIONS)
    if extra:
        problems.append(f"functions {extra} are not in xtimer_deploy.stage.FUNCTIONS: add them there")
    for logical_id, properties in functions.items():
        if properties and properties.get("FunctionName") != stage.function_name(logical_id):
            problems.append(f"{logical_id}: FunctionName is not {stage.function_name(logical_id)}")
    resource("RestAPI", "AWS::Serverless::Api")

    schedules = [event.get("Properties", {}).get("Schedule")
                 for event in functions["Tick"].get("Events", {}).values() if event.get("Type") == "Schedule"]
    if schedules != ["rate(1 minute)"]:
        problems.append(f"Tick: schedule is {schedules}, not ['rate(1 minute)']")
    if functions["Tick"] and functions["Tick"].get("ReservedConcurrentExecutions") != 1:
        problems.append("Tick: reserved concurrency is not 1 (one tick at a time)")

    trigger = functions["Worker"].get("Events", {}).get(WORKER_TRIGGER, {})
    trigger_properties = trigger.get("Properties", {})
    if trigger.get("Type") != "SQS":
        problems.append(f"Worker: no SQS event {WORKER_TRIGGER} (did Chalice rename it? see xtimer_deploy.stage)")
    else:
        queue_arn = trigger_properties.get("Queue")
        queue_arn = queue_arn.get("Fn::Sub") if isinstance(queue_arn, dict) else queue_arn
        if not (isinstance(queue_arn, str) and queue_arn.endswith(f":{names['fire_queue']}")):
            problems.append(f"Worker: the SQS trigger is on {queue_arn}, not on {names['fire_queue']} (was "
                            "`chalice package` run with the stage's XTIMER_STAGE / XTIMER_FIRE_QUEUE?)")
    if trigger_properties.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
        problems.append("Worker: the SQS trigger lacks FunctionResponseTypes [ReportBatchItemFailures]")
    queue = found.get(resource_ids()["fire_queue"], {}).get("Properties", {})
    timeout = functions["Worker"].get("Timeout", 0)
    if queue and not queue.get("VisibilityTimeout", 0) > timeout:
        problems.append(f"FireQueue: visibility timeout {queue.get('VisibilityTimeout')} s is not above the "
                        f"worker's timeout {timeout} s")

    document = role_policy(stage)
    for logical_id, properties in functions.items():
        role = resource(role_id(logical_id), "AWS::IAM::Role")
        if properties and properties.get("Role") != {"Fn::GetAtt": [role_id(logical_id), "Arn"]}:
            problems.append(f"{logical_id}: its role is not {role_id(logical_id)}")
        if [p.get("PolicyDocument") for p in role.get("Policies", [])] != [document]:
            problems.append(f"{role_id(logical_id)}: its policy is not xtimer_deploy.iam's "
                            "(is the merge template applied? is autogen_policy false?)")
        if role.get("ManagedPolicyArns"):
            problems.append(f"{role_id(logical_id)}: has managed policies attached")
        log_group = resource(log_group_id(logical_id), "AWS::Logs::LogGroup")
        if log_group and log_group.get("LogGroupName") != f"/aws/lambda/{stage.function_name(logical_id)}":
            problems.append(f"{log_group_id(logical_id)}: not the log group of {stage.function_name(logical_id)}")
        if log_group and not log_group.get("RetentionInDays"):
            problems.append(f"{log_group_id(logical_id)}: no retention (log_retention_in_days in config.json)")
    return problems

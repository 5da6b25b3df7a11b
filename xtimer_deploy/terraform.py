"""`chalice package --pkg-format terraform`, completed to a whole stage.

Chalice 1.34's Terraform output has the functions, the API, the minute schedule and the SQS
trigger, but no tables or queues, no `ReportBatchItemFailures`, and it pins Terraform below 1.4
and the AWS provider below 5, with a `null_data_source` nothing uses (which needs the null
provider too); it also refuses `log_retention_in_days`. So `package_terraform`:

1. runs `chalice package --pkg-format terraform` on a copy of the project whose config.json lacks
   `log_retention_in_days` (the log groups are declared below instead, with that retention);
2. adapts chalice.tf.json: Terraform >= 1.3 with the AWS provider 5.x, the unused data source
   dropped, the worker's trigger on the fire queue resource with `function_response_types =
   ["ReportBatchItemFailures"]`, each role's policy with the resources' own ARNs
   (xtimer_deploy.iam, TerraformArns), each function after its log group;
3. writes xtimer.tf.json from chalicelib.storage.resources: the tables (keys, indexes, TTL,
   on-demand, `prevent_destroy`), the fire queue with its redrive to the dead-letter queue, the
   log groups, and outputs naming them; and the alarms, their SNS topic (an e-mail subscription
   when `alarm_email` is set) and the dashboard, from the CloudFormation path's own
   (xtimer_deploy.terraform_monitoring);
4. checks the result (`check_terraform`).
`terraform init` and `terraform validate` then accept the directory (tests/e2e/test_deploy_terraform.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.storage import resources
from xtimer_deploy import iam, terraform_monitoring
from xtimer_deploy.chalice_cli import Runner, run_chalice, validate
from xtimer_deploy.stage import FUNCTIONS, Stage, load_stage

CHALICE_TF = "chalice.tf.json"
XTIMER_TF = "xtimer.tf.json"
WORKER_MAPPING = "worker-sqs-event-source"
TICK_RULE = "tick-event"
TERRAFORM = {"required_version": ">= 1.3",
             "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}}}
QUEUE_ARGUMENTS = {"VisibilityTimeout": "visibility_timeout_seconds",
                   "MessageRetentionPeriod": "message_retention_seconds",
                   "ReceiveMessageWaitTimeSeconds": "receive_wait_time_seconds"}
"""SQS attribute -> aws_sqs_queue argument, for every attribute chalicelib.storage.resources sets."""


class TerraformError(RuntimeError):
    """The Terraform output would not make a working stage."""


class TerraformArns:
    """The configuration's own resources' ARNs: Terraform creates the tables and queues first."""

    def table(self, key: str, name: str) -> str:
        return f"${{aws_dynamodb_table.{key}.arn}}"

    def index(self, key: str, name: str, index: str) -> str:
        return f"${{aws_dynamodb_table.{key}.arn}}/index/{index}"

    def queue(self, key: str, name: str) -> str:
        return f"${{aws_sqs_queue.{key}.arn}}"

    def log_group(self, function_name: str) -> str:
        return ("arn:${data.aws_partition.chalice.partition}:logs:${data.aws_region.chalice.name}:"
                f"${{data.aws_caller_identity.chalice.account_id}}:log-group:/aws/lambda/{function_name}:*")


@dataclass(frozen=True)
class TerraformPackage:
    directory: Path
    chalice_tf: Path
    xtimer_tf: Path
    deployment_zip: Path


def role_policy(stage: Stage) -> dict[str, Any]:
    return iam.policy(stage, TerraformArns())


def _table(model: Any) -> dict[str, Any]:
    definition = resources.table_definition(model)

    def keys(schema: list[dict[str, str]]) -> dict[str, str]:
        return {("hash_key" if k["KeyType"] == "HASH" else "range_key"): k["AttributeName"] for k in schema}

    table: dict[str, Any] = {
        "name": definition["TableName"],
        "billing_mode": definition["BillingMode"],
        **keys(definition["KeySchema"]),
        "attribute": [{"name": a["AttributeName"], "type": a["AttributeType"]}
                      for a in definition["AttributeDefinitions"]],
    }
    indexes = []
    for index in definition.get("GlobalSecondaryIndexes", []):
        block = {"name": index["IndexName"], **keys(index["KeySchema"]),
                 "projection_type": index["Projection"]["ProjectionType"]}
        if index["Projection"].get("NonKeyAttributes"):
            block["non_key_attributes"] = index["Projection"]["NonKeyAttributes"]
        indexes.append(block)
    if indexes:
        table["global_secondary_index"] = indexes
    ttl = resources.ttl_attribute(model)
    if ttl:
        table["ttl"] = {"attribute_name": ttl, "enabled": True}
    table["lifecycle"] = {"prevent_destroy": True}  # data outlives the configuration, as Retain does
    return table


def _queues() -> dict[str, dict[str, Any]]:
    found = {}
    definitions = resources.queue_definitions()
    key_by_name = {queue.name: queue.key for queue in definitions}
    for queue in definitions:
        unknown = sorted(set(queue.attributes) - set(QUEUE_ARGUMENTS))
        if unknown:
            raise TerraformError(f"queue {queue.name}: no aws_sqs_queue argument known for {unknown}; "
                                 "add them to QUEUE_ARGUMENTS in xtimer_deploy/terraform.py")
        block: dict[str, Any] = {"name": queue.name,
                                 **{QUEUE_ARGUMENTS[k]: int(v) for k, v in queue.attributes.items()}}
        if queue.dead_letter_queue:
            target = f"${{aws_sqs_queue.{key_by_name[queue.dead_letter_queue]}.arn}}"
            block["redrive_policy"] = json.dumps(resources.redrive_policy(queue, target))
        block["lifecycle"] = {"prevent_destroy": True}
        found[queue.key] = block
    return found


def xtimer_resources(stage: Stage) -> dict[str, Any]:
    """xtimer.tf.json: what the stage needs besides Chalice's part."""
    retention = stage.settings.get("log_retention_in_days")
    with stage.active():
        tables = {key: _table(model) for key, model in resources.TABLES.items()}
        queues = _queues()
    log_groups = {FUNCTIONS[logical_id]: {"name": f"/aws/lambda/{name}", **(
        {"retention_in_days": retention} if retention else {})} for logical_id, name in stage.function_names().items()}
    outputs = {f"{key}_table_name": {"value": f"${{aws_dynamodb_table.{key}.name}}"} for key in tables}
    outputs.update({f"{key}_url": {"value": f"${{aws_sqs_queue.{key}.url}}"} for key in queues})
    outputs["alarm_topic_arn"] = {"value": f"${{aws_sns_topic.{terraform_monitoring.TOPIC}.arn}}"}
    return {"variable": terraform_monitoring.variables(),
            "resource": {"aws_dynamodb_table": tables, "aws_sqs_queue": queues,
                         "aws_cloudwatch_log_group": log_groups, **terraform_monitoring.resources(stage)},
            "output": outputs}


def adapt_chalice(config: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """chalice.tf.json as Chalice wrote it -> the same, for current Terraform and a whole stage."""
    adapted = json.loads(json.dumps(config))
    adapted["terraform"] = TERRAFORM
    adapted.get("data", {}).pop("null_data_source", None)
    found = adapted["resource"]
    mapping = found["aws_lambda_event_source_mapping"][WORKER_MAPPING]
    mapping["event_source_arn"] = "${aws_sqs_queue.fire_queue.arn}"
    mapping["function_response_types"] = ["ReportBatchItemFailures"]
    document = json.dumps(role_policy(stage))
    for name in found["aws_iam_role_policy"]:
        found["aws_iam_role_policy"][name]["policy"] = document
    for name, function in found["aws_lambda_function"].items():
        function["depends_on"] = [f"aws_cloudwatch_log_group.{name}"]  # retention set before it first logs
    return adapted


def _project_copy(stage: Stage, into: Path) -> Stage:
    """The project as `chalice package` reads it, without log_retention_in_days (Chalice refuses it
    for Terraform): app.py, chalicelib, requirements.txt and .chalice/ (config and policy files)."""
    source = stage.project_dir
    shutil.copy2(source / "app.py", into / "app.py")
    shutil.copy2(source / "requirements.txt", into / "requirements.txt")
    shutil.copytree(source / "chalicelib", into / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (into / ".chalice").mkdir()
    for policy in (source / ".chalice").glob("policy-*.json"):
        shutil.copy2(policy, into / ".chalice" / policy.name)
    config = json.loads((source / ".chalice" / "config.json").read_text())
    config.pop("log_retention_in_days", None)
    for settings in config.get("stages", {}).values():
        settings.pop("log_retention_in_days", None)
    (into / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
    return load_stage(stage.name, project_dir=into)


def package_terraform(stage: Stage, out: Path, *, run: Runner = subprocess.run) -> TerraformPackage:
    validate(stage)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (CHALICE_TF, XTIMER_TF, "deployment.zip"):
        (out / stale).unlink(missing_ok=True)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    with tempfile.TemporaryDirectory(prefix="xtimer-terraform-") as scratch:
        copy = _project_copy(stage, Path(scratch))
        run_chalice(["package", "--pkg-format", "terraform", "--stage", stage.name, str(out)], copy,
                    region=region, run=run)
    chalice_path = out / CHALICE_TF
    try:
        chalice_config = json.loads(chalice_path.read_text())
    except FileNotFoundError:
        raise TerraformError(f"chalice package wrote no {chalice_path}") from None
    adapted = adapt_chalice(chalice_config, stage)
    ours = xtimer_resources(stage)
    problems = check_terraform(adapted, ours, stage)
    if problems:
        raise TerraformError(f"{out} would not deploy a working stage:\n  " + "\n  ".join(problems))
    chalice_path.write_text(json.dumps(adapted, indent=2) + "\n")
    (out / XTIMER_TF).write_text(json.dumps(ours, indent=2) + "\n")
    return TerraformPackage(out, chalice_path, out / XTIMER_TF, out / "deployment.zip")


def check_terraform(chalice_config: dict[str, Any], ours: dict[str, Any], stage: Stage) -> list[str]:
    """What the two files lack of a working xtimer stage; [] when complete."""
    problems: list[str] = []
    found: dict[str, dict[str, Any]] = {}
    for config in (chalice_config, ours):
        for kind, items in config.get("resource", {}).items():
            for name, body in items.items():
                if name in found.setdefault(kind, {}):
                    problems.append(f"{kind}.{name} is declared twice")
                found[kind][name] = body
    names = stage.names()
    expected = xtimer_resources(stage)["resource"]
    for kind in ("aws_dynamodb_table", "aws_sqs_queue", "aws_cloudwatch_log_group"):
        for name, body in expected[kind].items():
            if found.get(kind, {}).get(name) != body:
                problems.append(f"{kind}.{name}: missing, or not as chalicelib.storage.resources defines it")
    for kind in ("aws_sns_topic", "aws_sns_topic_subscription", "aws_cloudwatch_metric_alarm", "aws_cloudwatch_dashboard"):
        for name, body in expected[kind].items():
            if found.get(kind, {}).get(name) != body:
                problems.append(f"{kind}.{name}: missing, or not as xtimer_deploy.monitoring defines it")
    declared = set(chalice_config.get("variable", {})) | set(ours.get("variable", {}))
    for name in sorted(set(terraform_monitoring.variables()) - declared):
        problems.append(f"variable {name} (an alarm setting) is not declared")
    functions = found.get("aws_lambda_function", {})
    if set(functions) != set(FUNCTIONS.values()):
        problems.append(f"functions are {sorted(functions)}, not {sorted(FUNCTIONS.values())}")
    for logical_id, key in FUNCTIONS.items():
        function = functions.get(key, {})
        if function and function.get("function_name") != stage.function_name(logical_id):
            problems.append(f"aws_lambda_function.{key}: not named {stage.function_name(logical_id)}")
    if functions.get("tick", {}).get("reserved_concurrent_executions") != 1:
        problems.append("aws_lambda_function.tick: reserved concurrency is not 1 (one tick at a time)")
    rule = found.get("aws_cloudwatch_event_rule", {}).get(TICK_RULE, {})
    if rule.get("schedule_expression") != "rate(1 minute)":
        problems.append(f"aws_cloudwatch_event_rule.{TICK_RULE}: schedule is {rule.get('schedule_expression')!r}, "
                        "not 'rate(1 minute)'")
    mapping = found.get("aws_lambda_event_source_mapping", {}).get(WORKER_MAPPING, {})
    if mapping.get("event_source_arn") != "${aws_sqs_queue.fire_queue.arn}":
        problems.append(f"the worker's trigger is on {mapping.get('event_source_arn')}, not on {names['fire_queue']}")
    if mapping.get("function_response_types") != ["ReportBatchItemFailures"]:
        problems.append("the worker's SQS trigger lacks function_response_types [ReportBatchItemFailures]")
    document = role_policy(stage)
    policies = found.get("aws_iam_role_policy", {})
    if set(policies) != {f"{key}_role" for key in FUNCTIONS.values()}:
        problems.append(f"role policies are {sorted(policies)}, not one per function")
    for name, body in policies.items():
        if json.loads(body.get("policy", "{}")) != document:
            problems.append(f"aws_iam_role_policy.{name}: not xtimer_deploy.iam's policy (is autogen_policy false?)")
    if found.get("aws_iam_role_policy_attachment"):
        problems.append("a role has a managed policy attached")
    return problems

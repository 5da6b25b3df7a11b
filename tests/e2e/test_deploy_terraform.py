"""`make package-terraform`: Chalice's Terraform output completed to a whole stage (tables, queues,
the DLQ, log groups, the schedule, the trigger with partial batch failures, the least-privilege
policy), which `terraform validate` accepts. Runs the real `chalice package --pkg-format terraform`
(about 10 s) once for the module; `terraform init` uses no network: the AWS provider comes from a
local mirror (XTIMER_TF_PLUGIN_DIR, default /opt/tf-plugins), or the validate test is skipped."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage import resources
from xtimer_deploy import iam
from xtimer_deploy.stage import load_stage
from xtimer_deploy.terraform import (TerraformArns, TerraformPackage, adapt_chalice, check_terraform,
                                     package_terraform, xtimer_resources)

PLUGIN_DIR = Path(os.environ.get("XTIMER_TF_PLUGIN_DIR", "/opt/tf-plugins"))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> TerraformPackage:
    return package_terraform(load_stage("prod"), tmp_path_factory.mktemp("terraform") / "prod")


@pytest.fixture(scope="module")
def config(packaged: TerraformPackage) -> dict[str, dict[str, Any]]:
    """Every resource of both files, by type and name."""
    found: dict[str, dict[str, Any]] = {}
    for path in (packaged.chalice_tf, packaged.xtimer_tf):
        for kind, items in json.loads(path.read_text())["resource"].items():
            found.setdefault(kind, {}).update(items)
    return found


def test_the_output_has_every_table_with_its_keys_indexes_and_ttl(config: dict[str, dict[str, Any]]) -> None:
    tables = {t["name"]: t for t in config["aws_dynamodb_table"].values()}
    assert set(tables) == set(load_stage("prod").names()[key] for key in resources.TABLES)
    timers = tables["xtimer-prod-timers"]
    assert timers["hash_key"] == "id" and timers["billing_mode"] == "PAY_PER_REQUEST"
    assert {i["name"] for i in timers["global_secondary_index"]} == {"by_app", "by_due"}
    by_due = next(i for i in timers["global_secondary_index"] if i["name"] == "by_due")
    assert (by_due["hash_key"], by_due["range_key"]) == ("due_shard", "next_fire")
    assert tables["xtimer-prod-tasks"]["ttl"] == {"attribute_name": "expires_at", "enabled": True}
    assert all(t["lifecycle"] == {"prevent_destroy": True} for t in tables.values())


def test_the_output_has_the_fire_queue_redriven_to_its_dead_letter_queue(config: dict[str, dict[str, Any]]) -> None:
    queues = config["aws_sqs_queue"]
    assert {q["name"] for q in queues.values()} == {"xtimer-prod-fires", "xtimer-prod-fires-dlq"}
    assert json.loads(queues["fire_queue"]["redrive_policy"]) == {
        "deadLetterTargetArn": "${aws_sqs_queue.dead_letter_queue.arn}",
        "maxReceiveCount": resources.FIRE_QUEUE_MAX_RECEIVES}
    assert queues["fire_queue"]["visibility_timeout_seconds"] > config["aws_lambda_function"]["worker"]["timeout"]
    assert queues["dead_letter_queue"]["message_retention_seconds"] == resources.DEAD_LETTER_RETENTION_SECONDS


def test_the_output_has_the_minute_tick_and_the_worker_trigger_with_partial_batch_failures(
    config: dict[str, dict[str, Any]],
) -> None:
    functions = config["aws_lambda_function"]
    assert {f["function_name"] for f in functions.values()} == {"xtimer-prod", "xtimer-prod-tick",
                                                                "xtimer-prod-worker"}
    assert {f["handler"] for f in functions.values()} == {"app.app", "app.tick", "app.worker"}
    assert functions["tick"]["reserved_concurrent_executions"] == 1
    assert config["aws_cloudwatch_event_rule"]["tick-event"]["schedule_expression"] == "rate(1 minute)"
    trigger = config["aws_lambda_event_source_mapping"]["worker-sqs-event-source"]
    assert trigger["event_source_arn"] == "${aws_sqs_queue.fire_queue.arn}"
    assert trigger["function_response_types"] == ["ReportBatchItemFailures"]
    assert trigger["batch_size"] == 10


def test_every_role_has_exactly_the_xtimer_policy_on_the_stage_resources(config: dict[str, dict[str, Any]]) -> None:
    policies = config["aws_iam_role_policy"]
    assert set(policies) == {"api_handler_role", "tick_role", "worker_role"}
    expected = iam.policy(load_stage("prod"), TerraformArns())
    for policy in policies.values():
        document = json.loads(policy["policy"])
        assert document == expected
        for action, resource in iam.granted(document):
            assert "*" not in action
            assert resource.startswith(("${aws_dynamodb_table.", "${aws_sqs_queue.", "arn:${data.aws_partition"))
    assert "aws_iam_role_policy_attachment" not in config


def test_every_function_logs_to_its_own_group_with_the_stage_retention(config: dict[str, dict[str, Any]]) -> None:
    groups = config["aws_cloudwatch_log_group"]
    assert sorted(g["name"] for g in groups.values()) == [
        "/aws/lambda/xtimer-prod", "/aws/lambda/xtimer-prod-tick", "/aws/lambda/xtimer-prod-worker"]
    assert {g["retention_in_days"] for g in groups.values()} == {30}
    for name, function in config["aws_lambda_function"].items():
        assert function["depends_on"] == [f"aws_cloudwatch_log_group.{name}"]


def test_the_alarms_topic_and_dashboard_are_there_and_every_reference_in_them_resolves(
        packaged: TerraformPackage, config: dict[str, dict[str, Any]]) -> None:
    assert set(config["aws_cloudwatch_metric_alarm"]) == {
        "DeadLetterQueueAlarm", "FireQueueAgeAlarm", "TickNotRunningAlarm", "LatenessAlarm",
        "WorkerErrorsAlarm", "WorkerThrottlesAlarm", "TickErrorsAlarm", "TickThrottlesAlarm"}
    assert set(config["aws_sns_topic"]) == {"alarms"} and set(config["aws_cloudwatch_dashboard"]) == {"dashboard"}
    files = [json.loads(path.read_text()) for path in (packaged.chalice_tf, packaged.xtimer_tf)]
    declared = {f"{kind}.{name}" for f in files for kind, items in f.get("resource", {}).items() for name in items}
    declared |= {f"data.{kind}.{name}" for f in files for kind, items in f.get("data", {}).items() for name in items}
    declared |= {f"var.{name}" for f in files for name in f.get("variable", {})}
    monitoring_kinds = ("aws_sns_topic", "aws_sns_topic_subscription", "aws_cloudwatch_metric_alarm",
                        "aws_cloudwatch_dashboard")
    text = json.dumps([config[kind] for kind in monitoring_kinds])
    references = {match.group(1) for expression in re.findall(r"\$\{([^}]*)\}", text) for match in re.finditer(
        r"\b(data\.[a-z_]+\.[A-Za-z0-9_-]+|var\.[A-Za-z0-9_]+|aws_[a-z_]+\.[A-Za-z0-9_-]+)", expression)}
    assert references and references <= declared, sorted(references - declared)


def test_check_terraform_reports_a_trigger_without_partial_batch_failures(packaged: TerraformPackage) -> None:
    stage = load_stage("prod")
    adapted = json.loads(packaged.chalice_tf.read_text())
    assert check_terraform(adapted, xtimer_resources(stage), stage) == []
    del adapted["resource"]["aws_lambda_event_source_mapping"]["worker-sqs-event-source"]["function_response_types"]
    adapted["resource"]["aws_cloudwatch_event_rule"]["tick-event"]["schedule_expression"] = "rate(5 minutes)"
    problems = check_terraform(adapted, xtimer_resources(stage), stage)
    assert "the worker's SQS trigger lacks function_response_types [ReportBatchItemFailures]" in problems
    assert "aws_cloudwatch_event_rule.tick-event: schedule is 'rate(5 minutes)', not 'rate(1 minute)'" in problems
    ours = xtimer_resources(stage)
    del ours["resource"]["aws_cloudwatch_metric_alarm"]["LatenessAlarm"]
    assert ("aws_cloudwatch_metric_alarm.LatenessAlarm: missing, or not as xtimer_deploy.monitoring defines it"
            in check_terraform(adapted, ours, stage))
    assert adapt_chalice(adapted, stage)["resource"]["aws_lambda_event_source_mapping"][
        "worker-sqs-event-source"]["function_response_types"] == ["ReportBatchItemFailures"]


def test_terraform_validate_accepts_the_output(packaged: TerraformPackage, tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if not terraform or not (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"needs terraform and the AWS provider in a local mirror ({PLUGIN_DIR}; XTIMER_TF_PLUGIN_DIR)")
    work = tmp_path / "prod"
    shutil.copytree(packaged.directory, work)
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{PLUGIN_DIR}"\n  }}\n}}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
           "TF_DATA_DIR": str(tmp_path / ".terraform")}

    def terraform_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    init = terraform_run("init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    validated = terraform_run("validate", "-json", "-no-color")
    result = json.loads(validated.stdout)
    assert result["valid"] is True and result["error_count"] == 0, result["diagnostics"]
    # What remains are Chalice's own API Gateway arguments that provider 5 deprecates.
    assert {d["summary"] for d in result["diagnostics"]} <= {"Argument is deprecated", "Deprecated attribute"}

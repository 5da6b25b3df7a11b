"""`make package`: `chalice package` with the merge template gives a template cfn-lint accepts,
with every piece of a working stage. Runs the real `chalice package` (about 10 s: it builds the
deployment zip) once for the session (tests/conftest.py, prod_package)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage import resources
from xtimer_deploy import iam
from xtimer_deploy.chalice_cli import validate
from xtimer_deploy.packaging import Package
from xtimer_deploy.stage import FUNCTIONS, WORKER_TRIGGER, load_stage, read_config, resource_ids, role_id, stage_names
from xtimer_deploy.template import check_template


@pytest.fixture(scope="module")
def packaged(prod_package: Package) -> Package:
    return prod_package  # tests/conftest.py: packaged once per session, shared with test_lambda_artifact.py


@pytest.fixture(scope="module")
def template(packaged: Package) -> dict[str, Any]:
    return json.loads(packaged.template.read_text())


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def test_package_writes_the_template_and_the_zip_and_cfn_lint_accepts_them(packaged: Package) -> None:
    assert packaged.template.name == "sam.json" and packaged.deployment_zip.stat().st_size > 1_000_000
    assert packaged.lint_output == ""  # package() ran cfn-lint: no errors, warnings or notes


def test_the_zip_holds_every_file_of_chalicelib_with_its_role_packages_and_console_assets(packaged: Package) -> None:
    import subprocess
    import zipfile

    tracked = subprocess.run(["git", "ls-files", "chalicelib"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert "chalicelib/delivery/worker.py" in tracked and "chalicelib/api/console/console.js" in tracked
    with zipfile.ZipFile(packaged.deployment_zip) as archive:
        names = set(archive.namelist())
    assert "app.py" in names
    assert sorted(set(tracked) - names) == []


def test_the_template_has_the_tables_with_their_keys_indexes_and_ttl(template: dict[str, Any]) -> None:
    tables = {v["Properties"]["TableName"]: v for v in of_type(template, "AWS::DynamoDB::Table").values()}
    stage = load_stage("prod")
    with stage.active():
        expected = {resources.table_definition(m)["TableName"]: m for m in resources.TABLES.values()}
    assert set(tables) == set(expected)
    assert {"xtimer-prod-timers", "xtimer-prod-timer-names", "xtimer-prod-tasks"} <= set(tables)
    timers = tables["xtimer-prod-timers"]["Properties"]
    assert {i["IndexName"] for i in timers["GlobalSecondaryIndexes"]} >= {"by_app", "by_due"}
    assert tables["xtimer-prod-tasks"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at", "Enabled": True}
    assert all(t["Properties"]["BillingMode"] == "PAY_PER_REQUEST" for t in tables.values())
    assert all(t["DeletionPolicy"] == t["UpdateReplacePolicy"] == "Retain" for t in tables.values())


def test_the_template_has_the_fire_queue_and_its_dead_letter_queue(template: dict[str, Any]) -> None:
    queues = {v["Properties"]["QueueName"]: (k, v["Properties"]) for k, v in
              of_type(template, "AWS::SQS::Queue").items()}
    assert set(queues) == {"xtimer-prod-fires", "xtimer-prod-fires-dlq"}
    dlq_id, dlq = queues["xtimer-prod-fires-dlq"]
    _, fires = queues["xtimer-prod-fires"]
    assert fires["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                      "maxReceiveCount": resources.FIRE_QUEUE_MAX_RECEIVES}
    assert fires["VisibilityTimeout"] > template["Resources"]["Worker"]["Properties"]["Timeout"]
    assert dlq["MessageRetentionPeriod"] == resources.DEAD_LETTER_RETENTION_SECONDS


def test_the_template_has_the_api_the_minute_tick_and_the_worker_trigger(template: dict[str, Any]) -> None:
    functions = of_type(template, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)
    assert {f["Properties"]["FunctionName"] for f in functions.values()} == {
        "xtimer-prod", "xtimer-prod-tick", "xtimer-prod-worker"}
    assert set(of_type(template, "AWS::Serverless::Api")) == {"RestAPI"}
    assert "/xtimer/creatTimer" in template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]

    tick = functions["Tick"]["Properties"]
    assert [e["Properties"]["Schedule"] for e in tick["Events"].values()] == ["rate(1 minute)"]
    assert tick["ReservedConcurrentExecutions"] == 1

    trigger = functions["Worker"]["Properties"]["Events"][WORKER_TRIGGER]
    assert trigger["Type"] == "SQS"
    assert trigger["Properties"]["Queue"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:xtimer-prod-fires"}
    assert trigger["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert trigger["Properties"]["BatchSize"] == 10


def test_every_function_role_has_exactly_the_xtimer_policy(template: dict[str, Any]) -> None:
    roles = of_type(template, "AWS::IAM::Role")
    assert set(roles) == {role_id(f) for f in FUNCTIONS}
    for role in roles.values():
        [policy] = role["Properties"]["Policies"]
        assert policy["PolicyDocument"] == iam.policy(load_stage("prod"), iam.CloudFormationArns(resource_ids()))
        assert "ManagedPolicyArns" not in role["Properties"]
        for action, _ in iam.granted(policy["PolicyDocument"]):
            assert "*" not in action


def test_every_function_logs_to_its_own_group_with_the_stage_retention(template: dict[str, Any]) -> None:
    groups = of_type(template, "AWS::Logs::LogGroup")
    assert sorted(g["Properties"]["LogGroupName"] for g in groups.values()) == [
        "/aws/lambda/xtimer-prod", "/aws/lambda/xtimer-prod-tick", "/aws/lambda/xtimer-prod-worker"]
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


def test_the_template_outputs_the_api_url_tables_and_queues(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"EndpointURL", "TimersTableName", "TasksTableName", "FireQueueUrl", "DeadLetterQueueUrl"} <= set(outputs)


def test_check_template_reports_a_trigger_without_partial_batch_failures(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    del broken["Resources"]["Worker"]["Properties"]["Events"][WORKER_TRIGGER]["Properties"]["FunctionResponseTypes"]
    broken["Resources"]["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] = "rate(5 minutes)"
    problems = check_template(broken, load_stage("prod"))
    assert "Worker: the SQS trigger lacks FunctionResponseTypes [ReportBatchItemFailures]" in problems
    assert "Tick: schedule is ['rate(5 minutes)'], not ['rate(1 minute)']" in problems
    assert check_template(template, load_stage("prod")) == []


def test_chalice_deploy_would_accept_the_app_for_every_stage() -> None:
    # `chalice deploy` validates the app before deploying; `chalice package` does not.
    for name in stage_names():
        validate(load_stage(name))


def test_every_stage_has_its_own_names_policy_file_and_settings() -> None:
    config = read_config()
    assert config["autogen_policy"] is False
    assert load_stage("prod").environment()["XTIMER_AUTH"] == "required"
    seen: set[str] = set()
    for name in stage_names():
        stage = load_stage(name)
        assert stage.settings["iam_policy_file"] == f"policy-{name}.json"
        assert stage.settings["log_retention_in_days"] > 0
        assert stage.settings["lambda_functions"]["tick"]["reserved_concurrency"] == 1
        assert stage.settings["lambda_functions"]["tick"]["lambda_timeout"] < 60  # done before the next tick
        names = set(stage.names().values())
        assert not names & seen, f"stage {name} shares a table or queue with another stage"
        seen |= names
        assert Path(stage.policy_file).exists()

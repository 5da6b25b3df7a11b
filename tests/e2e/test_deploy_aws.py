"""`make deploy` and `make destroy` against moto.

The end-to-end test runs the real thing, the way `make deploy` does: provisioning with boto3,
the real `chalice deploy` in a subprocess, log groups, the SQS trigger update, all against a moto
server, in a copy of the project (Chalice writes .chalice/deployed/<stage>.json). One moto gap is
patched: moto imports only OpenAPI 3 documents and Chalice sends Swagger 2.0, so the REST API is
created without its routes (the routes are tested elsewhere; here only that the API exists).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.storage import resources
from xtimer_deploy import teardown, trigger
from xtimer_deploy.chalice_cli import run_chalice
from xtimer_deploy.deploy import DeployError, deploy, enable_partial_batch_failures, ensure_log_groups
from xtimer_deploy.stage import PROJECT_DIR, Stage, load_stage
from xtimer_local.stack import free_port


def copy_project(to: Path) -> Path:
    """What `chalice deploy` reads: app.py, chalicelib/, requirements.txt, .chalice/ (with its
    cache of built dependencies, when there is one)."""
    to.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployed")
    shutil.copy2(PROJECT_DIR / "app.py", to / "app.py")
    shutil.copy2(PROJECT_DIR / "requirements.txt", to / "requirements.txt")
    shutil.copytree(PROJECT_DIR / "chalicelib", to / "chalicelib", ignore=ignore)
    shutil.copytree(PROJECT_DIR / ".chalice", to / ".chalice", ignore=ignore)
    return to


def _import_without_routes(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
    api = self.create_rest_api(name=api_doc["info"]["title"], description="")
    root = next(r for r in api.resources.values() if r.parent_id is None)
    self.put_method(api.id, root.id, "GET", "NONE")  # a deployment needs one method
    self.put_integration(api.id, root.id, "GET", "MOCK", None, None)
    return api


@pytest.fixture
def moto_server(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.apigateway.models import APIGatewayBackend
    from moto.server import ThreadedMotoServer

    monkeypatch.setattr(APIGatewayBackend, "import_rest_api", _import_without_routes)
    monkeypatch.setattr(APIGatewayBackend, "put_rest_api", lambda self, function_id, *a, **k: self.get_rest_api(function_id))
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield endpoint
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    server.stop()


def test_make_deploy_brings_up_the_whole_stage_and_is_safe_to_run_again(moto_server: str, tmp_path: Path) -> None:
    stage = load_stage("dev", copy_project(tmp_path / "project"))
    session = boto3.session.Session(region_name="us-east-1")
    chalice = partial(run_chalice, stage=stage, region="us-east-1")
    said: list[str] = []
    deploy(stage, session, chalice=chalice, echo=said.append, sleep=lambda _: None, alarm_email="oncall@example.com")

    with stage.active():
        assert resources.differences(session.client("dynamodb"), session.client("sqs")) == []
    aws_lambda = session.client("lambda")
    functions = {f["FunctionName"]: f for f in aws_lambda.list_functions()["Functions"]}
    assert set(functions) == {"xtimer-dev", "xtimer-dev-tick", "xtimer-dev-worker"}
    assert functions["xtimer-dev-worker"]["Timeout"] == resources.WORKER_TIMEOUT_SECONDS
    assert functions["xtimer-dev-worker"]["Environment"]["Variables"]["XTIMER_FIRE_QUEUE"] == "xtimer-dev-fires"
    assert aws_lambda.get_function_concurrency(FunctionName="xtimer-dev-tick")["ReservedConcurrentExecutions"] == 1
    [mapping] = aws_lambda.list_event_source_mappings(FunctionName=functions["xtimer-dev-worker"]["FunctionArn"])[
        "EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(":xtimer-dev-fires")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    rules = session.client("events").list_rules()["Rules"]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 minute)"]

    iam_client = session.client("iam")
    policy = json.loads(stage.policy_file.read_text())
    for role in ("xtimer-dev-api_handler", "xtimer-dev-tick", "xtimer-dev-worker"):
        [name] = iam_client.list_role_policies(RoleName=role)["PolicyNames"]
        assert iam_client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] == policy
        assert iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    groups = {g["logGroupName"]: g.get("retentionInDays") for g in
              session.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/xtimer-dev")["logGroups"]}
    assert {name: groups.get(name) for name in ("/aws/lambda/xtimer-dev", "/aws/lambda/xtimer-dev-tick",
                                                "/aws/lambda/xtimer-dev-worker")} == {
        "/aws/lambda/xtimer-dev": 7, "/aws/lambda/xtimer-dev-tick": 7, "/aws/lambda/xtimer-dev-worker": 7}
    assert said[-1].startswith("Done. API: https://")

    cloudwatch, sns = session.client("cloudwatch"), session.client("sns")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="xtimer-dev-")["MetricAlarms"]}
    assert set(alarms) == {f"xtimer-dev-{a}" for a in ("DeadLetterQueueAlarm", "FireQueueAgeAlarm", "TickNotRunningAlarm",
                           "LatenessAlarm", "WorkerErrorsAlarm", "WorkerThrottlesAlarm", "TickErrorsAlarm",
                           "TickThrottlesAlarm")}
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":xtimer-dev-alarms")]
    assert all(a["AlarmActions"] == [topic] for a in alarms.values())
    assert alarms["xtimer-dev-WorkerErrorsAlarm"]["Dimensions"] == [{"Name": "FunctionName", "Value": "xtimer-dev-worker"}]
    assert alarms["xtimer-dev-LatenessAlarm"]["Threshold"] == 1000.0
    assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [
        "oncall@example.com"]
    body = json.loads(cloudwatch.get_dashboard(DashboardName="xtimer-dev")["DashboardBody"])
    assert {w["properties"]["region"] for w in body["widgets"]} == {"us-east-1"}

    said.clear()
    deploy(stage, session, chalice=chalice, echo=said.append, sleep=lambda _: None)
    assert "    all there already" in said
    assert any(line.endswith(": already set") for line in said)
    assert len(aws_lambda.list_event_source_mappings()["EventSourceMappings"]) == 1
    assert len(cloudwatch.describe_alarms(AlarmNamePrefix="xtimer-dev-")["MetricAlarms"]) == len(alarms)

    said.clear()
    assert teardown.destroy(stage, session, delete_data_too=False, assume_yes=True, chalice=chalice,
                            confirm=lambda _: False, ask=lambda _: "", echo=said.append)
    assert aws_lambda.list_functions()["Functions"] == []
    assert cloudwatch.describe_alarms(AlarmNamePrefix="xtimer-dev-")["MetricAlarms"] == []
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":xtimer-dev-alarms")]
    assert "xtimer-dev-timers" in session.client("dynamodb").list_tables()["TableNames"]
    assert session.client("sqs").get_queue_url(QueueName="xtimer-dev-fires")["QueueUrl"]


# --- the pieces, on in-process moto -------------------------------------------------------------

def test_deploy_stops_before_chalice_when_existing_resources_differ(aws_mock: None) -> None:
    stage = load_stage("dev")
    session = boto3.session.Session(region_name="us-east-1")
    session.client("sqs").create_queue(QueueName="xtimer-dev-fires", Attributes={"VisibilityTimeout": "30"})
    ran: list[list[str]] = []
    with pytest.raises(DeployError, match="differs from what the code needs"):
        deploy(stage, session, chalice=ran.append, echo=lambda _: None)
    assert ran == []


def test_log_groups_are_created_once_with_the_stage_retention(aws_mock: None) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/aws/lambda/xtimer-prod-tick")
    done = ensure_log_groups(load_stage("prod"), logs)
    assert "log group /aws/lambda/xtimer-prod" in done and "log group /aws/lambda/xtimer-prod-tick" not in done
    assert ensure_log_groups(load_stage("prod"), logs) == []
    assert {g["retentionInDays"] for g in logs.describe_log_groups()["logGroups"]} == {30}


def test_setting_partial_batch_failures_needs_the_trigger_to_exist(provisioned: None) -> None:
    with pytest.raises(trigger.TriggerError, match="xtimer-dev-worker has no SQS trigger on .*xtimer-dev-fires"):
        enable_partial_batch_failures(load_stage("dev"), boto3.session.Session(region_name="us-east-1"))


class ScriptedLambda:
    """A Lambda client whose mapping is still being created by `chalice deploy`."""

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.updates: list[dict[str, Any]] = []

    def list_event_source_mappings(self, **_: Any) -> dict[str, Any]:
        return {"EventSourceMappings": [
            {"UUID": "u-1", "EventSourceArn": "arn:q", "FunctionArn": "arn:aws:lambda:r:1:function:w", "State": "Creating"},
            {"UUID": "u-2", "EventSourceArn": "arn:q", "FunctionArn": "arn:aws:lambda:r:1:function:other"},
        ]}

    def get_event_source_mapping(self, UUID: str) -> dict[str, Any]:
        return {"UUID": UUID, "State": self.states.pop(0)}

    def update_event_source_mapping(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)


def test_a_trigger_still_being_created_is_updated_once_it_settles() -> None:
    client, slept = ScriptedLambda(["Creating", "Creating", "Enabled"]), []
    [update] = trigger.report_batch_item_failures(client, "w", "arn:q", sleep=slept.append)
    assert update == trigger.TriggerUpdate("u-1", changed=True)
    assert client.updates == [{"UUID": "u-1", "FunctionResponseTypes": ["ReportBatchItemFailures"]}]
    assert len(slept) == 2


def test_a_trigger_that_never_settles_is_an_error_not_a_hang() -> None:
    client = ScriptedLambda(["Creating"] * 100)
    with pytest.raises(trigger.TriggerError, match="still 'Creating'"):
        trigger.report_batch_item_failures(client, "w", "arn:q", sleep=lambda _: None, timeout=10)
    assert client.updates == []


def _destroy(stage: Stage, **kwargs: Any) -> tuple[bool, list[str], list[list[str]]]:
    said: list[str] = []
    ran: list[list[str]] = []
    done = teardown.destroy(stage, boto3.session.Session(region_name="us-east-1"), chalice=ran.append,
                            echo=said.append, **kwargs)
    return done, said, ran


def _deployed(stage: Stage, tmp_path: Path) -> Stage:
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    (tmp_path / ".chalice" / "config.json").write_text((stage.project_dir / ".chalice" / "config.json").read_text())
    (tmp_path / ".chalice" / "deployed" / "dev.json").write_text(json.dumps({"resources": [
        {"name": "worker", "resource_type": "lambda_function", "lambda_arn": "arn:aws:lambda:r:1:function:w"},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_url": "https://api.example/api/"},
    ]}))
    return load_stage("dev", tmp_path)


def test_destroy_says_what_goes_and_what_stays_and_deletes_nothing_if_told_no(provisioned: None,
                                                                              tmp_path: Path) -> None:
    stage = _deployed(load_stage("dev"), tmp_path)
    done, said, ran = _destroy(stage, delete_data_too=False, assume_yes=False, confirm=lambda _: False,
                               ask=lambda _: "")
    assert not done and ran == [] and said[-1] == "Nothing deleted."
    text = "\n".join(said)
    assert "function arn:aws:lambda:r:1:function:w" in text and "REST API https://api.example/api/" in text
    assert "kept (DELETE_DATA=1 or --delete-data deletes them too):\n    table xtimer-dev-timers" in text


def test_destroy_deletes_the_data_only_when_asked_and_the_stage_name_is_typed(provisioned: None,
                                                                             tmp_path: Path) -> None:
    stage = _deployed(load_stage("dev"), tmp_path)
    done, said, ran = _destroy(stage, delete_data_too=True, assume_yes=False, confirm=lambda _: True,
                               ask=lambda _: "prod")
    assert not done and ran == []
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    assert "xtimer-dev-timers" in dynamodb.list_tables()["TableNames"]

    done, said, ran = _destroy(stage, delete_data_too=True, assume_yes=False, confirm=lambda _: True,
                               ask=lambda _: "dev")
    assert done and ran == [["delete", "--stage", "dev"]]
    assert "deleted table xtimer-dev-timers" in said and "deleted queue xtimer-dev-fires" in said
    assert not [t for t in dynamodb.list_tables()["TableNames"] if t.startswith("xtimer-dev-")]


def test_make_destroy_passes_delete_data_and_yes_only_when_set() -> None:
    def dry_run(*assignments: str) -> str:
        return subprocess.run(["make", "-n", "destroy", "STAGE=dev", *assignments], cwd=PROJECT_DIR,
                              capture_output=True, text=True, check=True).stdout

    assert "--delete-data" not in dry_run() and "--yes" not in dry_run("DELETE_DATA=0")
    assert "--delete-data --yes" in dry_run("DELETE_DATA=1", "YES=1")

"""The functions' IAM policy allows exactly what the code does.

How: tests/conftest.py installs tests/aws_calls.CALLS on every botocore client of the session,
so every AWS call any test makes on moto is recorded with the IAM checks it needs (batch SQS
calls as their single-message action, transactions item by item) and the project file that
made it. The two coverage tests below run last (marker `runs_last`) and read that record:

- every call made by app.py / chalicelib (and by the local SQS trigger) must be allowed by the
  stage's policy file. This one also drives its own full pipeline first, so it checks something
  real even when run alone;
- every grant in the policy must be used by some recorded call, or be one Lambda itself uses
  (iam.PLATFORM_GRANTS). This needs the whole suite's record, so it runs only when every test
  module is in the session (`make test`, CI) and is skipped, saying so, otherwise.
"""
from __future__ import annotations

import json

import pytest

from chalicelib.fires.fire import Fire
from chalicelib.timers.schedule import parse_schedule
from chalicelib.timers.spec import NotifyParams, TimerSpec
from chalicelib.wiring import Services
from tests.support.aws_calls import CallLog
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver, Response
from xtimer_deploy import iam
from xtimer_deploy.stage import load_stage, stage_names
from xtimer_local.stack import scheduled_event

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's
FIX = "add it to GRANTS in xtimer_deploy/iam.py, then run `python -m xtimer_deploy policy --write`"


def policy_file(stage: str = "dev") -> dict:
    return json.loads(load_stage(stage).policy_file.read_text())


def test_the_policy_files_are_the_rendered_grants() -> None:
    for name in stage_names():
        stage = load_stage(name)
        assert stage.policy_file.read_text() == json.dumps(iam.policy(stage), indent=2) + "\n", (
            f"{stage.policy_file.name} is out of date: run `python -m xtimer_deploy policy --write`")


def test_no_action_is_a_wildcard_and_every_resource_is_named() -> None:
    assert iam.check_grants() == []
    for name in stage_names():
        for action, resource in iam.granted(policy_file(name)):
            assert "*" not in action and "?" not in action
            service, _, rest = resource.partition(":")[2].partition(":")
            name_part = resource.split(":", 5)[5]
            if action.startswith("logs:"):
                assert name_part.startswith(f"log-group:/aws/lambda/xtimer-{name}") and name_part.endswith(":*")
                assert "*" not in name_part[:-2]
            else:
                assert "*" not in name_part, resource
                assert f"xtimer-{name}-" in name_part


def test_a_call_is_allowed_only_on_its_own_table_index_or_queue() -> None:
    document = policy_file("dev")
    put = iam.permissions_for("dynamodb", "PutItem", {"TableName": "xtimer-dev-timers"})[0]
    assert iam.allows(document, put.action, put.arn(REGION, ACCOUNT))
    other = iam.permissions_for("dynamodb", "PutItem", {"TableName": "xtimer-prod-timers"})[0]
    assert not iam.allows(document, other.action, other.arn(REGION, ACCOUNT))
    query = iam.permissions_for("dynamodb", "Query", {"TableName": "xtimer-dev-timers", "IndexName": "by_due"})[0]
    assert query.arn(REGION, ACCOUNT).endswith(":table/xtimer-dev-timers/index/by_due")
    assert iam.allows(document, query.action, query.arn(REGION, ACCOUNT))
    scan = iam.permissions_for("dynamodb", "Scan", {"TableName": "xtimer-dev-timers"})[0]
    assert not iam.allows(document, scan.action, scan.arn(REGION, ACCOUNT))
    [send] = iam.permissions_for("sqs", "SendMessageBatch", {
        "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/xtimer-dev-fires"})
    assert (send.action, send.name) == ("sqs:SendMessage", "xtimer-dev-fires")
    transaction = iam.permissions_for("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]})
    assert [(p.action, p.name) for p in transaction] == [("dynamodb:PutItem", "a"), ("dynamodb:ConditionCheckItem", "b")]


def run_the_pipeline(service: Services, receiver: Receiver, clock: FakeClock,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of work the functions do, through their own handlers: create and enable
    (API), the tick after downtime (missed fires), the worker (success, retries, dead letter,
    a duplicate delivery), disable."""
    import app as chalice_app

    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "2")
    receiver.respond("/fails", Response(500))

    def timer(name: str, cron: str, path: str) -> int:
        spec = TimerSpec(app="shop", name=name, schedule=parse_schedule(cron, "UTC"),
                         notify=NotifyParams(url=receiver.url(path), method="POST", header={}, body="x"))
        created = service.timers.create(spec)
        service.timers.enable("shop", created.id)
        return int(created.id)

    good = timer("good", "0 * * * * *", "/ok")
    timer("bad", "0 1 12 * * *", "/fails")
    deliver(service)
    clock.set(at("2026-03-01T12:12:30"))  # the scheduler was down: missed and late fires
    chalice_app.tick(scheduled_event(clock()), None)
    deliver(service)
    again = Fire(timer_id=good, app="shop", fire_ms=int(at("2026-03-01T12:13:00")) * 1000,
                 generation=int(service.timers.get("shop", good).generation))
    service.queue.send([again])
    deliver(service)
    service.timers.disable("shop", good)
    assert receiver.received("/ok") and receiver.received("/fails")


@pytest.mark.runs_last
def test_every_aws_call_the_code_made_is_allowed_by_the_policy(
    aws_calls: CallLog, service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_the_pipeline(service, receiver, clock, monkeypatch)
    document = policy_file("dev")
    needed = aws_calls.permissions("service", "trigger")
    assert len(needed) >= 10, "the record is empty: is the aws_calls fixture installed?"
    refused = [f"{permission} from {', '.join(sorted(set(where))[:3])}"
               for permission, where in needed.items()
               if not iam.allows(document, permission.action, permission.arn(REGION, ACCOUNT))]
    assert not refused, f"the policy refuses what the code does ({FIX}):\n  " + "\n  ".join(sorted(refused))


@pytest.mark.runs_last
def test_the_local_sqs_trigger_does_only_what_lambdas_trigger_is_granted(aws_calls: CallLog) -> None:
    platform = iam.PLATFORM_GRANTS["queue:fire_queue"]
    names = load_stage("dev").names()
    for permission in aws_calls.permissions("trigger"):
        assert permission.action in platform and permission.name == names["fire_queue"], permission


@pytest.mark.runs_last
def test_the_policy_grants_nothing_the_code_does_not_use(aws_calls: CallLog, whole_suite: bool) -> None:
    if not whole_suite:
        pytest.skip("needs the whole suite's AWS calls: run `make test` (every test module, nothing deselected)")
    names = load_stage("dev").names()
    used = {(p.action, p.kind, p.name) for p in aws_calls.permissions("service", "trigger")}
    unused = []
    for resource_key, actions in iam.GRANTS.items():
        kind, _, rest = resource_key.partition(":")
        if kind == "index":
            key, _, index = rest.partition("/")
            target = ("index", f"{names[key]}/{index}")
        elif kind in {"table", "queue"}:
            target = (kind, names[rest])
        else:
            target = None
        for action in actions:
            if action in iam.PLATFORM_GRANTS.get(resource_key, ()):
                continue
            if target is None or (action, *target) not in used:
                unused.append(f"{action} on {resource_key}")
    assert not unused, ("the policy grants what no code does; remove it from GRANTS in xtimer_deploy/iam.py "
                        "and run `python -m xtimer_deploy policy --write`:\n  " + "\n  ".join(unused))

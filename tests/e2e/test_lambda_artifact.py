"""The deployment artifact, run the way Lambda runs it (issue 18).

Every other test imports app.py from the checkout, with the dev dependencies installed. Here each
function of `make package STAGE=prod` runs from its deployment.zip instead: unpacked read-only,
in a fresh `python3.11 -I -S` that has only the zip and the standard library, as a non-root user,
with the environment sam.json gives the function plus what Lambda adds, its handler (sam.json's
Handler) called with the events AWS sends (tests/e2e/fixtures/, in the shapes AWS documents).
See xtimer_deploy/lambda_sandbox.py. AWS is a moto server in its own process with the prod
stage's tables and queues; callbacks go to a receiver on 127.0.0.1.

XTIMER_ALLOW_LOOPBACK_CALLBACKS=true is set for the API and the worker on top of the template's
environment, because the receiver is on 127.0.0.1 and a deployed stage refuses loopback callbacks
(test_a_deployed_api_refuses_a_loopback_callback_url shows that it does, from the zip too).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.receiver import Receiver
from xtimer_deploy.lambda_driver import MUST_BE_ABSENT
from xtimer_deploy.lambda_sandbox import (FunctionConfig, LambdaFunction, Sandbox, SandboxError, function_configs,
                                          load_event)
from xtimer_deploy.packaging import Package
from xtimer_deploy.rehearsal import MotoStage, moto_stage
from xtimer_deploy.stage import PROJECT_DIR, load_stage

FIXTURES = Path(__file__).parent / "fixtures"
APP = "est ad amet tempor proident"  # the spec's example app (docs/api.md)
LOOPBACK_ALLOWED = {"XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true"}  # the receiver is on 127.0.0.1 (see above)
SPEC_CALLBACK = "https://golangcode.cn/"  # the spec's example URL: stored, never called here


def event(name: str, **values: object) -> dict[str, Any]:
    """tests/e2e/fixtures/<name>.json with its ${NAME} placeholders filled in from `values`."""
    return load_event(FIXTURES / f"{name}.json", **values)


def reply(invocation_result: dict[str, Any]) -> dict[str, Any]:
    """The envelope of an API Gateway proxy reply, after checking the reply's own shape."""
    assert isinstance(invocation_result["statusCode"], int) and isinstance(invocation_result["body"], str)
    assert invocation_result["headers"]["Content-Type"].startswith("application/json")
    return json.loads(invocation_result["body"])


# --- the stage: the zip, moto, the functions -------------------------------------------------

@pytest.fixture(scope="module")
def functions(prod_package: Package) -> dict[str, FunctionConfig]:
    return function_configs(json.loads(prod_package.template.read_text()))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoStage]:
    with moto_stage(load_stage("prod")) as stage:
        yield stage


@pytest.fixture(scope="module")
def api_key(moto: MotoStage) -> str:
    return moto.issue_key(APP)


@pytest.fixture(scope="module")
def sandbox(prod_package: Package) -> Iterator[Sandbox]:
    with Sandbox.unpack(prod_package.deployment_zip) as unpacked:
        yield unpacked


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def api(sandbox: Sandbox, functions: dict[str, FunctionConfig], moto: MotoStage) -> LambdaFunction:
    return sandbox.start(functions["APIHandler"], extra_env={**moto.function_env, **LOOPBACK_ALLOWED})


@pytest.fixture(scope="module")
def tick(sandbox: Sandbox, functions: dict[str, FunctionConfig], moto: MotoStage) -> LambdaFunction:
    return sandbox.start(functions["Tick"], extra_env=moto.function_env)


@pytest.fixture(scope="module")
def worker(sandbox: Sandbox, functions: dict[str, FunctionConfig], moto: MotoStage) -> LambdaFunction:
    return sandbox.start(functions["Worker"], extra_env={**moto.function_env, **LOOPBACK_ALLOWED})


def create_timer(api: LambdaFunction, key: str, *, name: str, cron: str, url: str) -> dict[str, Any]:
    """POST /xtimer/creatTimer with the spec's example body (its name, cron and URL given)."""
    return reply(api.invoke(event("apigw_creat_timer", API_KEY=key, NAME=name, CRON=cron,
                                  CALLBACK_URL=url)).result)


def timer_call(api: LambdaFunction, fixture: str, key: str, timer_id: int) -> dict[str, Any]:
    return reply(api.invoke(event(fixture, API_KEY=key, TIMER_ID=timer_id)).result)


# --- what the functions' processes see ---------------------------------------------------------

def test_every_function_runs_its_template_handler_from_the_zip_alone(
    sandbox: Sandbox, functions: dict[str, FunctionConfig], api: LambdaFunction, tick: LambdaFunction,
    worker: LambdaFunction,
) -> None:
    assert {f.handler for f in functions.values()} == {"app.app", "app.tick", "app.worker"}
    root = str(sandbox.task_root)
    for function in (api, tick, worker):
        seen = function.init
        assert seen["python"].startswith("3.11.")
        assert seen["handler_file"] == f"{root}/app.py"
        assert seen["chalicelib_file"] == f"{root}/chalicelib/__init__.py"
        assert seen["sys_path"][0] == root
        assert not [p for p in seen["sys_path"] if p.startswith(str(PROJECT_DIR)) or "-packages" in p]
        assert seen["absent"] == list(MUST_BE_ABSENT), "a dev tool or the checkout is importable"
        assert seen["task_root_writable"] is False and seen["tmp_writable"] is True


def test_a_function_whose_module_is_left_out_of_the_zip_does_not_start(
    prod_package: Package, functions: dict[str, FunctionConfig],
) -> None:
    with Sandbox.unpack(prod_package.deployment_zip, leave_out=["chalicelib/delivery"]) as broken:
        with pytest.raises(SandboxError, match=r"ModuleNotFoundError: No module named 'chalicelib.delivery'"):
            broken.start(functions["Worker"])


# --- the API: API Gateway proxy events -----------------------------------------------------------

@pytest.mark.parametrize("asset", ["console.js", "console.css", "icon.svg"])
def test_the_console_page_and_its_files_are_served_from_the_zip(
    api: LambdaFunction, sandbox: Sandbox, asset: str,
) -> None:
    page = api.invoke(event("apigw_console")).result
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"].startswith("text/html")
    assert page["body"] == (sandbox.task_root / "chalicelib/api/console/index.html").read_text()
    served = api.invoke(event("apigw_console_asset", ASSET=asset)).result
    assert served["statusCode"] == 200, served["body"]
    assert served["body"] == (sandbox.task_root / "chalicelib/api/console" / asset).read_text()


def test_creat_timer_with_the_specs_example_body_replies_the_envelope_with_the_timer(
    api: LambdaFunction, api_key: str,
) -> None:
    created = create_timer(api, api_key, name="test1", cron="0 0 12 * * ?", url=SPEC_CALLBACK)
    assert created["code"] == 0 and created["message"] == "ok"
    timer_id = created["data"]["timerId"]
    assert isinstance(timer_id, int) and 0 < timer_id < 2**53

    got = timer_call(api, "apigw_get_timer", api_key, timer_id)
    assert got["code"] == 0
    assert {k: got["data"][k] for k in ("app", "name", "cron", "status")} == {
        "app": APP, "name": "test1", "cron": "0 0 12 * * ?", "status": 1}


def test_the_deployed_api_refuses_a_call_without_a_key(api: LambdaFunction) -> None:
    refused = create_timer(api, "", name="nokey", cron="0 0 12 * * ?", url=SPEC_CALLBACK)
    assert refused["code"] == 40100 and "X-Xtimer-Key" in refused["message"]


def test_a_deployed_api_refuses_a_loopback_callback_url(
    sandbox: Sandbox, functions: dict[str, FunctionConfig], moto: MotoStage, api_key: str,
) -> None:
    strict = sandbox.start(functions["APIHandler"], extra_env=moto.function_env)  # the template's env only
    refused = create_timer(strict, api_key, name="loopback", cron="0 0 12 * * ?", url="http://127.0.0.1:9/hook")
    strict.stop()
    assert refused["code"] == 40001 and "loopback" in refused["message"]


# --- enable, the queue, the worker: an SQS event with the fire the API enqueued -------------------

def fire_message(moto: MotoStage, timer_id: int, timeout: float = 30.0) -> dict[str, Any]:
    """The first fire message of `timer_id` that becomes visible on the fire queue (others stay)."""
    sqs = moto.client("sqs")
    url = sqs.get_queue_url(QueueName=moto.stage.names()["fire_queue"])["QueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           AttributeNames=["All"]).get("Messages", []):
            if json.loads(message["Body"])["timerId"] == timer_id:
                return message
    raise AssertionError(f"no fire of timer {timer_id} on the queue within {timeout:.0f} s")


def sqs_event(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message["Attributes"]
    return event("sqs_fire", MESSAGE_ID=message["MessageId"], RECEIPT_HANDLE=message["ReceiptHandle"],
                 BODY=message["Body"], MD5_OF_BODY=message["MD5OfBody"],
                 RECEIVE_COUNT=attributes["ApproximateReceiveCount"], SENT_TIMESTAMP=attributes["SentTimestamp"],
                 FIRST_RECEIVE_TIMESTAMP=attributes["ApproximateFirstReceiveTimestamp"])


def test_an_enabled_timer_is_called_back_by_the_worker_on_its_second_and_only_once(
    api: LambdaFunction, worker: LambdaFunction, moto: MotoStage, api_key: str, callbacks: Receiver,
) -> None:
    fire_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    cron = f"{fire_at.second} {fire_at.minute} {fire_at.hour} * * *"  # once a day, 5 s from now
    timer_id = create_timer(api, api_key, name="callback", cron=cron, url=callbacks.url("/hook"))["data"]["timerId"]
    enabled = timer_call(api, "apigw_enable_timer", api_key, timer_id)
    assert enabled == {"code": 0, "message": "ok"}
    assert timer_call(api, "apigw_get_timer", api_key, timer_id)["data"]["status"] == 2

    message = fire_message(moto, timer_id)
    assert json.loads(message["Body"])["fireMs"] == int(fire_at.timestamp()) * 1000
    delivery = sqs_event(message)
    assert worker.invoke(delivery).result == {"batchItemFailures": []}
    [call] = callbacks.wait_for(1, path="/hook")
    assert call.method == "GET" and call.header("Duis_c8") == "culpa ex in"
    assert call.text == "consectetur dolore consequat irure in"
    assert call.arrived_at >= fire_at.timestamp()  # on its second, not before

    # SQS delivers at least once: the same message again is acknowledged and not called again.
    assert worker.invoke(delivery).result == {"batchItemFailures": []}
    assert len(callbacks.received("/hook")) == 1


# --- the tick: the EventBridge scheduled event -------------------------------------------------

def test_the_tick_catches_up_a_timer_it_fell_behind_on(
    api: LambdaFunction, tick: LambdaFunction, moto: MotoStage, api_key: str,
) -> None:
    timer_id = create_timer(api, api_key, name="minutely", cron="0 * * * * *", url=SPEC_CALLBACK)["data"]["timerId"]
    assert timer_call(api, "apigw_enable_timer", api_key, timer_id)["code"] == 0
    # As if the scheduler had been down for an hour: the timer's cursor an hour behind.
    dynamodb, timers = moto.client("dynamodb"), moto.stage.names()["timers"]
    before = time.time()
    dynamodb.update_item(TableName=timers, Key={"id": {"N": str(timer_id)}}, UpdateExpression="SET next_fire = :t",
                         ExpressionAttributeValues={":t": {"N": str(int(before) - 3600)}})

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = tick.invoke(event("eventbridge_tick", TIME=now)).result
    after = time.time()
    assert report["errors"] == [] and report["raced"] == 0
    assert report["timers"] == 1
    assert report["missed"] >= 50  # the hour's fires older than the catch-up window: recorded, not made
    assert report["enqueued"] >= 5  # the late ones within it, and the coming ones
    # A deployed function enqueues 10 minutes ahead (chalicelib.config: AWS_LAMBDA_FUNCTION_NAME is set).
    assert report["window_end"] in {int(t) // 60 * 60 + 600 for t in (before, after)}
    item = dynamodb.get_item(TableName=timers, Key={"id": {"N": str(timer_id)}}, ConsistentRead=True)["Item"]
    assert int(item["next_fire"]["N"]) >= report["window_end"]

"""Delivery policy per timer (issue 16), end to end on moto with a local receiver: retryOn,
maxAgeSeconds, timeoutSeconds, failureCallback and pauseAfterFailures, through the API a user
calls and the worker Lambda's own handler. The clock is injected: backoffs pass on it."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import config
from chalicelib.delivery import signing
from chalicelib.fires.fire import Fire
from chalicelib.storage import aws
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import dead_letters, deliver
from tests.support.receiver import Receiver, Response

ONCE = "0 1 12 * * *"  # 12:01:00, once in the test's window (the clock starts at 12:00:30)


def create(client: Client, receiver: Receiver, cron: str = ONCE, **fields: Any) -> int:
    hook = {"url": receiver.url("/hook"), "method": "POST", "body": "hi"}
    status, reply = post(client, "/xtimer/creatTimer", timer(cron=cron, notifyHTTPParam=hook, status=2, **fields))
    assert status == 200, reply
    return int(reply["data"]["timerId"])


def tasks(client: Client, timer_id: int) -> list[dict[str, Any]]:
    return get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")[1]["data"]["tasks"]


def timer_data(client: Client, timer_id: int) -> dict[str, Any]:
    return get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]


def failure_hook(receiver: Receiver, **more: Any) -> dict[str, Any]:
    return {"url": receiver.url("/failed"), **more}


@pytest.fixture
def backoff_passes(service: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `service` fixture's queue shows a retry again at once; here its backoff passes on the
    clock first, as it would while SQS hides the message."""
    retry_later = service.queue.retry_later

    def hidden_then_shown(receipt: str, delay: int) -> None:
        retry_later(receipt, delay)
        clock.advance(delay)

    monkeypatch.setattr(service.queue, "retry_later", hidden_then_shown)


EVERY_5_MINUTES = "0 */5 * * * *"  # 12:05, 12:10, ...: one fire per tick, so each is read after the last failed


def fire_by_fire(service: Services, clock: FakeClock, fires: int) -> None:
    """Tick a minute before each of the next `fires` fires of EVERY_5_MINUTES and deliver it."""
    for n in range(1, fires + 1):
        clock.set(at("2026-03-01T12:00:00") + n * 300 - 59)
        service.tick.run()
        deliver(service)


# --- retryOn ---------------------------------------------------------------------------------------

def test_by_default_a_404_fails_at_once_after_one_attempt(client: Client, service: Services,
                                                          receiver: Receiver) -> None:
    receiver.respond("/hook", Response(404))
    timer_id = create(client, receiver)
    deliver(service)
    assert len(receiver.received("/hook")) == 1
    [task] = tasks(client, timer_id)
    assert (task["statusName"], task["attempts"], task["httpStatus"]) == ("failed", 1, 404)
    assert "not retried" in task["error"] and "5xx" in task["error"]


def test_by_default_a_500_is_retried(client: Client, service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(500), Response(500), Response(200))
    timer_id = create(client, receiver)
    deliver(service)
    assert len(receiver.received("/hook")) == 3
    [task] = tasks(client, timer_id)
    assert (task["statusName"], task["attempts"], task["httpStatus"]) == ("succeeded", 3, 200)


def test_retry_on_names_what_is_retried(client: Client, service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(404), Response(404), Response(500))
    timer_id = create(client, receiver, retryPolicy={"maxAttempts": 5, "retryOn": ["404"]})
    deliver(service)
    assert [r.header("X-Xtimer-Attempt") for r in receiver.received("/hook")] == ["1", "2", "3"]
    [task] = tasks(client, timer_id)
    assert (task["statusName"], task["attempts"], task["httpStatus"]) == ("failed", 3, 500)  # a 500 is not "404"
    assert timer_data(client, timer_id)["retryPolicy"] == {"maxAttempts": 5, "retryOn": ["404"]}


# --- maxAttempts, maxAgeSeconds, backoff ---------------------------------------------------------------

def test_max_attempts_of_the_timer_beats_the_services(client: Client, service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(503))
    timer_id = create(client, receiver, retryPolicy={"maxAttempts": 2})
    deliver(service)
    assert len(receiver.received("/hook")) == 2
    assert tasks(client, timer_id)[0]["attempts"] == 2


@pytest.mark.usefixtures("backoff_passes")
def test_max_age_stops_retrying_that_long_after_the_fire_time(client: Client, service: Services,
                                                             receiver: Receiver) -> None:
    receiver.respond("/hook", Response(500))
    timer_id = create(client, receiver, retryPolicy={"maxAttempts": 10, "maxAgeSeconds": 60,
                                                     "minBackoffSeconds": 40, "maxBackoffSeconds": 40})
    deliver(service)
    calls = receiver.received("/hook")
    assert len(calls) == 2  # at 12:01:00 and 12:01:40; the next would leave at 12:02:20, 80 s after the fire
    [task] = tasks(client, timer_id)
    assert task["statusName"] == "failed" and "maxAgeSeconds 60" in task["error"]
    assert task["scheduledAt"] == "2026-03-01T12:01:00Z" and task["sentAt"] == "2026-03-01T12:01:40Z"
    assert task["latenessMs"] == 40_000  # the retry's backoff, as documented
    [parked] = dead_letters(service)
    assert "maxAgeSeconds" in parked["MessageAttributes"]["reason"]["StringValue"]


def test_a_max_attempts_above_what_one_message_allows_goes_on_in_a_fresh_message(
    client: Client, service: Services, receiver: Receiver
) -> None:
    receiver.respond("/hook", Response(500))
    timer_id = create(client, receiver, retryPolicy={"maxAttempts": 20})
    [message] = aws.sqs().receive_message(QueueUrl=service.queue.url(), MaxNumberOfMessages=10)["Messages"]
    worn = config.FIRE_QUEUE_MAX_RECEIVES - config.RECEIVE_MARGIN  # receives used up by early bounces, say
    record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
              "attributes": {"ApproximateReceiveCount": str(worn)}}
    assert service.worker.handle([record]) == {"batchItemFailures": []}  # not handed back with its count
    [fresh] = aws.sqs().receive_message(QueueUrl=service.queue.url(), MaxNumberOfMessages=10,
                                        AttributeNames=["All"])["Messages"]
    assert Fire.from_message(fresh["Body"]).timer_id == timer_id
    assert fresh["Attributes"]["ApproximateReceiveCount"] == "1"
    assert tasks(client, timer_id)[0]["statusName"] == "not run"  # waiting for its retry, attempts left


# --- timeoutSeconds --------------------------------------------------------------------------------------

def test_timeout_seconds_bounds_each_attempt(client: Client, service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(200, delay=4.0))  # the service fixture's own timeouts allow 3 s
    timer_id = create(client, receiver, timeoutSeconds=1, retryPolicy={"maxAttempts": 1})
    deliver(service)
    [task] = tasks(client, timer_id)
    assert task["statusName"] == "failed" and task["error"] == "timed out after 1.0 s (read)"
    assert timer_data(client, timer_id)["timeoutSeconds"] == 1


# --- failureCallback ------------------------------------------------------------------------------------

def test_a_fire_failed_for_good_calls_the_failure_callback_once_signed(client: Client, service: Services,
                                                                    receiver: Receiver) -> None:
    receiver.respond("/hook", Response(500, body="down"))
    timer_id = create(client, receiver, retryPolicy={"maxAttempts": 2},
                      failureCallback=failure_hook(receiver, header={"X-Team": "ops"}, body="page-me"))
    deliver(service)
    deliver(service)  # nothing left: no second call
    assert len(receiver.received("/hook")) == 2
    [call] = receiver.received("/failed")
    assert call.method == "POST" and call.header("X-Team") == "ops"
    report = json.loads(call.body)
    assert report["event"] == "xtimer.fire.failed"
    assert report["timer"] == {"timerId": timer_id, "app": "billing", "name": "nightly-invoice",
                               "url": receiver.url("/hook"), "method": "POST"}
    assert report["fire"]["fireTime"] == "2026-03-01T12:01:00Z" and report["fire"]["manual"] is False
    assert report["attempts"] == 2 and "maxAttempts 2" in report["reason"]
    last = report["lastAttempt"]
    assert (last["attempt"], last["httpStatus"], last["error"], last["responseBody"]) == (2, 500, "HTTP 500", "down")
    assert (report["consecutiveFailures"], report["paused"], report["body"]) == (1, False, "page-me")
    secret = get(client, "/xtimer/getSigningSecret?app=billing")[1]["data"]["signingSecret"]
    signed = signing.Signed(method="POST", url=receiver.url("/failed"), timer_id=timer_id,
                            fire_time=call.header("X-Xtimer-Fire-Time"),
                            idempotency_key=call.header("X-Xtimer-Idempotency-Key"), body=call.body)
    stamp = call.header("X-Xtimer-Timestamp")
    assert signing.verify_v2(secret, stamp, call.header("X-Xtimer-Signature"), signed, now=int(stamp))
    assert call.header("X-Xtimer-Idempotency-Key").endswith("-failed")
    [task] = tasks(client, timer_id)
    assert task["failureCallback"]["httpStatus"] == 200 and task["failureCallback"]["error"] is None


def test_a_failing_failure_callback_is_recorded_and_never_retried(client: Client, service: Services,
                                                                 receiver: Receiver) -> None:
    receiver.respond("/hook", Response(404))
    receiver.respond("/failed", Response(500))
    timer_id = create(client, receiver, failureCallback=failure_hook(receiver))
    deliver(service)
    deliver(service)
    assert len(receiver.received("/failed")) == 1
    [task] = tasks(client, timer_id)
    assert task["failureCallback"]["httpStatus"] == 500 and task["failureCallback"]["error"] == "HTTP 500"
    assert len(dead_letters(service)) == 1  # the fire's own; the failure callback leaves none


def test_no_failure_callback_without_one_set(client: Client, service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(404))
    timer_id = create(client, receiver)
    deliver(service)
    assert receiver.received("/failed") == [] and tasks(client, timer_id)[0]["failureCallback"] is None


# --- pauseAfterFailures --------------------------------------------------------------------------------

def test_after_n_fires_failed_in_a_row_the_timer_is_paused_with_a_reason(
    client: Client, service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.respond("/hook", Response(500))
    timer_id = create(client, receiver, cron=EVERY_5_MINUTES, retryPolicy={"maxAttempts": 1},
                      pauseAfterFailures=3, failureCallback=failure_hook(receiver))
    fire_by_fire(service, clock, 5)  # 12:05, 12:10, 12:15 fail; then the timer is paused
    assert len(receiver.received("/hook")) == 3
    data = timer_data(client, timer_id)
    assert data["status"] == 1 and data["consecutiveFailures"] == 3
    assert "3 consecutive failed fires (pauseAfterFailures: 3)" in data["statusReason"]
    assert "HTTP 500" in data["statusReason"]
    assert data["pausedAt"] == "2026-03-01T12:15:00Z"
    assert data["lastFire"]["statusName"] == "failed" and data["lastFire"]["httpStatus"] == 500
    [listed] = get(client, "/xtimer/getAppTimers?app=billing")[1]["data"]["timers"]
    assert listed["statusReason"] == data["statusReason"]
    reports = [json.loads(r.body) for r in receiver.received("/failed")]
    assert [(r["consecutiveFailures"], r["paused"]) for r in reports] == [(1, False), (2, False), (3, True)]
    assert reports[-1]["statusReason"] == data["statusReason"]

    assert get(client, f"/xtimer/enableTimer?id={timer_id}&app=billing")[1]["code"] == 0
    again = timer_data(client, timer_id)
    assert again["status"] == 2 and again["statusReason"] is None and again["consecutiveFailures"] == 0


def test_a_success_resets_the_run_of_failures(client: Client, service: Services, receiver: Receiver,
                                              clock: FakeClock) -> None:
    receiver.respond("/hook", Response(500), Response(500), Response(200), Response(500), Response(500))
    timer_id = create(client, receiver, cron=EVERY_5_MINUTES, retryPolicy={"maxAttempts": 1}, pauseAfterFailures=3)
    fire_by_fire(service, clock, 5)  # fail, fail, succeed, fail, fail
    assert len(receiver.received("/hook")) == 5
    data = timer_data(client, timer_id)
    assert data["status"] == 2 and data["consecutiveFailures"] == 2 and data["statusReason"] is None


# --- what a user sees of each fire ------------------------------------------------------------------------

def test_tasks_show_when_each_call_left_and_get_timer_the_last_fire(client: Client, service: Services,
                                                                   receiver: Receiver) -> None:
    timer_id = create(client, receiver)
    assert timer_data(client, timer_id)["lastFire"] is None
    deliver(service)
    [task] = tasks(client, timer_id)
    assert task["scheduledAt"] == "2026-03-01T12:01:00Z" and task["sentAt"] == "2026-03-01T12:01:00Z"
    assert task["latenessMs"] == 0
    last = timer_data(client, timer_id)["lastFire"]
    assert last == {"fireTime": "2026-03-01T12:01:00Z", "status": 2, "statusName": "succeeded", "httpStatus": 200,
                    "attempts": 1, "error": None, "finishedAt": "2026-03-01T12:01:00Z"}


def test_update_sets_and_clears_the_policy(client: Client, receiver: Receiver) -> None:
    timer_id = create(client, receiver)
    change = {"app": "billing", "id": timer_id, "retryPolicy": {"maxAttempts": 7, "retryOn": ["5XX", "timeout"]},
              "timeoutSeconds": 5, "pauseAfterFailures": 2, "failureCallback": failure_hook(receiver)}
    status, reply = post(client, "/xtimer/updateTimer", change)
    assert status == 200, reply
    data = reply["data"]
    assert data["retryPolicy"] == {"maxAttempts": 7, "retryOn": ["5xx", "timeout"]}
    assert (data["timeoutSeconds"], data["pauseAfterFailures"]) == (5, 2)
    assert data["failureCallback"] == {"url": receiver.url("/failed"), "method": "POST", "header": {}, "body": None}
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "retryPolicy": None,
                                                         "failureCallback": None})
    assert status == 200, reply
    assert reply["data"]["retryPolicy"] is None and reply["data"]["failureCallback"] is None
    assert reply["data"]["timeoutSeconds"] == 5  # not given: left as it was


# --- bad values: the envelope, the field named, the accepted range ------------------------------------------

@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"retryPolicy": {"maxAttempts": 0}}, "retryPolicy.maxAttempts", "from 1 to 20"),
    ({"retryPolicy": {"maxAttempts": 21}}, "retryPolicy.maxAttempts", "from 1 to 20"),
    ({"retryPolicy": {"maxAgeSeconds": 59}}, "retryPolicy.maxAgeSeconds", "from 60 to 86400"),
    ({"retryPolicy": {"minBackoffSeconds": 30, "maxBackoffSeconds": 10}}, "retryPolicy.maxBackoffSeconds",
     "less than minBackoffSeconds (30)"),
    ({"retryPolicy": {"retryOn": ["5xx", "teapot"]}}, "retryPolicy.retryOn", "'teapot' is not an outcome"),
    ({"retryPolicy": {"retryOn": "5xx"}}, "retryPolicy.retryOn", "must be an array"),
    ({"retryPolicy": 3}, "retryPolicy", "must be an object"),
    ({"timeoutSeconds": 0}, "timeoutSeconds", "from 1 to 15"),
    ({"timeoutSeconds": 16}, "timeoutSeconds", "from 1 to 15"),
    ({"pauseAfterFailures": 0}, "pauseAfterFailures", "from 1 to 1000"),
    ({"failureCallback": {"url": "http://169.254.169.254/latest"}}, "failureCallback.url", "link-local"),
    ({"failureCallback": {"url": "ftp://example.com/x"}}, "failureCallback.url", "http:// or https://"),
    ({"failureCallback": {"url": "https://example.com/x", "method": "GET"}}, "failureCallback.method",
     "use one of POST, PUT, PATCH"),
    ({"failureCallback": {"method": "POST"}}, "failureCallback.url", "is required"),
])
def test_bad_delivery_settings_are_refused_with_the_field_named(client: Client, fields: dict, field: str,
                                                                says: str) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(**fields))
    assert status == 400 and reply["code"] != 0 and reply["data"] == {"field": field}
    assert says in reply["message"], reply["message"]
    existing = post(client, "/xtimer/creatTimer", timer(name="existing"))[1]["data"]["timerId"]
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": existing, **fields})
    assert status == 400 and reply["data"] == {"field": field} and says in reply["message"]


def test_a_loopback_failure_callback_is_refused_where_loopback_is_not_allowed(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "false")
    status, reply = post(client, "/xtimer/creatTimer", timer(failureCallback={"url": "http://127.0.0.1:9/x"}))
    assert status == 400 and reply["data"] == {"field": "failureCallback.url"} and "loopback" in reply["message"]

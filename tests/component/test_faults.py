"""Faults injected one by one: what was acknowledged still happens, once.

Each test names the fault; the assertions are what a user would see (callbacks, task records,
dead letters), never the internals.
"""
from __future__ import annotations

import json
import socket
import threading
from typing import Any, Callable

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import config
from chalicelib.fires import tasks as task_status
from chalicelib.storage import aws, models
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.fire import Fire
from chalicelib.storage.models import TaskModel, TimerModel
from chalicelib.delivery.notifier import RESPONSE_BODY_LIMIT, Notifier
from chalicelib.delivery.redrive import redrive_dead_letters
from chalicelib.wiring import Services
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import LEASE_MS
from tests.support.pipeline import dead_letters, deliver, queued
from tests.support.receiver import Receiver, Response
from tests.support.pipeline import fire_times, make_timer, records


def the_message(service: Services) -> dict[str, Any]:
    """Receive the one message the queue holds, as a Lambda SQS record."""
    [message] = aws.sqs().receive_message(QueueUrl=service.queue.url(), MaxNumberOfMessages=10,
                                          AttributeNames=["All"])["Messages"]
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"]}


def one_off(service: Services, receiver: Receiver, **kwargs: Any) -> int:
    return make_timer(service, receiver, "0 1 12 * * *", **kwargs)  # fires once: 12:01:00


class Crash(Exception):
    """Stands for a worker dying (Lambda timeout, out of memory, a lost container)."""


class CrashingNotifier(Notifier):
    """Makes the call, then 'dies' before the worker can record it; time passes while it is dead."""

    def __init__(self, clock: FakeClock, crashes: int = 1) -> None:
        super().__init__(connect_timeout=1.0, read_timeout=2.0)
        self._clock, self._crashes = clock, crashes

    def notify(self, callback: Any, delivery: Any, **options: Any) -> Any:
        outcome = super().notify(callback, delivery, **options)
        if self._crashes:
            self._crashes -= 1
            self._clock.advance(LEASE_MS / 1000 + 60)
            raise Crash("killed after calling, before recording")
        return outcome


# --- the tick and the migrator, twice and overlapping ---------------------------------------

def at_the_same_moment(*steps: Callable[[], Any]) -> None:
    """Run each step on its own thread, all released at once, and wait for them all."""
    start = threading.Barrier(len(steps))

    def released(step: Callable[[], Any]) -> None:
        start.wait()
        step()

    threads = [threading.Thread(target=released, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def calls_made(receiver: Receiver) -> list[tuple[str | None, str | None]]:
    """(timer id, fire time) of every callback received, duplicates included."""
    return [(r.header("X-Xtimer-Timer-Id"), r.header("X-Xtimer-Fire-Time")) for r in receiver.received()]


def test_two_ticks_of_the_same_minute_at_the_same_time_fire_everything_once(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    for n in range(5):
        make_timer(service, receiver, "*/15 * * * * *", name=f"t{n}")
    clock.set(at("2026-03-01T12:01:00"))
    at_the_same_moment(service.tick.run, service.tick.run)
    deliver(service)
    calls = calls_made(receiver)
    assert len(calls) == len(set(calls)) == 5 * 10  # 12:00:30 .. 12:02:45, every 15 s, each timer


def test_enabling_while_a_tick_runs_fires_everything_once(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timers = [make_timer(service, receiver, "*/20 * * * * *", name=f"t{n}", enable=False) for n in range(4)]

    def enable_all() -> None:
        for timer_id in timers:
            service.timers.enable("shop", timer_id)

    def tick_thrice() -> None:
        for _ in range(3):
            service.tick.run()

    at_the_same_moment(enable_all, tick_thrice)
    deliver(service)
    calls = calls_made(receiver)
    assert len(calls) == len(set(calls)) == 4 * 4  # 12:00:40 .. 12:01:40


# --- the worker dying ------------------------------------------------------------------------

def test_a_worker_killed_after_claiming_and_before_calling_leaves_the_fire_to_be_made(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timer_id = one_off(service, receiver)
    record = the_message(service)
    fire = Fire.from_message(record["body"])
    service.tasks.claim(fire, int(clock() * 1000))  # a worker claimed it ... and died
    assert service.worker.handle([record])["batchItemFailures"]  # its lease is live: not called yet
    assert receiver.received() == []
    clock.advance(LEASE_MS / 1000 + 1)  # the dead worker's lease runs out; the message shows up again
    assert service.worker.handle([record]) == {"batchItemFailures": []}
    [call] = receiver.received()
    assert call.header("X-Xtimer-Attempt") == "2"
    [task] = records(timer_id)
    assert (task.status, task.attempts) == (task_status.SUCCEEDED, 2)


def test_a_worker_killed_after_calling_and_before_recording_calls_again_with_the_same_key(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timer_id = one_off(service, receiver)
    record = the_message(service)
    service.worker._notifier = CrashingNotifier(clock)
    assert service.worker.handle([record])["batchItemFailures"]  # died: the message comes back
    assert service.worker.handle([record]) == {"batchItemFailures": []}  # the redelivery
    first, second = receiver.received()
    assert first.header("X-Xtimer-Idempotency-Key") == second.header("X-Xtimer-Idempotency-Key")
    assert [first.header("X-Xtimer-Attempt"), second.header("X-Xtimer-Attempt")] == ["1", "2"]
    [task] = records(timer_id)
    assert (task.status, task.attempts) == (task_status.SUCCEEDED, 2)


# --- callbacks that misbehave ---------------------------------------------------------------

@pytest.fixture
def two_attempts(monkeypatch: pytest.MonkeyPatch, service: Services) -> Services:
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "2")
    service.worker._notifier = Notifier(connect_timeout=0.5, read_timeout=0.5)
    return service


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("answer", "error"), [
    (Response(500, body="oops"), "HTTP 500"),
    (Response(200, delay=1.5), "timed out after 0.5 s (read)"),
    (Response(close=True), "connection closed without a response"),
])
def test_a_callback_that_keeps_failing_is_retried_then_failed_and_dead_lettered_with_the_reason(
    two_attempts: Services, receiver: Receiver, answer: Response, error: str
) -> None:
    receiver.respond("/hook", answer)
    timer_id = one_off(two_attempts, receiver)
    deliver(two_attempts)
    [task] = records(timer_id)
    assert (task.status, task.attempts) == (task_status.FAILED, 2)
    assert task.error == error
    [parked] = dead_letters(two_attempts)
    assert error in parked["MessageAttributes"]["reason"]["StringValue"]
    assert queued(two_attempts) == 0


def test_a_redirect_is_not_followed_nor_retried_by_default(two_attempts: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(302, headers={"Location": "http://169.254.169.254/"}))
    timer_id = one_off(two_attempts, receiver)
    deliver(two_attempts)
    [task] = records(timer_id)
    assert (task.status, task.attempts) == (task_status.FAILED, 1)  # 3xx is not in the default retryOn
    assert task.error.startswith("attempt 1: HTTP 302 (redirects are not followed) (not retried: retryOn is")
    assert len(receiver.received("/hook")) == 1 and len(dead_letters(two_attempts)) == 1


def test_a_refused_connection_is_retried_then_failed(two_attempts: Services, receiver: Receiver) -> None:
    port = closed_port()
    spec_url = f"http://127.0.0.1:{port}/hook"
    timer_id = one_off(two_attempts, receiver)
    TimerModel(timer_id).update(actions=[TimerModel.notify.url.set(spec_url)])
    deliver(two_attempts)
    [task] = records(timer_id)
    assert (task.status, task.error) == (task_status.FAILED, "connection refused")


def test_a_429_is_retried_after_its_retry_after(service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(429, headers={"Retry-After": "42"}), Response(200))
    timer_id = one_off(service, receiver)
    deliver(service)
    assert list(service.queue.retry_delays) == [42]
    [task] = records(timer_id)
    assert (task.status, task.attempts) == (task_status.SUCCEEDED, 2)


def test_an_answer_trickling_in_is_cut_off_and_recorded_as_such(two_attempts: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(200, body=b"x" * 64, chunk_size=1, chunk_delay=0.1))
    timer_id = one_off(two_attempts, receiver)
    deliver(two_attempts)
    [task] = records(timer_id)  # a 2xx arrived: the receiver has it; only the rest of its answer is lost
    assert (task.status, task.attempts, task.http_status) == (task_status.SUCCEEDED, 1, 200)
    assert task.error == "timed out after 1.0 s (whole response)"


def test_a_huge_answer_is_read_only_in_part_and_recorded_truncated(service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(200, body=b"y" * 5_000_000))
    timer_id = one_off(service, receiver)
    deliver(service)
    [task] = records(timer_id)
    assert task.status == task_status.SUCCEEDED and len(task.response_body) == 512


def test_a_hanging_callback_does_not_hold_up_other_timers_fires(service: Services, receiver: Receiver) -> None:
    fast_arrived = threading.Event()

    def slow(request: Any) -> Response:  # answers only once the other timer's callback has arrived
        return Response(200 if fast_arrived.wait(timeout=1.5) else 504)

    def fast(request: Any) -> Response:
        fast_arrived.set()
        return Response(200)

    receiver.respond("/slow", slow)
    receiver.respond("/fast", fast)
    slow_id = one_off(service, receiver, name="slow", path="/slow")
    fast_id = one_off(service, receiver, name="fast", path="/fast")
    deliver(service)  # both fires are due in the same second and come in one batch
    assert [t.status for t in records(slow_id)] == [task_status.SUCCEEDED]
    assert [t.status for t in records(fast_id)] == [task_status.SUCCEEDED]


# --- AWS failing -----------------------------------------------------------------------------

def throttle(operation: str, times: int) -> Callable[..., Any]:
    """A botocore hook answering the first `times` calls of `operation` with DynamoDB throttling."""
    left = {"n": times}

    def hook(request: Any, **kwargs: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if not target.endswith("." + operation) or left["n"] <= 0:
            return None
        left["n"] -= 1
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                           "message": "injected throttling"}).encode()
        hook.left = left["n"]  # type: ignore[attr-defined]
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, MockRawResponse(body))

    hook.left = times  # type: ignore[attr-defined]
    return hook


def test_dynamodb_throttling_is_retried_and_every_fire_is_made_once(service: Services, receiver: Receiver) -> None:
    make_timer(service, receiver, "*/30 * * * * *")
    models.bind()
    events = TaskModel._get_connection().connection.client.meta.events
    hook = throttle("UpdateItem", 2)
    events.register_first("before-send.dynamodb.UpdateItem", hook)
    try:
        deliver(service)
    finally:
        events.unregister("before-send.dynamodb.UpdateItem", hook)
    assert hook.left == 0  # the throttling did happen
    assert fire_times(receiver) == ["2026-03-01T12:00:30Z", "2026-03-01T12:01:00Z", "2026-03-01T12:01:30Z"]


class FlakySqs:
    """The real (moto) SQS client, except that SendMessageBatch fails some entries, or all of it."""

    def __init__(self, fail_entries: int = 0, fail_calls: int = 0) -> None:
        self._fail_entries, self._fail_calls = fail_entries, fail_calls

    def __getattr__(self, name: str) -> Any:
        return getattr(aws.sqs(), name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        if self._fail_calls:
            self._fail_calls -= 1
            raise ConnectionError("injected: SQS unreachable")
        failing, passing = Entries[:self._fail_entries], Entries[self._fail_entries:]
        self._fail_entries = 0
        reply = aws.sqs().send_message_batch(QueueUrl=QueueUrl, Entries=passing) if passing else {}
        reply["Failed"] = [{"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
                           for e in failing]
        return reply


def flaky_queue(service: Services, clock: FakeClock, **faults: int) -> None:
    flaky = FlakySqs(**faults)
    queue = FireQueue(client=lambda: flaky, clock=clock, sleep=clock.sleep, max_delay_seconds=0)
    service.tick._queue = queue
    service.timers._scheduler = service.tick


def test_a_partly_failed_send_is_retried_and_no_fire_is_lost(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    flaky_queue(service, clock, fail_entries=4)
    make_timer(service, receiver, "*/10 * * * * *")
    deliver(service)
    assert len(fire_times(receiver)) == 9 and len(set(fire_times(receiver))) == 9  # 12:00:30 .. 12:01:50


def test_when_sqs_is_down_the_next_tick_sends_what_the_last_one_could_not(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    make_timer(service, receiver, "*/30 * * * * *")  # 12:00:30 .. 12:01:30 queued at enable
    flaky_queue(service, clock, fail_calls=5)  # every try of the next send fails
    clock.set(at("2026-03-01T12:01:00"))
    report = service.tick.run()
    assert report.errors and report.enqueued == 0
    report = service.tick.run()  # SQS is back
    assert report.enqueued == 2  # 12:02:00, 12:02:30
    deliver(service)
    assert fire_times(receiver)[-2:] == ["2026-03-01T12:02:00Z", "2026-03-01T12:02:30Z"]
    assert len(fire_times(receiver)) == len(set(fire_times(receiver))) == 5


def test_redrive_makes_dead_lettered_fires_once_the_receiver_is_fixed(
    two_attempts: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.respond("/hook", Response(503))
    timer_id = one_off(two_attempts, receiver)
    deliver(two_attempts)
    assert [t.status for t in records(timer_id)] == [task_status.FAILED]
    receiver.respond("/hook", Response(200))  # fixed
    report = redrive_dead_letters(queue=two_attempts.queue)
    assert (report.moved, report.failed) == (1, 0)
    deliver(two_attempts)
    [task] = records(timer_id)
    assert (task.status, task.http_status) == (task_status.SUCCEEDED, 200)
    assert [r.header("X-Xtimer-Attempt") for r in receiver.received()] == ["1", "2", "1"]
    assert dead_letters(two_attempts) == [] and config.dead_letter_queue()


class EmptyAtFirstSqs:
    """moto's SQS client, except that the first `empty` receives answer nothing, as a real SQS
    short poll may while messages remain (it samples some of SQS's servers)."""

    def __init__(self, client: Any, empty: int) -> None:
        self._client, self._empty = client, empty
        self.receives = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives += 1
        if self._empty:
            self._empty -= 1
            return {}
        return self._client.receive_message(**{**kwargs, "WaitTimeSeconds": 0})


def waiting_dead_letters(service: Services) -> int:
    """The dead-letter queue's count, read without receiving (which would hide them for a while)."""
    url = service.queue.url(config.dead_letter_queue())
    attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def dead_lettered(service: Services, receiver: Receiver, count: int) -> list[int]:
    """`count` one-off timers whose fire failed every attempt, then the receiver fixed."""
    receiver.respond("/hook", Response(503))
    timer_ids = [one_off(service, receiver, name=f"t{i}") for i in range(count)]
    deliver(service)
    assert waiting_dead_letters(service) == count
    receiver.respond("/hook", Response(200))
    return timer_ids


def test_redrive_keeps_going_while_sqs_answers_empty_but_dead_letters_remain(
    two_attempts: Services, receiver: Receiver
) -> None:
    timer_ids = dead_lettered(two_attempts, receiver, 3)
    sqs = EmptyAtFirstSqs(aws.sqs(), empty=2)
    report = redrive_dead_letters(queue=two_attempts.queue, client=sqs)
    assert (report.moved, report.left, report.failed, report.remaining) == (3, 0, 0, 0)
    assert dead_letters(two_attempts) == []
    deliver(two_attempts)
    assert [[t.status for t in records(i)] for i in timer_ids] == [[task_status.SUCCEEDED]] * 3


def test_redrive_gives_up_after_some_empty_answers_and_says_what_remains(
    two_attempts: Services, receiver: Receiver
) -> None:
    dead_lettered(two_attempts, receiver, 1)
    sqs = EmptyAtFirstSqs(aws.sqs(), empty=1_000)
    report = redrive_dead_letters(queue=two_attempts.queue, client=sqs, max_empty_polls=4)
    assert (report.moved, report.remaining, sqs.receives) == (0, 1, 4)
    assert "still shows 1 message(s): run redrive again" in report.summary()
    assert waiting_dead_letters(two_attempts) == 1


def test_the_redrive_command_prints_how_many_it_moved(
    two_attempts: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from xtimer_admin.__main__ import cli

    dead_lettered(two_attempts, receiver, 2)
    sqs = EmptyAtFirstSqs(aws.sqs(), empty=1)
    monkeypatch.setattr(aws, "sqs", lambda: sqs)
    monkeypatch.setenv("XTIMER_STAGE", "dev")  # the command sets it from --stage
    result = CliRunner().invoke(cli, ["redrive"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"moved": 2, "left": 0, "failed": 0, "remaining": 0}
    assert "moved 2 dead-lettered fire(s) back to the fire queue" in result.stderr


def test_credentials_a_receiver_echoes_back_are_not_recorded(service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", lambda req: Response(500, body=f"bad token: {req.header('X-Token')} "
                                                            f"sig {req.header('X-Xtimer-Signature')}"))
    timer_id = one_off(service, receiver)  # its callback carries X-Token: abc (too short to matter) ...
    TimerModel(timer_id).update(actions=[TimerModel.notify.header.set({"X-Token": "s3cr3t-t0ken-value"})])
    service.worker._notifier = Notifier(connect_timeout=0.5, read_timeout=0.5)
    deliver(service)
    tasks = records(timer_id)
    stored = " ".join(f"{t.response_body} {t.error}" for t in tasks)
    assert "s3cr3t-t0ken-value" not in stored and "[redacted]" in stored
    assert service.signing.for_app("shop")[0] not in stored


def test_a_credential_echoed_across_the_recorded_bodys_limit_is_not_recorded_in_part(
    service: Services, receiver: Receiver
) -> None:
    """The response body is cut at RESPONSE_BODY_LIMIT bytes; a token crossing that byte was
    no longer found whole, so its first characters stayed in the record."""
    token = "tok-" + "Q7x9Z2m4K8w1" * 4
    receiver.respond("/hook", lambda req: Response(500, body="x" * (RESPONSE_BODY_LIMIT - 12)
                                                   + req.header("Authorization").split()[1]))
    timer_id = one_off(service, receiver)
    TimerModel(timer_id).update(actions=[TimerModel.notify.header.set({"Authorization": f"Bearer {token}"})])
    deliver(service)
    stored = " ".join(t.response_body or "" for t in records(timer_id))
    assert stored.startswith("xxx") and token[:12] not in stored and "[redacted]" in stored


# --- issue 13: the fire path's own defects ---------------------------------------------------

class VisibilityLog:
    """The real (moto) SQS client; keeps the visibility timeouts asked for, and can fail the
    first `fail_dead_letters` sends to the dead-letter queue."""

    def __init__(self, fail_dead_letters: int = 0) -> None:
        self.visibility: list[int] = []
        self._fail = fail_dead_letters

    def __getattr__(self, name: str) -> Any:
        return getattr(aws.sqs(), name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.visibility.append(kwargs["VisibilityTimeout"])
        return aws.sqs().change_message_visibility(**kwargs)

    def send_message(self, **kwargs: Any) -> Any:
        if self._fail and kwargs["QueueUrl"].endswith(config.dead_letter_queue()):
            self._fail -= 1
            raise ConnectionError("injected: the dead-letter queue is unreachable")
        return aws.sqs().send_message(**kwargs)


def watched_queue(service: Services, clock: FakeClock, sqs: VisibilityLog, **kwargs: Any) -> None:
    service.worker._queue = FireQueue(client=lambda: sqs, clock=clock, sleep=clock.sleep, **kwargs)


def test_a_retry_after_of_an_hour_is_kept_not_cut_to_fifteen_minutes(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.respond("/hook", Response(503, headers={"Retry-After": "3600"}))
    one_off(service, receiver)
    record = the_message(service)
    sqs = VisibilityLog()
    watched_queue(service, clock, sqs)  # SQS's real limits: no max_delay_seconds=0 here
    assert service.worker.handle([record])["batchItemFailures"]
    assert sqs.visibility == [3600]


def test_a_fire_failed_for_good_reaches_the_dead_letter_queue_even_if_the_first_send_there_fails(
    two_attempts: Services, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.respond("/hook", Response(500))
    timer_id = one_off(two_attempts, receiver)
    record = the_message(two_attempts)
    watched_queue(two_attempts, clock, VisibilityLog(fail_dead_letters=1), max_delay_seconds=0)
    assert two_attempts.worker.handle([record])["batchItemFailures"]  # attempt 1 failed: retry
    assert two_attempts.worker.handle([record])["batchItemFailures"]  # attempt 2, the last; the DLQ send fails
    [task] = records(timer_id)
    assert task.status != task_status.FAILED  # not failed yet: it is not in the DLQ
    assert two_attempts.worker.handle([record]) == {"batchItemFailures": []}  # redelivered: parked, not called
    assert len(receiver.received("/hook")) == 2
    [task] = records(timer_id)
    assert (task.status, task.attempts, task.error) == (task_status.FAILED, 2, "HTTP 500")
    [parked] = dead_letters(two_attempts)
    assert Fire.from_message(parked["Body"]).timer_id == timer_id


def test_max_attempts_leaves_receives_to_spare_under_the_queues_redrive_limit(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.storage import resources
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "20")
    [fire_queue] = [q for q in resources.queue_definitions() if q.key == "fire_queue"]
    assert config.max_attempts() == 15
    assert fire_queue.max_receives - config.max_attempts() >= config.RECEIVE_MARGIN == 5


def at_receive(record: dict[str, Any], count: int) -> dict[str, Any]:
    return {**record, "attributes": {"ApproximateReceiveCount": str(count)}}


def test_a_fire_still_failing_at_the_queues_last_receive_is_parked_with_a_reason(
    service: Services, receiver: Receiver
) -> None:
    receiver.respond("/hook", Response(500))
    timer_id = one_off(service, receiver)
    last = at_receive(the_message(service), config.FIRE_QUEUE_MAX_RECEIVES)
    assert service.worker.handle([last]) == {"batchItemFailures": []}  # not left to the redrive policy
    [task] = records(timer_id)
    assert task.status == task_status.FAILED
    assert "last receive" in task.error and "HTTP 500" in task.error
    [parked] = dead_letters(service)
    assert "last receive" in parked["MessageAttributes"]["reason"]["StringValue"]


def test_a_message_failing_on_aws_at_its_last_receive_still_leaves_a_failed_task(
    service: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    timer_id = one_off(service, receiver)
    last = at_receive(the_message(service), config.FIRE_QUEUE_MAX_RECEIVES)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("injected: DynamoDB unreachable for the claim")

    monkeypatch.setattr(service.tasks, "claim", unreachable)
    assert service.worker.handle([last]) == {"batchItemFailures": []}
    [task] = records(timer_id)
    assert task.status == task_status.FAILED and "DynamoDB unreachable" in task.error
    assert len(dead_letters(service)) == 1


def test_a_bucket_at_its_last_receive_goes_on_as_single_fires(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timers = [make_timer(service, receiver, "0 3 12 * * *", name=f"t{n}") for n in range(3)]
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    bucket = at_receive(the_message(service), config.FIRE_QUEUE_MAX_RECEIVES)
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert receiver.received() == []  # nothing called yet: each fire now travels with a fresh count
    deliver(service)
    assert sorted(int(r.header("X-Xtimer-Timer-Id")) for r in receiver.received()) == sorted(timers)


def test_enabling_and_sending_start_no_threads_once_the_pools_exist(
    service: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_timer(service, receiver, "*/2 * * * * *", name="warm-up")  # the pools start their threads
    service.queue.send([Fire(timer_id=1, app="shop", fire_ms=(1_800_000_000 + n) * 1000, generation=1)
                        for n in range(100)])
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for n in range(3):
        make_timer(service, receiver, "*/2 * * * * *", name=f"t{n}")
    service.queue.send([Fire(timer_id=1, app="shop", fire_ms=(1_800_000_000 + n) * 1000, generation=1)
                        for n in range(100)])
    # a pool built for one call has the default names (ThreadPoolExecutor-<n>_<k>); the process's
    # own pools are named, and may still start a thread of their own up to their size
    assert [name for name in started if name.startswith("ThreadPoolExecutor-")] == []

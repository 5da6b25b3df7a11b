"""Fair delivery (chalicelib.delivery.fairness) as the tenants see it: app A's receiver hangs, app
B's answers at once, both in the same bucket and batch of a worker with few call threads.

The hanging receiver blocks on a threading.Event released at teardown; the service's notifier
gives up on it after its 2 s read timeout. What is asserted is what a user sees: the calls made
(and in which order against the hanging calls' outcomes), the task records, getTasks.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import pytest
from chalice.test import Client

from chalicelib.delivery.notifier import Notifier
from chalicelib.delivery.worker import Worker
from chalicelib.fires import tasks as task_status
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get  # noqa: F401 - the client fixture
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import dead_letters, deliver, make_timer, messages, records
from tests.support.receiver import Receiver, Request, Response

SECOND = "2026-03-01T12:03:00"


class Events:
    """What happened, in order, across the receivers' and the worker's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[str] = []

    def add(self, event: str) -> None:
        with self._lock:
            self.seen.append(event)

    def first(self, event: str) -> int:
        return self.seen.index(event)

    def last(self, event: str) -> int:
        return max(i for i, e in enumerate(self.seen) if e == event)


class WatchedNotifier(Notifier):
    """The real notifier; it also notes each outcome of a call to the hanging receiver."""

    def __init__(self, events: Events, hanging_port: int) -> None:
        super().__init__(connect_timeout=1.0, read_timeout=2.0)
        self._events, self._port = events, hanging_port

    def notify(self, callback: Any, delivery: Any, **options: Any) -> Any:
        outcome = super().notify(callback, delivery, **options)
        if f":{self._port}/" in callback.url:
            self._events.add("outcome from A")
        return outcome


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    released = threading.Event()
    yield released
    released.set()


@pytest.fixture
def hanging(events: Events, release: threading.Event) -> Iterator[Receiver]:
    """App A's receiver: every call hangs until `release`, then answers 200."""
    def hang(request: Request) -> Response:
        events.add("A called")
        release.wait(30)
        return Response(200)

    with Receiver(hang) as rx:
        yield rx
        release.set()


@pytest.fixture
def fast(events: Events) -> Iterator[Receiver]:
    """App B's receiver: answers at once."""
    def answer(request: Request) -> Response:
        events.add("B called")
        return Response(200)

    with Receiver(answer) as rx:
        yield rx


def make(service: Services, app: str, receiver: Receiver, cron: str, count: int, name: str = "t") -> list[int]:
    return [make_timer(service, receiver, cron, name=f"{name}{n}", app=app) for n in range(count)]


def worker(service: Services, clock: FakeClock, events: Events, hanging: Receiver, threads: int) -> Worker:
    """A worker of the service with few call threads, as a busy one has few left."""
    return Worker(notifier=WatchedNotifier(events, hanging.port), tasks=service.tasks, queue=service.queue,
                  clock=clock, sleep=clock.sleep, max_early_seconds=float("inf"), signing=service.signing,
                  pool_size=threads)


def calls_per_timer(*receivers: Receiver) -> dict[int, int]:
    counts: dict[int, int] = {}
    for receiver in receivers:
        for request in receiver.received():
            timer_id = int(request.header("X-Xtimer-Timer-Id") or 0)
            counts[timer_id] = counts.get(timer_id, 0) + 1
    return counts


def test_a_hanging_receiver_of_app_a_uses_its_own_share_and_b_is_called_meanwhile_and_nothing_is_lost_or_doubled(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver, fast: Receiver,
        release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "2")
    a_ids = make(service, "a", hanging, "0 3 12 * * *", 4)
    b_ids = make(service, "b", fast, "0 3 12 * * *", 3)
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    [bucket] = messages(service)  # A's and B's fires of 12:03:00 travel together
    assert len(json.loads(bucket["body"])["fires"]) == 7
    small = worker(service, clock, events, hanging, threads=3)  # fewer call threads than A has fires

    assert small.handle([bucket]) == {"batchItemFailures": []}
    # B's three calls were all made while A's calls hung; only A's share (2) of A's fires was called
    assert events.seen.count("B called") == 3 and events.seen.count("A called") == 2
    assert events.last("B called") < events.first("outcome from A")
    assert all([t.status for t in records(b)] == [task_status.SUCCEEDED] for b in b_ids)
    deferred = [a for a in a_ids if records(a)[0].error and records(a)[0].error.startswith("deferred")]
    assert len(deferred) == 2
    for a in deferred:  # handed back with the claim released: waiting, no attempt counted, the reason said
        [task] = records(a)
        assert (task.status, task.attempts) == (task_status.NOT_RUN, 0)
        assert task.error == ("deferred for 5 s, no call made: app 'a' has 2 callbacks in flight "
                              "(XTIMER_MAX_INFLIGHT_PER_APP=2)")

    release.set()  # A's receiver is back: the deferred fires and the retries of the hung ones are made, once each
    deliver(service)
    assert calls_per_timer(hanging) == {a: (1 if a in deferred else 2) for a in a_ids}
    assert calls_per_timer(fast) == {b: 1 for b in b_ids}
    for a in a_ids:
        [task] = records(a)
        assert (task.status, task.attempts) == (task_status.SUCCEEDED, 1 if a in deferred else 2)


def test_the_breaker_opens_after_timeouts_and_its_reason_is_in_the_task_record_and_get_tasks(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver, client: Client,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_BREAKER_FAILURES", "3")
    timed_out = make(service, "a", hanging, "0 3 12 * * *", 3)
    [later] = make(service, "a", hanging, "5 3 12 * * *", 1, name="later")
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    bucket, single = sorted(messages(service), key=lambda m: len(m["body"]), reverse=True)
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}  # three timeouts in a row: open
    assert events.seen.count("A called") == 3
    assert service.worker.handle([single]) == {"batchItemFailures": []}  # parked: sent again as a new message
    assert events.seen.count("A called") == 3  # no call made
    [task] = records(later)
    expected = (f"circuit open for host 127.0.0.1:{hanging.port} since 2026-03-01T12:03:00Z after 3 timeouts or "
                "connection failures in a row; next probe at 2026-03-01T12:03:30Z (no call made)")
    assert (task.status, task.attempts, task.error) == (task_status.NOT_RUN, 0, expected)  # no attempt counted
    [shown] = get(client, f"/xtimer/getTasks?id={later}&app=a")[1]["data"]["tasks"]
    assert shown["error"] == expected
    assert all(records(t)[0].error == "timed out after 2.0 s (read)" for t in timed_out)


def test_a_fire_to_an_open_circuit_costs_no_claim_and_no_call_and_is_made_once_after_the_circuit_closes(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver, fast: Receiver,
        release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_BREAKER_FAILURES", "3")
    make(service, "a", hanging, "0 3 12 * * *", 3)
    parked = make(service, "a", hanging, "5 3 12 * * *", 2, name="parked")
    b_ids = make(service, "b", fast, "5 3 12 * * *", 2)
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    first, shared = sorted(messages(service), key=lambda m: json.loads(m["body"])["fireMs"])
    assert len(json.loads(shared["body"])["fires"]) == 4  # A's and B's fires of 12:03:05 travel together
    assert service.worker.handle([first]) == {"batchItemFailures": []}  # three timeouts: A's circuit opens
    events.seen.clear()

    assert service.worker.handle([shared]) == {"batchItemFailures": []}
    assert events.seen == ["B called", "B called"]  # B is called; A's fires are not even claimed
    assert all([t.status for t in records(b)] == [task_status.SUCCEEDED] for b in b_ids)
    for a in parked:
        [task] = records(a)
        assert (task.status, task.attempts, task.started_at) == (task_status.NOT_RUN, 0, None)
        assert task.error.startswith(f"circuit open for host 127.0.0.1:{hanging.port}")
    back = messages(service)  # each parked fire is back in the queue, due after the circuit's next probe
    bodies = [b for b in (json.loads(m["body"]) for m in back) if b["timerId"] in parked]  # (and A's retries)
    assert sorted(b["timerId"] for b in bodies) == sorted(parked)
    assert all(b["notBeforeMs"] >= at("2026-03-01T12:03:32") * 1000 for b in bodies)  # probe at 12:03:32

    release.set()  # A's receiver answers again: the probe closes the circuit, each parked fire is made once
    clock.set(at("2026-03-01T12:05:00"))  # past every parked fire's return (the probe's answer, plus up to a period)
    for message in back:  # one by one: the first is the probe, and its answer closes the circuit
        assert service.worker.handle([message]) == {"batchItemFailures": []}
    deliver(service)
    assert {a: n for a, n in calls_per_timer(hanging).items() if a in parked} == {a: 1 for a in parked}
    for a in parked:
        [task] = records(a)
        assert (task.status, task.attempts) == (task_status.SUCCEEDED, 1)
    assert calls_per_timer(fast) == {b: 1 for b in b_ids}


def test_a_fire_parked_past_the_catch_up_window_fails_for_good_with_the_reason_and_is_never_called(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_BREAKER_FAILURES", "3")
    monkeypatch.setenv("XTIMER_BREAKER_OPEN_SECONDS", "3600")  # the circuit stays open
    make(service, "a", hanging, "0 3 12 * * *", 3)
    [late] = make(service, "a", hanging, "5 3 12 * * *", 1, name="late")
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    first, single = sorted(messages(service), key=lambda m: json.loads(m["body"])["fireMs"])
    assert service.worker.handle([first]) == {"batchItemFailures": []}  # three timeouts: the circuit opens
    events.seen.clear()
    clock.set(at("2026-03-01T12:08:10"))  # 305 s after its fire time, the circuit still open
    assert service.worker.handle([single]) == {"batchItemFailures": []}
    assert events.seen == []
    [task] = records(late)
    assert (task.status, task.attempts) == (task_status.FAILED, 0)
    assert task.error.startswith("parked until 305 s late, past the catch-up window (XTIMER_CATCH_UP_SECONDS=300): "
                                 f"circuit open for host 127.0.0.1:{hanging.port}")
    [parked] = [m for m in dead_letters(service) if json.loads(m["Body"])["timerId"] == late]
    assert "past the catch-up window" in parked["MessageAttributes"]["reason"]["StringValue"]


def test_retries_keep_to_their_own_share_and_first_attempts_are_made_while_they_hang(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver, fast: Receiver,
        release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_RETRIES", "1")
    retried = make(service, "a", hanging, "0 3 12 * * *", 2)
    first = make(service, "b", fast, "1 3 12 * * *", 3)
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    bucket_a, bucket_b = sorted(messages(service), key=lambda m: json.loads(m["body"])["fireMs"])
    small = worker(service, clock, events, hanging, threads=3)
    assert small.handle([bucket_a]) == {"batchItemFailures": []}  # both time out: two retries queued
    events.seen.clear()
    retries = messages(service)
    assert len(retries) == 2

    small.handle(retries + [bucket_b])  # one batch: two retries and a bucket of first attempts
    assert events.seen.count("A called") == 1  # the retries' share: one in flight
    assert events.seen.count("B called") == 3 and events.last("B called") < events.first("outcome from A")
    waiting = [t for t in retried if (records(t)[0].error or "").startswith("deferred")]
    assert len(waiting) == 1
    [task] = records(waiting[0])
    assert (task.status, task.attempts) == (task_status.NOT_RUN, 1)
    assert task.error == "deferred for 5 s, no call made: 1 retries are in flight (XTIMER_MAX_INFLIGHT_RETRIES=1)"

    release.set()
    deliver(service)
    assert all(records(t)[0].status == task_status.SUCCEEDED for t in retried + first)
    assert calls_per_timer(fast) == {b: 1 for b in first}


def test_a_fire_deferred_past_the_catch_up_window_fails_for_good_with_the_reason_and_is_dead_lettered(
        service: Services, clock: FakeClock, events: Events, hanging: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"XTIMER_MAX_INFLIGHT_PER_APP": "1", "XTIMER_LANE_WAIT_MS": "0"}.items():
        monkeypatch.setenv(name, value)
    timers = make(service, "a", hanging, "0 3 12 * * *", 2)
    clock.set(at("2026-03-01T12:02:00"))
    service.tick.run()
    [bucket] = messages(service)
    clock.set(at("2026-03-01T12:08:01"))  # the worker was away: the fires are 301 s late, past the 300 s window
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert events.seen.count("A called") == 1
    [given_up] = [t for t in timers if records(t)[0].status == task_status.FAILED]
    [task] = records(given_up)
    assert task.attempts == 0
    assert task.error == ("deferred until 301 s late, past the catch-up window (XTIMER_CATCH_UP_SECONDS=300), "
                          "no call made: app 'a' has 1 callbacks in flight (XTIMER_MAX_INFLIGHT_PER_APP=1)")
    [parked] = dead_letters(service)
    assert json.loads(parked["Body"])["timerId"] == given_up

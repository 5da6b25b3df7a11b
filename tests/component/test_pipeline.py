"""The scheduling pipeline end to end on moto: create, enable, tick, queue, worker, callback.

The clock is injected: the worker "waits" for each fire time on it, so no test sleeps.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.fires import tasks as task_status
from chalicelib.fires.queue import FireQueue
from chalicelib.scheduling.tick import Tick
from chalicelib.storage import aws
from chalicelib.storage.models import DUE_SHARDS, TimerModel
from chalicelib.timers import store
from chalicelib.wiring import Services
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import dead_letters, deliver, fire_times, make_timer, queued, records
from tests.support.receiver import Receiver, Response


def test_enabling_enqueues_the_near_fires_without_waiting_for_a_tick(service: Services, receiver: Receiver) -> None:
    make_timer(service, receiver, "*/20 * * * * *")  # enabled at 12:00:30
    deliver(service)
    assert fire_times(receiver) == [
        "2026-03-01T12:00:40Z", "2026-03-01T12:01:00Z", "2026-03-01T12:01:20Z", "2026-03-01T12:01:40Z",
    ]


def test_the_callback_is_exactly_what_the_timer_says(service: Services, receiver: Receiver) -> None:
    timer_id = make_timer(service, receiver, "0 * * * * *", method="PUT")
    deliver(service)
    first = receiver.received("/hook")[0]
    assert first.method == "PUT"
    assert first.body == b'{"k": 1}'
    assert first.header("X-Token") == "abc"
    assert first.header("X-Xtimer-Timer-Id") == str(timer_id)
    assert first.header("X-Xtimer-Fire-Time") == "2026-03-01T12:01:00Z"
    assert first.header("X-Xtimer-Attempt") == "1"
    assert first.header("X-Xtimer-Idempotency-Key") == f"{timer_id}-{int(at('2026-03-01T12:01:00')) * 1000}"


def test_a_callback_is_never_made_before_its_fire_time(service: Services, receiver: Receiver,
                                                      clock: FakeClock) -> None:
    seen: list[tuple[float, float]] = []
    receiver.respond("/hook", lambda req: (seen.append((clock(), float(at(req.header("X-Xtimer-Fire-Time")[:-1])))),
                                           Response(200))[1])
    make_timer(service, receiver, "*/7 * * * * *")
    deliver(service)
    assert len(seen) == 13
    assert all(now >= due for now, due in seen)


def test_every_fire_is_recorded_as_a_succeeded_task(service: Services, receiver: Receiver) -> None:
    timer_id = make_timer(service, receiver, "*/30 * * * * *")
    deliver(service)
    done = records(timer_id)
    assert [t.status for t in done] == [task_status.SUCCEEDED] * 3
    assert all(t.attempts == 1 and t.http_status == 200 and t.duration_ms is not None for t in done)
    assert all(t.expires_at.timestamp() - t.fire_ms / 1000 == 7 * 86400 for t in done)


def test_ticks_then_carry_on_minute_after_minute(service: Services, receiver: Receiver, clock: FakeClock) -> None:
    make_timer(service, receiver, "*/2 * * * *")  # every 2 minutes, 5 fields
    for minute in range(1, 8):
        clock.set(at("2026-03-01T12:00:00") + minute * 60 + 2)
        service.tick.run()
        deliver(service)
    assert fire_times(receiver) == [f"2026-03-01T12:{m:02d}:00Z" for m in (2, 4, 6, 8)]


def test_the_same_minute_ticked_twice_fires_once(service: Services, receiver: Receiver, clock: FakeClock) -> None:
    make_timer(service, receiver, "*/10 * * * * *")
    clock.set(at("2026-03-01T12:01:01"))
    service.tick.run()
    service.tick.run()
    deliver(service)
    clock.set(at("2026-03-01T12:02:01"))
    service.tick.run()
    deliver(service)
    times = fire_times(receiver)
    assert len(times) == len(set(times))
    assert times[0] == "2026-03-01T12:00:30Z" and times[-1] == "2026-03-01T12:03:50Z"
    assert len(times) == 21


def test_a_message_delivered_twice_is_called_once(service: Services, receiver: Receiver) -> None:
    timer_id = make_timer(service, receiver, "0 * * * * *")
    timer = TimerModel.get(timer_id)
    from chalicelib.fires.fire import Fire
    duplicate = Fire(timer_id=timer_id, app="shop", fire_ms=int(at("2026-03-01T12:01:00")) * 1000,
                     generation=int(timer.generation))
    service.queue.send([duplicate, duplicate])
    deliver(service)
    assert fire_times(receiver).count("2026-03-01T12:01:00Z") == 1


def test_a_failing_callback_is_retried_with_backoff_then_succeeds(service: Services, receiver: Receiver) -> None:
    receiver.respond("/hook", Response(500), Response(503), Response(200))
    timer_id = make_timer(service, receiver, "0 1 12 * * *")  # once, at 12:01:00
    deliver(service)
    calls = receiver.received("/hook")
    assert [c.header("X-Xtimer-Attempt") for c in calls] == ["1", "2", "3"]
    assert len({c.header("X-Xtimer-Idempotency-Key") for c in calls}) == 1
    assert list(service.queue.retry_delays)[:2] and all(d >= 1 for d in service.queue.retry_delays)
    [task] = records(timer_id)
    assert (task.status, task.attempts, task.http_status) == (task_status.SUCCEEDED, 3, 200)


def test_after_the_last_attempt_the_fire_is_failed_and_dead_lettered(
    service: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "3")
    receiver.respond("/hook", Response(500, body="boom"))
    timer_id = make_timer(service, receiver, "0 1 12 * * *")
    deliver(service)
    assert len(receiver.received("/hook")) == 3
    [task] = records(timer_id)
    assert (task.status, task.attempts, task.http_status) == (task_status.FAILED, 3, 500)
    assert task.error == "HTTP 500" and task.response_body == "boom"
    [parked] = dead_letters(service)
    assert str(timer_id) in parked["Body"]
    assert "HTTP 500" in parked["MessageAttributes"]["reason"]["StringValue"]
    assert queued(service) == 0


def test_a_timer_disabled_with_fires_queued_makes_none_of_them(service: Services, receiver: Receiver) -> None:
    timer_id = make_timer(service, receiver, "*/5 * * * * *")
    service.timers.disable("shop", timer_id)
    deliver(service)
    assert receiver.received("/hook") == []
    assert records(timer_id) == []


def test_a_timer_never_enabled_never_fires(service: Services, receiver: Receiver, clock: FakeClock) -> None:
    make_timer(service, receiver, "* * * * * *", enable=False)
    for minute in range(1, 4):
        clock.set(at("2026-03-01T12:00:00") + minute * 60)
        service.tick.run()
        deliver(service)
    assert receiver.received() == []


def test_disable_then_enable_does_not_double_the_queued_fires(service: Services, receiver: Receiver) -> None:
    timer_id = make_timer(service, receiver, "*/30 * * * * *")
    service.timers.disable("shop", timer_id)
    service.timers.enable("shop", timer_id)
    deliver(service)
    times = fire_times(receiver)
    assert times == sorted(set(times)) and len(times) == 3


def test_fires_within_the_catch_up_window_are_made_late_and_older_ones_are_missed(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timer_id = make_timer(service, receiver, "0 * * * * *")  # every minute; enabled at 12:00:30
    deliver(service)  # 12:01 (the window ends before 12:02)
    clock.set(at("2026-03-01T12:12:30"))  # the scheduler was down for 10 minutes
    service.tick.run()
    deliver(service)
    # catch-up window 300 s, so back to 12:07:30: 12:08 .. 12:12 made late, 12:13 on time,
    # 12:02 .. 12:07 recorded as missed and not called
    assert fire_times(receiver) == [f"2026-03-01T12:{m:02d}:00Z" for m in (1, 8, 9, 10, 11, 12, 13)]
    by_status = {int(t.fire_ms / 1000): t.status for t in records(timer_id)}
    assert [by_status[int(at(f"2026-03-01T12:{m:02d}:00"))] for m in range(2, 8)] == [task_status.MISSED] * 6


def test_a_daily_timer_follows_its_time_zone_across_a_dst_change(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    # 09:00 in New York: 14:00 UTC before 2026-03-08 (EST), 13:00 UTC from then on (EDT).
    clock.set(at("2026-03-07T13:59:00"))
    make_timer(service, receiver, "0 9 * * *", tz="America/New_York")
    for when in ("2026-03-07T13:59:00", "2026-03-08T12:59:00"):
        clock.set(at(when))
        service.tick.run()
        deliver(service)
    assert fire_times(receiver) == ["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"]


def test_a_one_off_timer_fires_once_and_then_leaves_the_due_index(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    clock.set(at("2027-03-01T11:59:30"))
    timer_id = make_timer(service, receiver, "0 0 12 1 3 ? 2027")  # 12:00:00 on 2027-03-01 only
    deliver(service)
    reports = []
    for minute in range(1, 4):
        clock.set(at("2027-03-01T12:00:00") + minute * 60)
        reports.append(service.tick.run())
        deliver(service)
    assert fire_times(receiver) == ["2027-03-01T12:00:00Z"]
    assert [r.errors for r in reports] == [[], [], []]
    assert TimerModel.get(timer_id).next_fire is None


def test_queueing_ten_minutes_ahead_writes_a_minutely_timers_cursor_once_per_window(
    service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XTIMER_ENQUEUE_AHEAD_SECONDS", "600")
    make_timer(service, receiver, "0 * * * * *")  # enabled at 12:00:30: queued up to 12:02:00 only
    moved = []
    for minute in range(1, 21):
        clock.set(at("2026-03-01T12:00:00") + minute * 60 + 1)
        moved.append(service.tick.run().timers)
        deliver(service)
    # the first tick takes it over (queued to 12:11, with every other timer's fires of those
    # seconds, in buckets); then only when its cursor comes within two minutes: at 12:10 (to 12:20)
    # and 12:19 (to 12:29)
    assert [m + 1 for m, n in enumerate(moved) if n] == [1, 10, 19]
    assert fire_times(receiver) == [f"2026-03-01T12:{m:02d}:00Z" for m in range(1, 29)]


class RecordingSqs:
    """The real (moto) SQS client; keeps the fire time of every message sent, in send order."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(aws.sqs(), name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sent += [json.loads(e["MessageBody"])["fireMs"] for e in Entries]
        return aws.sqs().send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_a_tick_queues_the_soonest_fires_of_every_shard_first(
    service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick slower than its lead (10,000 timers on the local stack) is then late on the last
    seconds of its window, not on the first seconds of the last shard it reads."""
    ids = iter(range(1, 17))  # shards 1..7, 0, 1..7, 0: the higher a timer's shard, the sooner it fires
    monkeypatch.setattr(store, "new_timer_id", lambda now_ms: next(ids))
    for n in range(1, 17):
        make_timer(service, receiver, f"{16 - n} 3 12 * * *", name=f"t{n}")  # once, at 12:03:(16 - n)
    assert {int(TimerModel.get(n).due_shard) for n in range(1, 17)} == set(range(DUE_SHARDS))
    sqs = RecordingSqs()
    tick = Tick(queue=FireQueue(client=lambda: sqs, clock=clock, sleep=clock.sleep, max_delay_seconds=0),
                clock=clock, page=3)  # six pages: each one sent before the next is read
    clock.set(at("2026-03-01T12:02:00"))
    report = tick.run()
    assert (report.enqueued, report.errors) == (16, [])
    assert sqs.sent == sorted(sqs.sent) and len(set(sqs.sent)) == 16
    deliver(service)
    assert fire_times(receiver) == [f"2026-03-01T12:03:{s:02d}Z" for s in range(16)]

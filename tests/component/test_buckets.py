"""Fires of the same second travel as one bucket message and are handled as one unit of work;
each fire keeps its own claim, so every way a bucket can be doubled, raced or cut short still
calls each fire exactly once (or, after a crash mid-call, again with the same idempotency key).

What is asserted is what a user sees: callbacks made, task records, messages left in the queues.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from chalicelib.fires import tasks as task_status
from chalicelib.fires.fire import Fire
from chalicelib.fires.queue import messages_for
from chalicelib.storage import aws, models
from chalicelib.storage.models import TaskModel, TimerModel
from chalicelib.delivery import burst as bursts
from chalicelib.delivery.burst import Burst
from chalicelib.delivery.notifier import Notifier
from chalicelib.delivery.worker import Worker
from chalicelib.wiring import Services
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import LEASE_MS, deliver, make_timer, messages, queued, records
from tests.support.receiver import Receiver, Response

SECOND = "2026-03-01T12:03:00"


def one_off_timers(service: Services, receiver: Receiver, count: int, *, tick: bool = True) -> list[int]:
    """`count` timers that fire once, all at 12:03:00, enabled at 12:00:30 (too early for their
    fire to be queued then); the tick at 12:02:00 sends it in buckets."""
    timers = [make_timer(service, receiver, "0 3 12 * * *", name=f"t{n}") for n in range(count)]
    assert queued(service) == 0
    if tick:
        service.clock.set(at("2026-03-01T12:02:00"))  # type: ignore[attr-defined]
        service.tick.run()
    return timers


def the_bucket(service: Services) -> dict[str, Any]:
    [record] = messages(service)
    assert json.loads(record["body"])["v"] == 2 and len(json.loads(record["body"])["fires"]) > 1
    return record


def calls_per_timer(receiver: Receiver) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in receiver.received():
        counts[request.header("X-Xtimer-Timer-Id")] = counts.get(request.header("X-Xtimer-Timer-Id"), 0) + 1
    return counts


def test_the_fires_of_one_second_travel_as_one_message_and_are_all_made(
    service: Services, receiver: Receiver
) -> None:
    timers = one_off_timers(service, receiver, 30)
    bodies = [json.loads(m["body"]) for m in messages(service)]
    assert sorted(len(b["fires"]) for b in bodies) == [5, 25]  # cut at BUCKET_SIZE
    assert {b["fireMs"] for b in bodies} == {int(at(SECOND)) * 1000}


def test_a_bucket_delivered_twice_calls_each_fire_once(service: Services, receiver: Receiver) -> None:
    timers = one_off_timers(service, receiver, 6)
    bucket = the_bucket(service)
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}
    assert all([t.status for t in records(timer_id)] == [task_status.SUCCEEDED] for timer_id in timers)


def test_a_buckets_fires_wait_for_their_second_on_one_thread(
    service: Services, receiver: Receiver
) -> None:
    """One waiter per bucket (chalicelib.delivery.unit): a herd's hundreds of fires must not each
    sleep on a thread of their own until the same instant, all to wake at once."""
    timers = one_off_timers(service, receiver, 25)
    bucket = the_bucket(service)
    worker = service.worker
    assert worker.handle([bucket]) == {"batchItemFailures": []}
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}
    assert len(worker._waits._threads) == 1  # type: ignore[attr-defined]


def test_two_workers_with_the_same_bucket_at_once_call_each_fire_once(
    service: Services, receiver: Receiver
) -> None:
    timers = one_off_timers(service, receiver, 8)
    bucket = the_bucket(service)
    start = threading.Barrier(2)
    replies = []

    def worker() -> None:
        start.wait()
        replies.append(service.worker.handle([bucket]))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [{"batchItemFailures": []}] * 2
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}
    deliver(service)  # what the slower worker found held by the other comes back, and is dropped
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}


def test_a_bucket_whose_timers_changed_in_part_makes_only_the_live_fires(
    service: Services, receiver: Receiver
) -> None:
    kept, disabled, deleted, rescheduled = one_off_timers(service, receiver, 4)
    bucket = the_bucket(service)
    service.timers.disable("shop", disabled)
    service.timers.delete("shop", deleted)
    TimerModel(rescheduled).update(actions=[TimerModel.generation.add(1)])  # what an update of its cron does
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert calls_per_timer(receiver) == {str(kept): 1}
    assert records(disabled) == records(deleted) == records(rescheduled) == []


class WatchedNotifier(Notifier):
    """The real notifier; notes when the worker has given up on a call to `path` (its outcome)."""

    def __init__(self, events: list[str], path: str) -> None:
        super().__init__(connect_timeout=0.5, read_timeout=0.5)
        self._events, self._path = events, path

    def notify(self, callback: Any, delivery: Any, **options: Any) -> Any:
        outcome = super().notify(callback, delivery, **options)
        if callback.url.endswith(self._path):
            self._events.append(f"outcome of {self._path}")
        return outcome


def test_one_hanging_receiver_does_not_hold_back_the_others_of_its_second(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    events: list[str] = []
    service.worker._notifier = WatchedNotifier(events, "/slow")
    timers = one_off_timers(service, receiver, 5)
    slow_id = min(timers)  # the hanging one is first in the bucket (timer order)
    fast_ids = [t for t in timers if t != slow_id]
    TimerModel(slow_id).update(actions=[TimerModel.notify.url.set(receiver.url("/slow"))])
    hung = threading.Event()

    def slow(request: Any) -> Response:
        events.append("slow called")
        threading.Event().wait(1.5)  # hangs past the notifier's read timeout (0.5 s)
        hung.set()
        return Response(200)

    def fast(request: Any) -> Response:
        events.append("fast called")
        return Response(200)

    receiver.respond("/slow", slow)
    receiver.respond("/hook", fast)
    bucket = the_bucket(service)
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}  # done: every first attempt has an outcome
    assert hung.wait(timeout=10)
    # the other four were called while the worker still waited for the hanging one
    assert events.count("fast called") == 4
    assert max(i for i, e in enumerate(events) if e == "fast called") < events.index("outcome of /slow")
    assert clock() < at(SECOND) + 1  # the service's clock: nobody waited on it for the hanging one
    assert all([t.status for t in records(f)] == [task_status.SUCCEEDED] for f in fast_ids)
    [task] = records(slow_id)
    assert (task.status, task.attempts, task.error) == (task_status.NOT_RUN, 1, "timed out after 0.5 s (read)")
    [retry] = messages(service)  # the slow fire's retry travels alone, in the old single-fire shape
    assert Fire.from_message(retry["body"]).timer_id == slow_id


def test_the_failed_fires_of_a_bucket_are_retried_alone_with_their_backoff(
    service: Services, receiver: Receiver
) -> None:
    good, bad = one_off_timers(service, receiver, 2)
    TimerModel(bad).update(actions=[TimerModel.notify.url.set(receiver.url("/bad"))])
    receiver.respond("/bad", Response(429, headers={"Retry-After": "42"}), Response(200))
    deliver(service)
    assert calls_per_timer(receiver) == {str(good): 1, str(bad): 2}
    assert list(service.queue.retry_delays) == [42]
    [task] = records(bad)
    assert (task.status, task.attempts) == (task_status.SUCCEEDED, 2)
    retry = [r for r in receiver.received("/bad")][1]
    assert retry.header("X-Xtimer-Attempt") == "2"


def test_a_bucket_delivered_again_after_a_failed_first_attempt_calls_that_fire_again_and_only_that_one(
    service: Services, receiver: Receiver
) -> None:
    good, bad = one_off_timers(service, receiver, 2)
    TimerModel(bad).update(actions=[TimerModel.notify.url.set(receiver.url("/bad"))])
    receiver.respond("/bad", Response(500), Response(200))
    bucket = the_bucket(service)
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    [task] = records(bad)
    assert (task.status, task.attempts) == (task_status.NOT_RUN, 1)  # waiting for its retry
    # The same bucket again (a redelivery): the good fire's record is done, the bad one's waits
    # for a retry, so the insert that claims a bucket's fires finds a record for both and the
    # claim's update decides: the bad fire is claimed as its attempt 2, the good one not at all.
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert calls_per_timer(receiver) == {str(good): 1, str(bad): 2}
    assert receiver.received("/bad")[1].header("X-Xtimer-Attempt") == "2"
    assert [(t.status, t.attempts) for t in records(bad)] == [(task_status.SUCCEEDED, 2)]


def test_a_buckets_claim_by_insert_writes_the_record_a_claim_by_update_writes(service: Services) -> None:
    records_ = task_status.TaskRecords(lease_ms=LEASE_MS)
    now_ms = int(at(SECOND)) * 1000
    inserted = Fire(timer_id=1, app="shop", fire_ms=now_ms, generation=1)
    updated = Fire(timer_id=2, app="shop", fire_ms=now_ms, generation=1)
    by_insert = records_.claim(inserted, now_ms, overlap_policy="skip", first_attempt=True)
    by_update = records_.claim(updated, now_ms, overlap_policy="skip")
    assert (by_insert.result, by_insert.attempt, by_insert.lease_until_ms) == (
        by_update.result, by_update.attempt, by_update.lease_until_ms) == (task_status.ClaimResult.CLAIMED, 1,
                                                                           now_ms + LEASE_MS)

    def stored(fire: Fire) -> dict[str, Any]:
        item = TaskModel.get(fire.timer_id, fire.fire_ms).attribute_values
        return {k: v for k, v in item.items() if k not in ("timer_id", "claim_token", "manual")}
    assert stored(inserted) == stored(updated)
    # and a second claim by insert, of a fire claimed already, finds it held
    assert records_.claim(inserted, now_ms + 1, first_attempt=True).result is task_status.ClaimResult.BUSY


class DroppingConnection:
    """PynamoDB's table connection, except that the first BatchWriteItem leaves some items
    unprocessed, as DynamoDB does when a partition is busy (a test double of AWS's behaviour)."""

    def __init__(self, real: Any, drop: int) -> None:
        self._real, self._drop = real, drop
        self.batch_sizes: list[int] = []
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_write_item(self, put_items: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        self.batch_sizes.append(len(put_items))
        dropped, sent = put_items[:self._drop], put_items[self._drop:]
        self._drop = 0
        self.dropped += len(dropped)
        reply = self._real.batch_write_item(put_items=sent, **kwargs) if sent else {}
        if dropped:
            reply.setdefault("UnprocessedItems", {})[TaskModel.Meta.table_name] = [
                {"PutRequest": {"Item": item}} for item in dropped]
        return reply


def test_outcomes_left_unprocessed_by_batch_write_item_are_written_again(
    service: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = one_off_timers(service, receiver, 10)
    models.bind()
    dropping = DroppingConnection(TaskModel._get_connection(), drop=3)
    monkeypatch.setattr(TaskModel, "_connection", dropping)
    deliver(service)
    assert dropping.dropped and sum(dropping.batch_sizes) == 10 + dropping.dropped  # those left were sent again
    assert all([(t.status, t.http_status) for t in records(timer_id)] == [(task_status.SUCCEEDED, 200)]
               for timer_id in timers)


class DyingNotifier(Notifier):
    """Makes the first `calls` callbacks, then 'dies': every later call raises before calling."""

    def __init__(self, calls: int) -> None:
        super().__init__(connect_timeout=1.0, read_timeout=2.0)
        self._left, self._lock = calls, threading.Lock()

    def notify(self, callback: Any, delivery: Any, **options: Any) -> Any:
        with self._lock:
            alive = self._left > 0
            self._left -= 1
        if not alive:
            raise RuntimeError("killed mid-bucket")
        return super().notify(callback, delivery, **options)


def test_a_worker_killed_after_some_calls_of_a_bucket_makes_the_rest_and_none_twice(
    service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timers = one_off_timers(service, receiver, 10)
    bucket = the_bucket(service)
    healthy = service.worker._notifier
    service.worker._notifier = DyingNotifier(calls=4)
    assert service.worker.handle([bucket])["batchItemFailures"]  # died: the message comes back
    assert sum(calls_per_timer(receiver).values()) == 4
    clock.advance(LEASE_MS / 1000 + 1)  # the dead worker's claims run out; the message shows up again
    service.worker._notifier = healthy
    assert service.worker.handle([bucket]) == {"batchItemFailures": []}
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}
    assert all([t.status for t in records(timer_id)] == [task_status.SUCCEEDED] for timer_id in timers)


def test_the_same_second_sent_twice_in_different_buckets_calls_each_fire_once(
    service: Services, receiver: Receiver
) -> None:
    timers = one_off_timers(service, receiver, 6, tick=False)  # the two sends below stand for two ticks
    generation = {t: int(TimerModel.get(t).generation) for t in timers}
    fire_ms = int(at(SECOND)) * 1000

    def fires(ids: list[int]) -> list[Fire]:
        return [Fire(timer_id=t, app="shop", fire_ms=fire_ms, generation=generation[t]) for t in ids]

    service.queue.send(fires(timers[:4]))  # a tick that crashed before moving the cursors ...
    service.queue.send(fires(timers[2:]))  # ... and the next, which saw the timers differently
    assert queued(service) == 2
    deliver(service)
    assert calls_per_timer(receiver) == {str(t): 1 for t in timers}


def test_a_single_fire_message_of_the_old_shape_is_still_made(service: Services, receiver: Receiver) -> None:
    [timer_id] = one_off_timers(service, receiver, 1, tick=False)
    old = json.dumps({"timerId": timer_id, "app": "shop", "fireMs": int(at(SECOND)) * 1000,
                      "generation": int(TimerModel.get(timer_id).generation)})
    aws.sqs().send_message(QueueUrl=service.queue.url(), MessageBody=old)
    deliver(service)
    assert calls_per_timer(receiver) == {str(timer_id): 1}


def test_a_buckets_outcomes_wait_until_the_seconds_other_due_callbacks_are_sent(
    service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second's herd goes out before its outcome writes (chalicelib.delivery.burst): while a
    callback of the process is due and not yet sent (here: another unit's, held open by the
    test), a unit that has made its calls holds its records; they are written once it is sent."""
    monkeypatch.setattr(bursts, "HOLD_SECONDS", 60.0)
    timers = one_off_timers(service, receiver, 3)
    burst = Burst(clock)
    worker = Worker(notifier=service.worker._notifier, tasks=service.tasks, queue=service.queue, clock=clock,
                    sleep=clock.sleep, max_early_seconds=float("inf"), signing=service.signing, burst=burst)
    other = burst.due(at(SECOND))  # another unit's callback of the same second, not sent yet
    bucket = the_bucket(service)
    replies: list[dict[str, Any]] = []
    handling = threading.Thread(target=lambda: replies.append(worker.handle([bucket])))
    handling.start()
    receiver.wait_for(3, timeout=10)
    handling.join(timeout=1.0)
    assert handling.is_alive()  # the calls are made; their outcomes wait
    assert [t.status for f in timers for t in records(f)] == [task_status.RUNNING] * 3
    other.sent()
    handling.join(timeout=10)
    assert replies == [{"batchItemFailures": []}]
    assert [t.status for f in timers for t in records(f)] == [task_status.SUCCEEDED] * 3


def test_a_late_bucket_to_a_slow_lane_is_claimed_as_the_lane_makes_room_and_none_is_handed_back(
    service: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker behind: the bucket is seen 5 s after its second. Its app may have 2 callbacks in
    # flight, the receiver takes 0.1 s a call, so its 25 calls take over a second; a callback waits
    # in its lane at most 5 lane waits of 0.2 s before it is handed back (claim released, sent
    # again). Claimed all at once, the last of them would wait that long; claimed as the lane
    # makes room (fairness.Lanes.wait_for_room), none does, and each is made once, on this pass.
    for name, value in {"XTIMER_MAX_INFLIGHT_PER_APP": "2", "XTIMER_LANE_WAIT_MS": "200"}.items():
        monkeypatch.setenv(name, value)

    def slow(request: Any) -> Response:
        threading.Event().wait(0.1)
        return Response(200)

    with Receiver(slow) as rx:
        timers = one_off_timers(service, rx, 25)
        bucket = the_bucket(service)
        service.clock.set(at("2026-03-01T12:03:05"))  # type: ignore[attr-defined]
        assert service.worker.handle([bucket]) == {"batchItemFailures": []}
        assert queued(service) == 1  # the bucket itself (handle() deletes nothing): nothing handed back
        assert calls_per_timer(rx) == {str(t): 1 for t in timers}
    for timer_id in timers:
        [task] = records(timer_id)
        assert (task.status, task.attempts, task.error) == (task_status.SUCCEEDED, 1, None)


def test_fires_waiting_for_a_later_second_do_not_hold_back_the_calls_of_a_second_already_due(
    service: Services, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker with two callback threads: app b's bucket, due in 3 s, is claimed first and its
    fires wait for their second; then app a's bucket, due now, comes, through a lane of one
    callback at a time. a's calls are all made before b's second: the fires waiting for a later
    second sleep on threads of their own, not on the callback pool, whose threads a's lane
    needs (with them asleep there, a's calls waited for b's second). On the real clock: a fake
    clock's sleeps return at once, so threads asleep on it take no thread from anybody."""
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    now = int(time.time())
    later = [make_timer(service, receiver, "0 0 0 1 1 *", name=f"b{n}", app="b") for n in range(4)]
    due = [make_timer(service, receiver, "0 0 0 1 1 *", name=f"a{n}", app="a") for n in range(3)]

    def bucket(timers: list[int], app: str, second: int) -> dict[str, Any]:
        fires = [Fire(t, app, second * 1000, int(TimerModel.get(t).generation)) for t in timers]
        [message] = messages_for(fires)
        return {"messageId": f"m-{app}", "receiptHandle": f"r-{app}", "body": message.body,
                "attributes": {"ApproximateReceiveCount": "1"}}

    worker = Worker(notifier=service.worker._notifier, tasks=service.tasks, queue=service.queue,
                    max_early_seconds=float("inf"), signing=service.signing, pool_size=2)
    first = threading.Thread(target=worker.handle, args=([bucket(later, "b", now + 3)],))
    first.start()
    for timer_id in later:  # b's fires are claimed and wait for their second
        for _ in range(200):
            if records(timer_id):
                break
            threading.Event().wait(0.01)
    assert worker.handle([bucket(due, "a", now)]) == {"batchItemFailures": []}
    first.join(timeout=10)
    order = [request.header("X-Xtimer-Timer-Id") for request in receiver.received()]
    assert sorted(order[:3]) == sorted(str(t) for t in due)
    assert sorted(order[3:]) == sorted(str(t) for t in later)

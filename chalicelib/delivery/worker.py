"""The worker: takes fires off the queue and makes each callback once, on its second.

Lambda hands it up to ten messages at a time, each a bucket of fires due in the same second or a
single fire (a retry, a manual run, a message written before buckets existed). Each message is
one unit of work (chalicelib.delivery.unit); the messages of a batch run side by side. The reply
lists the messages to be delivered again (`batchItemFailures`); everything else is deleted.

A message that reaches its last receive (config.FIRE_QUEUE_MAX_RECEIVES: the next failure
would let the queue's redrive policy move it, silently) is not handed back: a bucket is split
into single-fire messages with fresh receive counts, a single fire is dead-lettered by the
worker itself with the reason, and its task is marked failed.
"""
from __future__ import annotations

import logging
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from chalicelib import config
from chalicelib.apps.secrets import SigningSecrets
from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.delivery.burst import Burst
from chalicelib.delivery.fairness import Fairness
from chalicelib.delivery.failure_callback import AfterFailure
from chalicelib.delivery.notifier import Notifier
from chalicelib.delivery.unit import GiveUp, Settle, Unit
from chalicelib.fires.fire import MalformedFire, is_bucket, parse_message
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.tasks import TaskRecords
from chalicelib.observability import catalog as metrics
from chalicelib.observability.meter import Meter

log = logging.getLogger(__name__)

POOL_SIZE = 256
"""The callback pool: threads for the calls of buckets (their waiters hand each admitted call
here) and the calls a lane starts when it has room again; the lanes' caps bound the calls in
flight. A single fire's call runs on its message's thread. Ten full buckets, one Lambda batch,
are 250 first attempts (chalicelib.fires.queue.BUCKET_SIZE)."""

CLAIM_THREADS = 32
"""Claims in flight at once per process: a bucket's claims are short DynamoDB writes, and moto
(the local stack) answers one request at a time: with one per callback thread, 300 claims in
flight at once took the local stack 6 s before the first call could go out."""

LATE_CLAIM_THREADS = 32
"""Threads that claim the fires of late buckets (a process behind), each waiting first for room
in the fire's lane (chalicelib.delivery.fairness); apart from CLAIM_THREADS, so that on-time fires
never queue behind them. Threads waiting on one lane take its room one by one: each holds the
room it was let through for until its fire is in the lane (fairness.Lanes.wait_for_room).

Not fewer: these threads are the whole claim rate of a process that is behind, one claim round
trip each at a time. A single app's 200 fires a second (the 1,000-timer series) fills its lane
at every second, so every next bucket counts as behind; with 4 threads (as from 1716126, when
the stack was slower) they claimed 187.9 fires/s and the series saturated, its p99 19.9 s; with
32, in the same hour on the same host, 200.0/s, p99 439 ms, none handed back."""

WAIT_THREADS = 1024
"""Units waiting for their second at once per process: a bucket's waiter (a thread, asleep) takes
its fires as they are claimed, 1-2 s ahead, and at their second enters each into its lane, whose
call then runs on the callback pool (POOL_SIZE). One waiter per bucket, not per fire: 300 threads
waking at the same instant fought over the GIL for a third of a herd's CPU. Never the callback
pool's threads: while hundreds slept there, the calls their lanes started queued behind them."""

MESSAGE_THREADS = 1280
"""Messages handled at once per process: the local stack runs up to 64 batches of 10 messages at
once, and as many more long ones (xtimer_local.poller.Invocations), and every message of them has
its own thread, which waits until its second and for its calls: with fewer, the messages of one
batch would queue behind another batch's message held by a hanging receiver. Threads start only
when needed; on Lambda a container handles one batch (10 messages) at a time."""

MAX_EARLY_SECONDS = 7.0
"""A message seen more than this before its fire goes back to the queue instead of waiting
(Lambda time is billed; the queue can wait for free)."""


def receive_count(record: dict[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


class Worker:
    def __init__(
        self,
        notifier: Notifier | None = None,
        tasks: TaskRecords | None = None,
        queue: FireQueue | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_early_seconds: float = MAX_EARLY_SECONDS,
        signing: SigningSecrets | None = None,
        pool_size: int = POOL_SIZE,
        meter: Meter | None = None,
        burst: Burst | None = None,
    ) -> None:
        self._notifier = notifier or Notifier()
        self._tasks = tasks or TaskRecords(sleep=sleep)
        self._queue = queue or FireQueue(clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._max_early = max_early_seconds
        # Pools for the life of the process (a Lambda container, the local stack): their threads,
        # and the AWS clients and sessions each of them builds on first use, serve every batch.
        self._messages = ThreadPoolExecutor(max_workers=MESSAGE_THREADS, thread_name_prefix="message")
        self._claims = ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="claim")
        self._late_claims = ThreadPoolExecutor(max_workers=LATE_CLAIM_THREADS, thread_name_prefix="late-claim")
        self._calls = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="fire")
        self._waits = ThreadPoolExecutor(max_workers=WAIT_THREADS, thread_name_prefix="wait")
        self._signing = signing or SigningSecrets(clock=clock)
        self._meter = meter or Meter()
        self._fairness = Fairness(self._calls, clock, probe_seconds=self._notifier.budget)  # this process's own
        self._burst = burst or Burst(clock)  # outcome writes wait for the process's due callbacks
        self._after_failure = AfterFailure(self._notifier, self._tasks, self._signing, clock)

    def handle(self, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        """Process one Lambda SQS batch; returns the partial-batch-failure reply."""
        try:
            if len(records) == 1:
                done = [self._handle_safely(records[0])]
            else:
                done = list(self._messages.map(self._handle_safely, records))
        finally:
            self._meter.flush()  # one EMF line per invocation
        return {"batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record, ok in zip(records, done) if not ok
        ]}

    def _handle_safely(self, record: dict[str, Any]) -> bool:
        try:
            return self.handle_record(record)
        except Exception as exc:  # AWS trouble: let the queue deliver it again after its visibility timeout
            log.exception("fire message %s failed; it will be delivered again", record.get("messageId"))
            if receive_count(record) >= config.FIRE_QUEUE_MAX_RECEIVES:
                return self._last_receive(record, f"error: {exc!r}"[:300])
            return False

    def handle_record(self, record: dict[str, Any]) -> bool:
        """True when the message is finished with (delete it), False to have it delivered again."""
        body = record.get("body", "")
        receipt = record.get("receiptHandle", "")
        try:
            fires = parse_message(body)
        except MalformedFire as exc:
            self._queue.dead_letter(body, str(exc))
            self._meter.count(metrics.FIRES_DEAD_LETTERED)
            return True
        bucket = is_bucket(body)
        last = receive_count(record) >= config.FIRE_QUEUE_MAX_RECEIVES

        early = max(f.due_time for f in fires) - self._clock()
        if early > self._max_early:
            if last:  # waiting is no failure: the same fires again, with a fresh receive count
                self._queue.send(fires) if bucket else self._queue.send_each(fires)
                return True
            self._queue.retry_later(receipt, math.ceil(early) - 1)
            return False
        if bucket and last:
            self._queue.send_each(fires)
            return True

        unit = Unit(fires, tasks=self._tasks, notifier=self._notifier, signing=self._signing,
                    claims=self._claims, calls=self._calls, clock=self._clock, sleep=self._sleep, rng=self._rng,
                    meter=self._meter, fairness=self._fairness, burst=self._burst, first_attempts=bucket,
                    late_claims=self._late_claims, waits=self._waits)
        settle = unit.run()
        if bucket:
            return self._settle_bucket(settle)
        return self._settle_single(settle, receipt, last, receive_count(record))

    def _settle_bucket(self, settle: Settle) -> bool:
        """A bucket is done once every first attempt has an outcome: what is left travels alone."""
        self._dead_letter(settle.failed)
        if later := settle.retries + settle.busy + settle.deferred + settle.held + settle.parked:
            self._queue.retry_each(later)
        if settle.crashed:
            raise settle.crashed
        return True

    def _settle_single(self, settle: Settle, receipt: str, last: bool, receives: int) -> bool:
        """A single fire's message is itself the retry: it is shown again after the backoff. A fire
        deferred by its full lane goes as a new message instead: waiting is no failure, and must
        not use up the receives of its message (config.FIRE_QUEUE_MAX_RECEIVES)."""
        if settle.deferred or settle.parked:  # never claimed now: a new message, using up no receive count
            self._queue.retry_each(settle.deferred + settle.parked)
        failed = list(settle.failed)
        if settle.held:  # overlapPolicy: a new message each time, so a long hold uses up no receive count
            self._queue.retry_each(settle.held)
        if last:  # handing it back now would let the redrive policy park it without a word
            limit = f"gave up at the fire queue's last receive ({config.FIRE_QUEUE_MAX_RECEIVES})"
            failed += [GiveUp(fire, f"{limit}; last attempt: {settle.errors.get(fire)}", note=True,
                              timer=settle.timers.get(fire)) for fire, _ in settle.retries]
            for fire, _ in settle.busy:  # another worker holds it and will record it; only the message is parked
                self._queue.dead_letter(fire.to_message(), f"{limit}; its claim was held by another worker")
                self._meter.count(metrics.FIRES_DEAD_LETTERED)
        self._dead_letter(failed)
        if settle.crashed:
            raise settle.crashed
        if settle.deferred or settle.parked:  # sent above as a message of its own
            return True
        if not last and settle.retries and receives >= config.FIRE_QUEUE_MAX_RECEIVES - config.RECEIVE_MARGIN:
            # A timer's maxAttempts may be above what one message's receives leave room for: its
            # retry travels on in a fresh message (attempts stay bounded by maxAttempts).
            self._queue.retry_each(settle.retries)
            return True
        if not last:
            for _, delay in settle.retries + settle.busy:
                self._queue.retry_later(receipt, delay)
                return False
        return True

    def _dead_letter(self, failed: list[GiveUp]) -> None:
        """Dead-letter first, then mark failed: a fire marked failed is always in the DLQ. If the
        send fails, the task is still waiting for a retry, and its next claim dead-letters it."""
        for give_up in failed:
            fire = give_up.fire
            self._queue.dead_letter(fire.to_message(), give_up.reason)
            self._meter.count(metrics.FIRES_DEAD_LETTERED)
            self._meter.count(metrics.FIRES_FAILED)
            marked = self._tasks.give_up(fire, to_ms(self._clock()), reason=give_up.reason if give_up.note else None,
                                         claim=give_up.claim)
            log.warning("fire %s failed for good: %s", fire.idempotency_key, give_up.reason)
            if marked:  # only the worker that marked it goes on: counted, maybe paused, alerted once
                self._after_failure.fire_failed(fire, give_up.reason, give_up.timer)

    def _last_receive(self, record: dict[str, Any], why: str) -> bool:
        """The message failed at its last receive: park its fires ourselves, with the reason."""
        body = record.get("body", "")
        try:
            fires = parse_message(body)
            if is_bucket(body):
                self._queue.send_each(fires)
                return True
            reason = f"gave up at the fire queue's last receive ({config.FIRE_QUEUE_MAX_RECEIVES}): {why}"
            for fire in fires:
                self._queue.dead_letter(fire.to_message(), reason)
                self._meter.count(metrics.FIRES_DEAD_LETTERED)
                self._meter.count(metrics.FIRES_FAILED)
                if self._tasks.give_up(fire, to_ms(self._clock()), reason=reason):
                    self._after_failure.fire_failed(fire, reason, None)
            return True
        except Exception:
            log.exception("could not park message %s; the redrive policy will", record.get("messageId"))
            return False

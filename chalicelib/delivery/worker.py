"""The worker: takes fires off the queue and makes each callback once, on its second.

Lambda hands it up to ten messages at a time; each runs on its own thread, so ten callbacks
due in the same second do not wait for each other. The reply lists the messages to be
delivered again (`batchItemFailures`): retries after a failed callback, and anything that
could not be processed; everything else is deleted from the queue.

Per message:
1. read the timer (drop the fire if the timer is gone, or disabled or rescheduled since);
2. claim the fire in its task record (drop it if it is done, or held by another live worker);
3. wait until the fire time, then call;
4. record the outcome; on failure, show the message again after a backoff, or, after the last
   attempt, mark the task failed and park the message on the dead-letter queue.
"""
from __future__ import annotations

import logging
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pynamodb.exceptions import DoesNotExist

from chalicelib import config
from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.fire import Fire, MalformedFire
from chalicelib.fires.outcome import Outcome
from chalicelib.storage.models import TimerModel, headers_of
from chalicelib.delivery.notifier import Callback, Delivery, Notifier, backoff_delay
from chalicelib.delivery.redaction import credential_values, redact_outcome
from chalicelib.apps.secrets import SigningSecrets
from chalicelib.fires.tasks import FAILED, NOT_RUN, SUCCEEDED, ClaimResult, TaskRecords
from chalicelib.timers.status import STATUS_ENABLED
from chalicelib.observability import catalog as metrics, logs
from chalicelib.observability.meter import Meter

log = logging.getLogger(__name__)

POOL_SIZE = 256
"""Messages handled at once per process: Lambda hands a container one batch of ten at a time; the
local stack runs up to 64 batches at once (xtimer_local.poller.Invocations), each of whose
messages waits on its own thread until its fire second."""

MAX_EARLY_SECONDS = 7.0
"""A message seen more than this before its fire goes back to the queue instead of waiting
(Lambda time is billed; the queue can wait for free)."""


def callback_of(timer: TimerModel) -> Callback:
    return Callback(url=timer.notify.url, method=timer.notify.method, headers=headers_of(timer),
                    body=timer.notify.body)


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
    ) -> None:
        self._notifier = notifier or Notifier()
        self._tasks = tasks or TaskRecords()
        self._queue = queue or FireQueue(clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._max_early = max_early_seconds
        # One pool for the life of the process (a Lambda container, the local stack): its threads,
        # and the AWS clients and sessions each of them builds on first use, serve every batch.
        # A pool per batch built those again for every message, which cost more CPU than the work.
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="fire")
        self._signing = signing or SigningSecrets(clock=clock)
        self._meter = meter or Meter()

    def handle(self, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        """Process one Lambda SQS batch; returns the partial-batch-failure reply."""
        if not records:
            return {"batchItemFailures": []}
        try:
            done = list(self._pool.map(self._handle_safely, records))
        finally:
            self._meter.flush()  # one EMF line per invocation
        return {"batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record, ok in zip(records, done) if not ok
        ]}

    def _handle_safely(self, record: dict[str, Any]) -> bool:
        try:
            return self.handle_record(record)
        except Exception:  # AWS trouble: let the queue deliver it again after its visibility timeout
            log.exception("fire message %s failed; it will be delivered again", record.get("messageId"))
            return False

    def handle_record(self, record: dict[str, Any]) -> bool:
        """True when the message is finished with (delete it), False to have it delivered again."""
        body = record.get("body", "")
        receipt = record.get("receiptHandle", "")
        try:
            fire = Fire.from_message(body)
        except MalformedFire as exc:
            self._queue.dead_letter(body, str(exc))
            self._meter.count(metrics.FIRES_DEAD_LETTERED)
            return True

        early = fire.fire_time - self._clock()
        if early > self._max_early:
            self._queue.retry_later(receipt, math.ceil(early) - 1)
            return False

        timer = self._load_timer(fire)
        if timer is None:
            self._meter.count(metrics.FIRES_DROPPED)
            return True

        claim = self._tasks.claim(fire, to_ms(self._clock()))
        if claim.result is not ClaimResult.CLAIMED:
            self._meter.count(metrics.CLAIM_CONFLICTS)
        if claim.result is ClaimResult.DONE:
            log.info("fire %s already handled; duplicate message dropped", fire.idempotency_key)
            return True
        if claim.result is ClaimResult.BUSY:
            # Another worker is calling it now. Look again once its lease is over, in case it died.
            wait_s = max(1, math.ceil((claim.lease_until_ms - to_ms(self._clock())) / 1000) + 1)
            self._queue.retry_later(receipt, wait_s)
            return False

        secrets = self._signing.for_app(fire.app)
        remaining = fire.fire_time - self._clock()
        if remaining > 0:
            self._sleep(remaining)
        callback = callback_of(timer)
        lateness_ms = max(0, to_ms(self._clock()) - fire.fire_ms)
        outcome = self._notifier.notify(
            callback,
            Delivery(timer_id=fire.timer_id, fire_time=int(fire.fire_time), attempt=claim.attempt,
                     idempotency_key=fire.idempotency_key, signing_secrets=secrets),
        )
        outcome = redact_outcome(outcome, credential_values(callback.headers, secrets))
        now_ms = to_ms(self._clock())
        if outcome.ok:
            self._tasks.record(fire, claim.attempt, outcome, status=SUCCEEDED, now_ms=now_ms)
            self._observe("delivered", fire, claim.attempt, outcome, lateness_ms)
            return True
        if claim.attempt >= config.max_attempts() or not outcome.retryable:
            self._tasks.record(fire, claim.attempt, outcome, status=FAILED, now_ms=now_ms)
            self._queue.dead_letter(body, f"attempt {claim.attempt}: {outcome.error}")
            self._meter.count(metrics.FIRES_DEAD_LETTERED)
            self._observe("failed", fire, claim.attempt, outcome, lateness_ms)
            return True
        self._tasks.record(fire, claim.attempt, outcome, status=NOT_RUN, now_ms=now_ms)
        delay = outcome.retry_after if outcome.retry_after is not None else backoff_delay(
            claim.attempt, rng=self._rng)
        self._queue.retry_later(receipt, max(1, math.ceil(delay)))
        self._observe("retry", fire, claim.attempt, outcome, lateness_ms, retry_in_s=max(1, math.ceil(delay)))
        return False

    def _observe(self, kind: str, fire: Fire, attempt: int, outcome: Outcome, lateness_ms: int,
                 retry_in_s: int | None = None) -> None:
        """The metrics and the log line of one attempt's outcome (`outcome` is already redacted)."""
        self._meter.count({"delivered": metrics.FIRES_DELIVERED, "failed": metrics.FIRES_FAILED,
                           "retry": metrics.FIRES_RETRIED}[kind])
        self._meter.time_ms(metrics.CALLBACK_DURATION, outcome.duration_ms)
        if attempt == 1:  # a retry's delay is its backoff, not lateness
            self._meter.time_ms(metrics.CALLBACK_LATENESS, lateness_ms)
        logs.fire_outcome(outcome=kind, timer_id=fire.timer_id, app=fire.app, fire_ms=fire.fire_ms, attempt=attempt,
                          idempotency_key=fire.idempotency_key, http_status=outcome.http_status,
                          lateness_ms=lateness_ms, duration_ms=outcome.duration_ms, error=outcome.error,
                          retry_in_s=retry_in_s)

    def _load_timer(self, fire: Fire) -> TimerModel | None:
        """The timer to call, or None if this fire must not be made any more."""
        try:
            timer = TimerModel.get(fire.timer_id, consistent_read=True)
        except DoesNotExist:
            log.info("fire %s dropped: the timer was deleted", fire.idempotency_key)
            return None
        if timer.app != fire.app:
            log.warning("fire %s dropped: it names app %r, the timer belongs to another", fire.idempotency_key,
                        fire.app)
            return None
        if fire.manual:
            return timer
        if timer.status != STATUS_ENABLED or timer.generation != fire.generation:
            log.info("fire %s dropped: the timer was disabled or rescheduled", fire.idempotency_key)
            return None
        return timer

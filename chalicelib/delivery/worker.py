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
from chalicelib.storage.models import TimerModel, headers_of
from chalicelib.delivery.notifier import Callback, Delivery, Notifier, backoff_delay
from chalicelib.delivery.redaction import credential_values, redact_outcome
from chalicelib.apps.secrets import SigningSecrets
from chalicelib.fires.tasks import FAILED, NOT_RUN, SUCCEEDED, ClaimResult, TaskRecords
from chalicelib.timers import lifecycle
from chalicelib.timers.status import STATUS_COMPLETED, STATUS_ENABLED

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

    def handle(self, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        """Process one Lambda SQS batch; returns the partial-batch-failure reply."""
        if not records:
            return {"batchItemFailures": []}
        done = list(self._pool.map(self._handle_safely, records))
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
            return True

        early = fire.fire_time - self._clock()
        if early > self._max_early:
            self._queue.retry_later(receipt, math.ceil(early) - 1)
            return False

        timer = self._load_timer(fire)
        if timer is None:
            return True

        claim = self._tasks.claim(fire, to_ms(self._clock()))
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
        outcome = self._notifier.notify(
            callback,
            Delivery(timer_id=fire.timer_id, fire_time=int(fire.fire_time), attempt=claim.attempt,
                     idempotency_key=fire.idempotency_key, signing_secrets=secrets),
        )
        outcome = redact_outcome(outcome, credential_values(callback.headers, secrets))
        now_ms = to_ms(self._clock())
        if outcome.ok:
            self._tasks.record(fire, claim.attempt, outcome, status=SUCCEEDED, now_ms=now_ms)
            lifecycle.after_last_fire(timer, fire.fire_ms)
            return True
        if claim.attempt >= config.max_attempts():
            self._tasks.record(fire, claim.attempt, outcome, status=FAILED, now_ms=now_ms)
            lifecycle.after_last_fire(timer, fire.fire_ms)
            self._queue.dead_letter(body, f"attempt {claim.attempt}: {outcome.error}")
            log.warning("fire %s failed for good after %s attempts: %s",
                        fire.idempotency_key, claim.attempt, outcome.error)
            return True
        self._tasks.record(fire, claim.attempt, outcome, status=NOT_RUN, now_ms=now_ms)
        delay = outcome.retry_after if outcome.retry_after is not None else backoff_delay(
            claim.attempt, rng=self._rng)
        self._queue.retry_later(receipt, max(1, math.ceil(delay)))
        log.info("fire %s attempt %s failed (%s); next try in %s s",
                 fire.idempotency_key, claim.attempt, outcome.error, delay)
        return False

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
        if timer.status not in (STATUS_ENABLED, STATUS_COMPLETED) or timer.generation != fire.generation:
            log.info("fire %s dropped: the timer was disabled or rescheduled", fire.idempotency_key)
            return None
        return timer

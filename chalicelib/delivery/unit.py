"""One unit of the worker's work: the fires of one message (a bucket of one second, or one fire).

1. read their timers in one BatchGetItem, strongly consistent; drop the fires of a timer gone,
   disabled or rescheduled since (a manual run is made even for a disabled timer);
2. claim each fire with its own conditional write (chalicelib.fires.tasks), on the worker's claim
   pool; a fire done already is dropped, one held by a live claim elsewhere is left for later;
3. as soon as a fire is claimed, a thread of the worker's callback pool waits for its second and
   calls; so no fire waits for another's claim, and a slow or dead receiver holds back no other;
4. write the outcomes as they come in, in batches (TaskRecords.record_many).

What is left (retries, fires held elsewhere, fires failed for good) is handed back in a Settle;
the worker decides how each travels on (chalicelib.delivery.worker).
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from chalicelib.apps.secrets import SigningSecrets
from chalicelib.clock import Clock, to_ms
from chalicelib.delivery import policy
from chalicelib.delivery.notifier import Callback, Delivery, Notifier
from chalicelib.delivery.redaction import credential_values, redact_outcome
from chalicelib.fires.fire import Fire
from chalicelib.fires.tasks import NOT_RUN, SUCCEEDED, Claim, ClaimResult, Result, TaskRecords
from chalicelib.observability import catalog as metrics, logs
from chalicelib.observability.meter import Meter
from chalicelib.storage.models import TimerModel, headers_of
from chalicelib.timers.reads import read_timers
from chalicelib.timers import failures, lifecycle
from chalicelib.timers.status import STATUS_COMPLETED, STATUS_ENABLED

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.05
"""After an outcome arrives, how long to gather others into the same BatchWriteItem."""


def callback_of(timer: TimerModel) -> Callback:
    return Callback(url=timer.notify.url, method=timer.notify.method, headers=headers_of(timer),
                    body=timer.notify.body)


@dataclass(frozen=True)
class GiveUp:
    """A fire failed for good: dead-letter it with `reason`, then mark its task failed."""
    fire: Fire
    reason: str
    claim: Claim | None = None  # ours, when the attempt it counted was never made
    note: bool = False  # the reason replaces the task's error (else the last attempt's error stays)
    timer: TimerModel | None = None  # as the unit read it: its failure callback and pauseAfterFailures


@dataclass
class Settle:
    """What a unit leaves for the worker to do."""
    retries: list[tuple[Fire, int]] = field(default_factory=list)  # failed attempts: (fire, backoff s)
    busy: list[tuple[Fire, int]] = field(default_factory=list)  # held by a live claim: (fire, s to its end)
    failed: list[GiveUp] = field(default_factory=list)
    errors: dict[Fire, str] = field(default_factory=dict)  # the last error of each retry
    timers: dict[Fire, TimerModel] = field(default_factory=dict)  # of each retry, as read
    made: int = 0  # calls made
    crashed: BaseException | None = None  # an unexpected error in a call (its fire stays claimed)


class Unit:
    def __init__(self, fires: list[Fire], *, tasks: TaskRecords, notifier: Notifier, signing: SigningSecrets,
                 claims: ThreadPoolExecutor, calls: ThreadPoolExecutor, clock: Clock,
                 sleep: Callable[[float], None], rng: random.Random, meter: Meter | None = None) -> None:
        self._fires = fires
        self._tasks, self._notifier, self._signing = tasks, notifier, signing
        self._claims, self._calls, self._clock, self._sleep, self._rng = claims, calls, clock, sleep, rng
        self._meter = meter or Meter()
        self._lateness_ms: dict[Fire, int] = {}  # how late each call left (metrics and the log line)
        self.settle = Settle()
        self._timer_of: dict[Fire, TimerModel] = {}
        self._lock = threading.Lock()

    def run(self) -> Settle:
        live = self._live(self._fires)
        if live:
            secrets = {app: self._signing.for_app(app) for app in {fire.app for fire, _ in live}}
            self._claim_and_call(live, secrets)
        return self.settle

    def _live(self, fires: list[Fire]) -> list[tuple[Fire, TimerModel]]:
        timers = read_timers((f.timer_id for f in fires), sleep=self._sleep)
        live = []
        for fire in fires:
            timer = timers.get(fire.timer_id)
            if timer is None:
                log.info("fire %s dropped: the timer was deleted", fire.idempotency_key)
            elif timer.app != fire.app:
                log.warning("fire %s dropped: it names app %r, the timer belongs to another",
                            fire.idempotency_key, fire.app)
            elif not fire.manual and (timer.status not in (STATUS_ENABLED, STATUS_COMPLETED)  # completed: its last fires
                                      or timer.generation != fire.generation):
                log.info("fire %s dropped: the timer was disabled or rescheduled", fire.idempotency_key)
            else:
                live.append((fire, timer))
                self._timer_of[fire] = timer
                continue
            self._meter.count(metrics.FIRES_DROPPED)
        return live

    def _claim_and_call(self, live: list[tuple[Fire, TimerModel]], secrets: dict[str, tuple[str, ...]]) -> None:
        """Claims on the claim pool, calls on the callback pool, outcomes written as they come.

        No fire waits for another's claim, and no call for another's answer. Claims have a pool
        of their own, smaller: DynamoDB (and moto, which answers one request at a time) gains
        nothing from hundreds of them in flight, and a call must not wait behind them."""
        if len(live) == 1:
            fire, timer = live[0]
            claim = self._claim(fire)
            if claim is not None:
                self._write([self._wait_and_call(fire, timer, claim, secrets[fire.app])])
            return
        done: queue.Queue[Result | BaseException | None] = queue.Queue()

        def call(fire: Fire, timer: TimerModel, claim: Claim) -> None:
            try:
                done.put(self._wait_and_call(fire, timer, claim, secrets[fire.app]))
            except BaseException as exc:  # a crash mid-call: its fire stays claimed until the lease ends
                done.put(exc)

        def claim_then_call(fire: Fire, timer: TimerModel) -> None:
            try:
                claim = self._claim(fire)
            except BaseException as exc:
                done.put(exc)
                return
            if claim is None:
                done.put(None)
            else:
                self._calls.submit(call, fire, timer, claim)

        for fire, timer in live:
            self._claims.submit(claim_then_call, fire, timer)
        left = len(live)
        while left:
            arrived = [done.get()]
            linger_until = time.monotonic() + LINGER_SECONDS  # outcomes right after go into the same write
            while len(arrived) < left:
                try:
                    arrived.append(done.get(timeout=max(0.0, linger_until - time.monotonic())))
                except queue.Empty:
                    break
            left -= len(arrived)
            for item in arrived:
                if isinstance(item, BaseException):
                    log.error("a fire's claim or callback crashed: %r", item)
                    self.settle.crashed = item
            self._write([item for item in arrived if isinstance(item, Result)])

    def _claim(self, fire: Fire) -> Claim | None:
        """Our claim on the fire, or None if it is not ours to call now (noted in the Settle)."""
        claim = self._tasks.claim(fire, to_ms(self._clock()))
        if claim.result is not ClaimResult.CLAIMED:
            self._meter.count(metrics.CLAIM_CONFLICTS)
        if claim.result is ClaimResult.DONE:
            log.debug("fire %s already handled; duplicate dropped", fire.idempotency_key)
            return None
        if claim.result is ClaimResult.BUSY:
            # Another worker is calling it now. Look again once its lease is over, in case it died.
            wait_s = max(1, -(-(claim.lease_until_ms - to_ms(self._clock())) // 1000) + 1)
            with self._lock:
                self.settle.busy.append((fire, wait_s))
            return None
        max_attempts = policy.policy_of(self._timer_of[fire]).max_attempts
        if claim.attempt > max_attempts:
            # The last attempt failed and its dead letter could not be sent then: send it now.
            with self._lock:
                self.settle.failed.append(GiveUp(fire, f"attempt {claim.attempt - 1} was the last "
                                                       f"(maxAttempts {max_attempts}); "
                                                       "its error is in the task record", claim,
                                                 timer=self._timer_of[fire]))
            return None
        return claim

    def _wait_and_call(self, fire: Fire, timer: TimerModel, claim: Claim, secrets: tuple[str, ...]) -> Result:
        remaining = fire.due_time - self._clock()
        if remaining > 0:
            self._sleep(remaining)
        return self._call(fire, timer, claim, secrets)

    def _call(self, fire: Fire, timer: TimerModel, claim: Claim, secrets: tuple[str, ...]) -> Result:
        callback = callback_of(timer)
        sent_ms = to_ms(self._clock())
        self._lateness_ms[fire] = max(0, sent_ms - fire.fire_ms)
        outcome = self._notifier.notify(
            callback,
            Delivery(timer_id=fire.timer_id, fire_time=int(fire.fire_time), attempt=claim.attempt,
                     idempotency_key=fire.idempotency_key, signing_secrets=secrets),
            timeout=policy.policy_of(timer).timeout_seconds,
        )
        outcome = redact_outcome(outcome, credential_values(callback.headers, secrets))
        if outcome.ok:
            status = SUCCEEDED
        else:
            status = NOT_RUN  # also after the last attempt: failed only once it is in the dead-letter queue
        return Result(fire, claim, outcome, status, to_ms(self._clock()), sent_ms=sent_ms)

    def _write(self, results: list[Result]) -> None:
        if not results:
            return
        self.settle.made += len(results)
        written = self._tasks.record_many(results, lambda: to_ms(self._clock()))
        for result, ok in zip(results, written):
            if result.outcome.ok:
                self._observe("delivered", result)
            if not ok:  # taken over: the new holder carries on
                continue
            fire, claim, outcome = result.fire, result.claim, result.outcome
            timer = self._timer_of[fire]
            if outcome.ok:
                if int(getattr(timer, "consecutive_failures", None) or 0):
                    failures.reset(fire.timer_id)  # written only when a run of failures ends
                lifecycle.after_last_fire(timer, fire.fire_ms)
                continue
            decision = policy.decide(policy.policy_of(timer), claim.attempt, outcome, fire_ms=fire.fire_ms,
                                     now_ms=to_ms(self._clock()), rng=self._rng)
            if isinstance(decision, policy.GiveUp):
                self.settle.failed.append(GiveUp(fire, decision.reason, note=decision.explains, timer=timer))
                self._observe("failed", result)
                lifecycle.after_last_fire(timer, fire.fire_ms)
                continue
            self.settle.retries.append((fire, decision.delay_seconds))
            self.settle.errors[fire] = outcome.error or "failed"
            self.settle.timers[fire] = timer
            self._observe("retry", result, retry_in_s=self.settle.retries[-1][1])

    def _observe(self, kind: str, result: Result, retry_in_s: int | None = None) -> None:
        """The metrics and the log line of one attempt's outcome (already redacted). Lateness is
        counted on first attempts only: a retry's delay is its backoff."""
        fire, attempt, outcome = result.fire, result.claim.attempt, result.outcome
        lateness_ms = self._lateness_ms.pop(fire, 0)
        if kind == "delivered":
            self._meter.count(metrics.FIRES_DELIVERED)
        elif kind == "retry":
            self._meter.count(metrics.FIRES_RETRIED)  # "failed" is counted where it is given up (the worker)
        self._meter.time_ms(metrics.CALLBACK_DURATION, outcome.duration_ms)
        if attempt == 1:
            self._meter.time_ms(metrics.CALLBACK_LATENESS, lateness_ms)
        logs.fire_outcome(outcome=kind, timer_id=fire.timer_id, app=fire.app, fire_ms=fire.fire_ms, attempt=attempt,
                          idempotency_key=fire.idempotency_key, http_status=outcome.http_status,
                          lateness_ms=lateness_ms, duration_ms=outcome.duration_ms, error=outcome.error,
                          retry_in_s=retry_in_s)



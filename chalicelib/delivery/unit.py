"""One unit of the worker's work: the fires of one message (a bucket of one second, or one fire).

1. read their timers in one BatchGetItem, strongly consistent; drop the fires of a timer gone,
   disabled or rescheduled since (a manual run is made even for a disabled timer);
2. park the fires whose receiver's circuit is open (chalicelib.delivery.fairness): no claim, no
   call, no outcome; they go back to the queue until after the circuit's next probe;
3. claim each fire with its own conditional write (chalicelib.fires.tasks), on the worker's claim
   pool; a fire done already is dropped, one held by a live claim elsewhere is left for later;
   when the process is behind (the bucket late, or its lane backed up), a bucket's fires are
   claimed on the late-claim pool as their lane makes room, so the backlog waits unclaimed;
4. as soon as a fire is claimed, it goes to the unit's one waiter (a thread of the worker's wait
   pool, never of the callback pool), which waits for the bucket's second and enters each fire
   into its lane and its host's breaker (chalicelib.delivery.fairness), its call to run on the
   callback pool; so no fire waits for another's claim, and a slow or dead receiver holds back
   no other app's fires; a single fire's message thread waits and calls itself;
5. write the outcomes as they come in, in batches (TaskRecords.record_many), once the process
   has no callback due and unsent (chalicelib.delivery.burst): a second's herd goes out first.

What is left (retries, fires held elsewhere, fires deferred by a full lane or parked by an open
circuit, fires failed for good) is handed back in a Settle; the worker decides how each travels on (chalicelib.delivery.worker).
"""
from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from chalicelib import config
from chalicelib.apps.secrets import SigningSecrets
from chalicelib.clock import Clock, to_ms
from chalicelib.delivery import burst as bursts, fairness, overlap, policy
from chalicelib.delivery.burst import Burst
from chalicelib.delivery.fairness import Fairness
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

LATE_CLAIM_WAIT_SECONDS = 5.0
"""The longest a unit's gated claims (the process behind) wait for room in their lanes, all
together, from the unit's start: after it the rest are claimed at once, as on-time fires are.
Within the worker Lambda's 30 s timeout with a lane wait (at most MAX_LANE_WAITS s), a call
(at most 13 s) and the outcome writes after it."""

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


@dataclass(frozen=True)
class Deferred:
    """A claimed fire whose lane stayed full: its claim is to be released and the fire handed back."""
    fire: Fire
    claim: Claim
    why: str
    delay_seconds: int = fairness.DEFER_SECONDS  # how long it stays in the queue


@dataclass
class Settle:
    """What a unit leaves for the worker to do."""
    retries: list[tuple[Fire, int]] = field(default_factory=list)  # failed attempts: (fire, backoff s)
    busy: list[tuple[Fire, int]] = field(default_factory=list)  # held by a live claim: (fire, s to its end)
    deferred: list[tuple[Fire, int]] = field(default_factory=list)  # lane full, claim released: (fire, delay s)
    held: list[tuple[Fire, int]] = field(default_factory=list)  # overlapPolicy: to travel alone, (fire, delay s)
    parked: list[tuple[Fire, int]] = field(default_factory=list)  # circuit open, never claimed: (fire, delay s)
    failed: list[GiveUp] = field(default_factory=list)
    errors: dict[Fire, str] = field(default_factory=dict)  # the last error of each retry
    timers: dict[Fire, TimerModel] = field(default_factory=dict)  # of each retry, as read
    made: int = 0  # calls made
    crashed: BaseException | None = None  # an unexpected error in a call (its fire stays claimed)


class Unit:
    def __init__(self, fires: list[Fire], *, tasks: TaskRecords, notifier: Notifier, signing: SigningSecrets,
                 claims: ThreadPoolExecutor, calls: ThreadPoolExecutor, clock: Clock,
                 sleep: Callable[[float], None], rng: random.Random, meter: Meter | None = None,
                 fairness: Fairness | None = None, burst: Burst | None = None, first_attempts: bool = False,
                 late_claims: ThreadPoolExecutor | None = None, waits: ThreadPoolExecutor | None = None) -> None:
        """`first_attempts`: the fires are a bucket's, first attempts with no task record yet
        most likely, claimed by an insert first (TaskRecords.claim). `late_claims`: the few
        threads that claim a bucket's fires as their lanes make room when the process is behind
        (fairness.Lanes.wait_for_room). `waits`: the threads on which claimed fires wait for
        their second and enter their lane (never the callback pool's: see worker.WAIT_THREADS)."""
        self._fires = fires
        self._first_attempts = first_attempts
        self._tasks, self._notifier, self._signing = tasks, notifier, signing
        self._claims, self._calls, self._clock, self._sleep, self._rng = claims, calls, clock, sleep, rng
        self._late_claims = late_claims or claims
        self._waits = waits or calls
        self._meter = meter or Meter()
        self._fairness = fairness or Fairness(calls, clock)
        self._burst = burst or Burst(clock)
        self._lateness_ms: dict[Fire, int] = {}  # how late each call left (metrics and the log line)
        self.settle = Settle()
        self._timer_of: dict[Fire, TimerModel] = {}
        self._policies: dict[int, policy.Policy] = {}  # per timer, resolved once per unit
        self._lock = threading.Lock()

    def run(self) -> Settle:
        live = self._park_refused(self._live(self._fires))
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
                policy = None if fire.manual else overlap.policy_of(timer)  # allow: nothing read, no wait
                if policy is not None and not self._overlap_allows(fire, timer, policy, alone=len(fires) == 1):
                    continue
                live.append((fire, timer))
                self._timer_of[fire] = timer
                continue
            self._meter.count(metrics.FIRES_DROPPED)
        return live

    def _park_refused(self, live: list[tuple[Fire, TimerModel]]) -> list[tuple[Fire, TimerModel]]:
        """Park the fires whose receiver's circuit is open (fairness.Breakers.blocked): before
        their claims, so an attempt the breaker would refuse costs no claim, no outcome write and
        no attempt, and holds back no other fire's claim. Each one's task record says why once
        per open period; one past the catch-up window fails for good, as a deferred one does."""
        breakers, kept = self._fairness.breakers, []
        for fire, timer in live:
            host = fairness.host_of(timer.notify.url)
            why = breakers.blocked(host, fire.due_time)
            if why is None:
                kept.append((fire, timer))
                continue
            self._meter.count(metrics.CALLBACKS_SHORT_CIRCUITED)
            late_s = (to_ms(self._clock()) - fire.fire_ms) // 1000
            if late_s > config.catch_up_seconds():
                self.settle.failed.append(GiveUp(
                    fire, f"parked until {late_s} s late, past the catch-up window (XTIMER_CATCH_UP_SECONDS="
                          f"{config.catch_up_seconds()}): {why}", note=True, timer=timer))
                continue
            if breakers.first_notice(host, fire.idempotency_key):
                try:
                    self._tasks.note_waiting(fire, reason=why)
                except Exception as exc:  # only the owner's note is lost: the fire is parked all the same
                    log.warning("fire %s: its task record could not say why it waits: %r", fire.idempotency_key, exc)
            self.settle.parked.append((fire, breakers.park_delay(host, self._rng)))
            log.info("fire %s parked: %s", fire.idempotency_key, why)
        return kept

    def _overlap_allows(self, fire: Fire, timer: TimerModel, policy: str, *, alone: bool) -> bool:
        """overlapPolicy (chalicelib.delivery.overlap), judged at the fire's second: a fire early
        in a bucket travels on alone first, so that its wait holds back none of the others."""
        remaining = fire.due_time - self._clock()
        if remaining > 0 and not alone:
            self.settle.held.append((fire, int(remaining)))
            return False
        if remaining > 0:
            self._sleep(remaining)
        verdict = overlap.judge(fire, policy, to_ms(self._clock()))
        if verdict is overlap.Verdict.HOLD:
            self.settle.held.append((fire, overlap.RECHECK_SECONDS))
        elif verdict is overlap.Verdict.SKIP:
            log.info("fire %s skipped: the timer's previous fire is not done (overlapPolicy %s)",
                     fire.idempotency_key, policy)
            self._meter.count(metrics.FIRES_SKIPPED)
            lifecycle.after_last_fire(timer, fire.fire_ms)
        return verdict is overlap.Verdict.GO

    def _claim_and_call(self, live: list[tuple[Fire, TimerModel]], secrets: dict[str, tuple[str, ...]]) -> None:
        """Claims on the claim pool, calls on the callback pool, outcomes written as they come.

        No fire waits for another's claim, and no call for another's answer. Claims have a pool
        of their own, smaller: DynamoDB (and moto, which answers one request at a time) gains
        nothing from hundreds of them in flight, and a call must not wait behind them. Each call
        goes through its lane (chalicelib.delivery.fairness): a call over its app's, host's or the
        retries' cap waits there without a thread, and is handed back (`_defer`) if it waits too long."""
        done: queue.Queue[Result | Deferred | BaseException | None] = queue.Queue()

        lanes = self._fairness.lanes

        def lane_of(fire: Fire, timer: TimerModel) -> fairness.Lane:
            return fairness.Lane(fire.app, fairness.host_of(timer.notify.url), retry=False)

        ready: queue.Queue[tuple[Fire, TimerModel, Claim] | None] = queue.Queue()  # for the unit's waiter

        def claim_then_call(fire: Fire, timer: TimerModel, inline: bool, gate_until: float | None = None) -> None:
            claim: Claim | None = None
            held: fairness.Lane | None = None  # whose room the gate holds for the fire until it is entered
            try:
                if gate_until is not None:  # the process is behind: claimed only as the fire's lane makes room
                    lane = lane_of(fire, timer)
                    if lanes.wait_for_room(lane, gate_until - time.monotonic()):
                        held = lane
                claim = self._claim(fire)
                if claim is None:
                    done.put(None)
            except BaseException as exc:
                done.put(exc)
            try:
                if inline:  # a single fire: its message's thread waits and calls
                    if claim is not None:
                        self._wait_and_enter(fire, timer, claim, secrets[fire.app], done)
                elif claim is not None and fire.due_time <= self._clock():
                    # due already (a late claim): entered from here at once, so that it counts in
                    # its lane's backlog before its held room is given back to the next gated claim
                    ready.put(None)  # (the unit's waiter counts every fire, claimed or not)
                    self._wait_and_enter(fire, timer, claim, secrets[fire.app], done, inline=False)
                else:  # (not due yet: in no lane until its second, so it holds no room meanwhile)
                    ready.put(None if claim is None else (fire, timer, claim))
            finally:
                if held is not None:
                    lanes.release_room(held)

        if len(live) == 1:
            claim_then_call(*live[0], inline=True)
        else:
            self._waits.submit(self._wait_in_order, ready, len(live), secrets, done)
            now = self._clock()
            late = all(fire.due_time <= now for fire, _ in live)
            gate_until = time.monotonic() + LATE_CLAIM_WAIT_SECONDS  # for the whole unit, not each fire
            for fire, timer in live:
                if self._first_attempts and (late or not lanes.has_room(lane_of(fire, timer))):  # behind
                    self._late_claims.submit(claim_then_call, fire, timer, False, gate_until)
                else:
                    self._claims.submit(claim_then_call, fire, timer, False)
        left = len(live)
        while left:
            arrived = [done.get()]
            linger_until = time.monotonic() + LINGER_SECONDS  # outcomes right after go into the same write
            while len(arrived) < left:
                try:
                    arrived.append(done.get(timeout=max(0.0, linger_until - time.monotonic())))
                except queue.Empty:
                    break
            self._burst.wait_sent(until=time.monotonic() + bursts.HOLD_SECONDS)  # the second's calls first
            while len(arrived) < left:  # and what came in meanwhile goes into the same write
                try:
                    arrived.append(done.get_nowait())
                except queue.Empty:
                    break
            left -= len(arrived)
            for item in arrived:
                if isinstance(item, BaseException):
                    log.error("a fire's claim or callback crashed: %r", item)
                    self.settle.crashed = item
                elif isinstance(item, Deferred):
                    self._defer(item)
            self._write([item for item in arrived if isinstance(item, Result)])

    def _wait_in_order(self, ready: queue.Queue[tuple[Fire, TimerModel, Claim] | None], expected: int,
                       secrets: dict[str, tuple[str, ...]],
                       done: queue.Queue[Result | Deferred | BaseException | None]) -> None:
        """The unit's one waiter: takes its fires as their claims come in (None: a fire not
        claimed, `expected` in all), waits for each one's second, earliest first, and enters it
        into its lane, its call to run on the callback pool. One thread per bucket, not one per
        fire: 300 threads asleep until the same instant all woke at once and fought over the
        GIL, taking 224 ms of the stack's 751 ms of CPU in a herd of 300 (threads' CPU clocks)."""
        pending: list[tuple[float, int, tuple[Fire, TimerModel, Claim]]] = []  # a heap, by due time
        taken = 0
        try:
            while taken < expected or pending:
                while taken < expected:  # everything claimed by now; block only with nothing to wait for
                    try:
                        item = ready.get_nowait() if pending else ready.get()
                    except queue.Empty:
                        break
                    taken += 1
                    if item is not None:
                        heapq.heappush(pending, (item[0].due_time, taken, item))
                if not pending:
                    continue
                # _wait_and_enter waits for the fire's second (a bucket's fires share it: none
                # claimed meanwhile is due sooner), then the next are taken and entered at once
                fire, timer, claim = heapq.heappop(pending)[2]
                self._wait_and_enter(fire, timer, claim, secrets[fire.app], done, inline=False)
        except BaseException as exc:  # every fire not entered still owes the unit one item
            log.error("a unit's waiter crashed: %r", exc)
            for _ in range(len(pending) + expected - taken):
                done.put(exc)

    def _wait_and_enter(self, fire: Fire, timer: TimerModel, claim: Claim, secrets: tuple[str, ...],
                        done: queue.Queue[Result | Deferred | BaseException | None], *, inline: bool = True) -> None:
        """Wait for the fire's second, then call through its host's breaker and its lane (on this
        thread if `inline`, else on the callback pool); exactly one item for the fire goes into
        `done`. From its second until its call is answered (or it is refused or handed back) it
        counts as due in the process's Burst."""
        ticket: bursts.Ticket | None = None
        try:
            remaining = fire.due_time - self._clock()
            if remaining > 0:
                self._sleep(remaining)
            ticket = due = self._burst.due(fire.due_time)
            host = fairness.host_of(timer.notify.url)
            refused = self._fairness.breakers.refuse(host)
            if refused is not None:  # the circuit opened since the unit began: handed back as if parked
                due.sent()
                self._meter.count(metrics.CALLBACKS_SHORT_CIRCUITED)
                done.put(Deferred(fire, claim, refused.removesuffix(" (no call made)"),
                                  self._fairness.breakers.park_delay(host, self._rng)))
                return

            def run() -> None:
                try:
                    result = self._call(fire, timer, claim, secrets, host)
                except BaseException as exc:  # a crash mid-call: its fire stays claimed until the lease ends
                    due.sent()
                    done.put(exc)
                    return
                due.sent()  # answered: until then the request may still be on its way (bursts)
                done.put(result)

            def expire(why: str) -> None:
                due.sent()
                done.put(Deferred(fire, claim, why))

            self._fairness.lanes.enter(fairness.Lane(fire.app, host, retry=claim.attempt > 1), run, expire,
                                       inline=inline)
        except BaseException as exc:
            if ticket is not None:
                ticket.sent()
            done.put(exc)

    def _defer(self, deferred: Deferred) -> None:
        """Hand a fire whose lane stayed full back to the queue: claim released first (only while
        it is still ours), so the fire's next message claims it as if this attempt never began.
        One deferred past the catch-up window fails for good instead (dead-lettered with the
        reason, so `redrive` can bring it back): a lane that stays full must not keep a growing
        number of fires going round the queue."""
        fire = deferred.fire
        late_s = (to_ms(self._clock()) - fire.fire_ms) // 1000
        if late_s > config.catch_up_seconds():  # a bound on being handed back while the lane stays full
            self.settle.failed.append(GiveUp(
                fire, f"deferred until {late_s} s late, past the catch-up window (XTIMER_CATCH_UP_SECONDS="
                      f"{config.catch_up_seconds()}), no call made: {deferred.why}", deferred.claim, note=True, timer=self._timer_of.get(fire)))
            return
        reason = f"deferred for {deferred.delay_seconds} s, no call made: {deferred.why}"
        try:
            released = self._tasks.release(fire, deferred.claim, reason=reason)
        except Exception as exc:  # the claim stays ours until its lease ends; then the fire is claimed again
            log.error("fire %s: its claim could not be released: %r", fire.idempotency_key, exc)
            self.settle.crashed = exc
            return
        if released:  # else it was taken over: the new holder carries on
            self.settle.deferred.append((fire, deferred.delay_seconds))
            self._meter.count(metrics.FIRES_DEFERRED)
            log.info("fire %s %s", fire.idempotency_key, reason)

    def _claim(self, fire: Fire) -> Claim | None:
        """Our claim on the fire, or None if it is not ours to call now (noted in the Settle)."""
        timer = self._timer_of.get(fire)
        claim = self._tasks.claim(fire, to_ms(self._clock()),
                                  overlap_policy=None if timer is None or fire.manual else overlap.policy_of(timer),
                                  first_attempt=self._first_attempts)
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
        max_attempts = self._policy(self._timer_of[fire]).max_attempts
        if claim.attempt > max_attempts:
            # The last attempt failed and its dead letter could not be sent then: send it now.
            with self._lock:
                self.settle.failed.append(GiveUp(fire, f"attempt {claim.attempt - 1} was the last "
                                                       f"(maxAttempts {max_attempts}); "
                                                       "its error is in the task record", claim,
                                                 timer=self._timer_of[fire]))
            return None
        return claim

    def _policy(self, timer: TimerModel) -> policy.Policy:
        """The timer's delivery policy (its own settings over the service's defaults): read by the
        claim, the call and the outcome of each of its fires, so resolved once per unit."""
        key = int(timer.id)
        if key not in self._policies:
            self._policies[key] = policy.policy_of(timer)
        return self._policies[key]

    def _call(self, fire: Fire, timer: TimerModel, claim: Claim, secrets: tuple[str, ...], host: str) -> Result:
        callback = callback_of(timer)
        sent_ms = to_ms(self._clock())
        self._lateness_ms[fire] = max(0, sent_ms - fire.fire_ms)
        outcome = self._notifier.notify(
            callback,
            Delivery(timer_id=fire.timer_id, fire_time=int(fire.fire_time), attempt=claim.attempt,
                     idempotency_key=fire.idempotency_key, signing_secrets=secrets),
            timeout=self._policy(timer).timeout_seconds,
        )
        self._fairness.breakers.record(host, outcome)
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
            decision = policy.decide(self._policy(timer), claim.attempt, outcome, fire_ms=fire.fire_ms,
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



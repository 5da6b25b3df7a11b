"""Fair delivery: one tenant's slow receiver uses its own share of a worker, not everyone's.

One `Fairness` per worker process (chalicelib.delivery.worker) holds two things; both live in
that process's memory only, so on Lambda each container has its own (see docs/security.md):

Lanes. Once its fire is claimed and its second has come, a callback enters its lane and is
admitted only while its app has fewer than XTIMER_MAX_INFLIGHT_PER_APP callbacks in flight, its
receiver (host and port) fewer than XTIMER_MAX_INFLIGHT_PER_HOST, and, for a retry (attempt 2 or
later), all retries together fewer than XTIMER_MAX_INFLIGHT_RETRIES. An admitted callback runs on
the thread that brought it. One that does not fit waits in its lane: an entry in a list, holding
no thread; when a call of its lane ends, the next waiting callback that fits starts on the call
pool. Fast receivers drain a lane in milliseconds, so a second's herd of one app is only spread
out a little, never sent back.

When a process is behind (a bucket's second passed before its fires were claimed, or a lane
already has BACKLOG_ROUNDS rounds of its app's cap waiting), a bucket's fire is claimed only
while fewer than that wait in its lane (`wait_for_room`), on threads of their own
(chalicelib.delivery.worker.LATE_CLAIM_THREADS). The room a claim is let through for stays held
for it (`release_room`) until its fire is in the lane: so the threads waiting on one lane take
its room one by one, not all at once as soon as one fire leaves. A process that
claims faster than it can call (a bucket's claim is one cheap write) would otherwise fill its
lanes with claimed fires that wait there until they are handed back, each hand-back costing a
claim release, a message and a claim again. Unclaimed, the backlog waits in the queue and in
the unit for free; on-time fires never wait for this.

A callback still waiting after XTIMER_LANE_WAIT_MS (1 s) while no call of its lane ended in that
time (a lane that drains is waited for, up to MAX_LANE_WAITS of it) is handed back: the unit releases its
claim and sends its fire again as a delayed single fire (chalicelib.delivery.unit). Chosen over
waiting for as long as it takes because a lane behind a hanging receiver only grows (30 fires a
second against 32 calls of 10 s each), and every waiting fire would hold its message, and the
message its Lambda invocation, up to the 30 s timeout. The claim is released, not kept: a kept
claim would make the fire's own returning message find it held (BUSY) and wait out the lease.
Exactly once still holds because the claim stays the only gate to a call: the release is a
conditional write that succeeds only while the claim is still ours, and the fire is made by
whichever message claims it next; a crash between the two leaves the claim to run out its lease,
after which the returning message, or the original one delivered again, claims it.

Breakers. A circuit breaker per receiver host: after XTIMER_BREAKER_FAILURES (5) timeouts or
connection failures in a row it opens for XTIMER_BREAKER_OPEN_SECONDS (30 s); then one call goes
through as a probe: an answer (any HTTP status) closes the circuit, another failure opens it for
another period. While it is open, a fire to that host is parked (chalicelib.delivery.unit): not
claimed, not called, no attempt counted, its outcome not written; it is sent back to the queue
to come again after the next probe (`park_delay`). Its task record says why, once per open
period (`first_notice`), for the owner to read in getTasks and the console.

Parked, not failed at once as a retryable attempt (as it first was): each such attempt cost a
claim, an outcome write and a retry message, about 40 a second for a dead receiver of 10 fires a
second, and every one of them was timed for the next probe, so they all came back in the same
second: the local stack's moto, answering one request at a time, then made other apps' claims
wait seconds (issue 17: B's p99 4.6-9 s). A parked fire costs one message per open period, and
the parked fires' returns are spread over the period after the probe.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from chalicelib import config
from chalicelib.clock import Clock, rfc3339
from chalicelib.fires.outcome import Outcome
from chalicelib.fires.queue import MAX_DELAY_SECONDS

DEFER_SECONDS = 5
"""How long a fire handed back by its full lane stays in the queue before it is tried again."""

MAX_LANE_WAITS = 5
"""A callback whose lane drains (calls of it keep ending) waits up to this many lane waits before
it is handed back; one whose lane is stuck (no call of it ended for a lane wait) is handed back
after one. So a herd of one app's fires to a fast receiver queues in its lane instead of going
round the queue, and a hanging receiver's fires still leave at once."""

BACKLOG_ROUNDS = 2
"""A late bucket's next fire is claimed once fewer than this many rounds of its app's cap
(XTIMER_MAX_INFLIGHT_PER_APP) wait in its lane: enough for the lane never to run dry between
claims, few enough that none waits there near its MAX_LANE_WAITS."""

PROBE_SECONDS = 13.0
"""How long a probe's call may take: the notifier's connect and read timeouts (3 s + 10 s)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """The receiver a URL names, as lanes and breakers count it: `host:port` (two ports of one
    host are two receivers; the scheme's default port when none is written)."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        return f"{(parts.hostname or '').lower()}:{port}"
    except ValueError:
        return "(invalid URL)"


@dataclass(frozen=True)
class Lane:
    """Which caps a callback counts against."""

    app: str
    host: str
    retry: bool  # attempt 2 or later


@dataclass(frozen=True)
class _Caps:
    """The three caps, read from the configuration once per admission scan."""

    app: int
    host: int
    retries: int

    @staticmethod
    def now() -> _Caps:
        return _Caps(config.max_inflight_per_app(), config.max_inflight_per_host(), config.max_inflight_retries())


@dataclass
class _Waiting:
    lane: Lane
    run: Callable[[], None]
    expire: Callable[[str], None]
    deadline: float  # time.monotonic()
    since: float = 0.0  # when it began to wait


class Lanes:
    """In-flight caps per app, per receiver host and for retries (see the module's docstring)."""

    def __init__(self, pool: Executor, *, lane_wait: Callable[[], float] = lambda: config.lane_wait_ms() / 1000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self._lane_wait = lane_wait
        self._monotonic = monotonic
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the janitor waits on it
        self._drained = threading.Condition(lock)  # `wait_for_room` waits on it
        self._backlog: Counter[Lane] = Counter()  # callbacks waiting, per lane
        self._held: Counter[Lane] = Counter()  # room held for late claims on their way (`wait_for_room`)
        self._apps: Counter[str] = Counter()
        self._hosts: Counter[str] = Counter()
        self._retries = 0
        self._waiting: list[_Waiting] = []
        self._janitor: threading.Thread | None = None
        self._released: dict[str, float] = {}  # app, host or "retries" -> when a call of it last ended
        self._janitor_wakes_at = float("inf")  # when the janitor's wait ends (time.monotonic()), set under the lock

    def in_flight(self) -> dict[str, object]:
        """What is admitted and waiting now (for tests and the log)."""
        with self._cond:
            return {"apps": dict(+self._apps), "hosts": dict(+self._hosts), "retries": self._retries,
                    "waiting": len(self._waiting)}

    def enter(self, lane: Lane, run: Callable[[], None], expire: Callable[[str], None], *,
              inline: bool = True) -> None:
        """Run `run` now if `lane` has room, on this thread (`inline`) or else on the pool; else
        leave it waiting (this thread returns at once): `run` starts on the pool once there is
        room, or `expire(why)` is called after the lane wait. `run` must not raise; exactly one
        of the two is called."""
        with self._cond:
            why = self._full(lane)
            if why is None:
                self._take(lane)
            elif (wait := self._lane_wait()) > 0:
                now = self._monotonic()
                self._waiting.append(_Waiting(lane, run, expire, now + wait, since=now))
                self._backlog[lane] += 1
                self._start_janitor()
                if now + wait < self._janitor_wakes_at:  # else it wakes in time: a herd's hundreds
                    self._cond.notify_all()              # of waits do not each wake it to rescan
                return
        if why is None and inline:
            self._run(lane, run)
        elif why is None:
            self._start(lane, run, expire)
        else:
            expire(why)

    def has_room(self, lane: Lane) -> bool:
        """Whether fewer than BACKLOG_ROUNDS rounds of the app's cap wait in `lane` now, or are
        held for late claims on their way (`wait_for_room`)."""
        with self._cond:
            return self._room(lane)

    def _room(self, lane: Lane) -> bool:
        return self._backlog[lane] + self._held[lane] < BACKLOG_ROUNDS * config.max_inflight_per_app()

    def wait_for_room(self, lane: Lane, timeout: float) -> bool:
        """Wait until `has_room(lane)`, at most `timeout` seconds; whether it has (see the
        module's docstring). When it has, that room is held for the caller's fire, counted as if
        it waited in the lane, until `release_room(lane)`: the caller releases it once the fire
        has entered the lane (and counts there if it waits) or is not to be called at all."""
        deadline = self._monotonic() + timeout
        with self._cond:
            while not self._room(lane):
                left = deadline - self._monotonic()
                if left <= 0:
                    return False
                self._drained.wait(left)
            self._held[lane] += 1
        return True

    def release_room(self, lane: Lane) -> None:
        """Give back the room `wait_for_room` held in `lane`."""
        with self._cond:
            self._held[lane] -= 1
            if self._held[lane] <= 0:
                del self._held[lane]
            self._drained.notify_all()

    def _left(self, waiting: list[_Waiting]) -> None:
        """These callbacks stopped waiting (started or handed back). Called with the lock held."""
        for w in waiting:
            self._backlog[w.lane] -= 1
            if self._backlog[w.lane] <= 0:
                del self._backlog[w.lane]
        if waiting:
            self._drained.notify_all()

    def _start(self, lane: Lane, run: Callable[[], None], expire: Callable[[str], None]) -> None:
        """Start an admitted call on the pool. Once the pool is shut down (the process stops) the
        call is handed back instead, its room given back: else its fire would wait for an
        answer that never comes, and the thread that found it room (the janitor) would die."""
        try:
            self._pool.submit(self._run, lane, run)
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            with self._cond:
                self._give(lane)
            expire("the worker is stopping")

    def _run(self, lane: Lane, run: Callable[[], None]) -> None:
        try:
            run()
        finally:
            self._release(lane)

    def _release(self, lane: Lane) -> None:
        """A call ended: start the waiting callbacks that fit now, first come first. Once a lane is
        found full it stays full for the rest of the scan (admitting only adds to the counts), so
        a herd's hundreds of waiting callbacks of one lane cost one check per release, not one each;
        and once every lane that has callbacks waiting is full, the scan stops (the rest of the
        list is kept as it is), so a release costs the same whether 3 or 300 callbacks wait."""
        started: list[_Waiting] = []
        with self._cond:
            self._give(lane)
            if self._waiting:
                caps = _Caps.now()
                lanes_waiting = len(self._backlog)
                full: set[Lane] = set()
                still: list[_Waiting] = []
                for index, waiting in enumerate(self._waiting):
                    if waiting.lane in full or self._full(waiting.lane, caps) is not None:
                        full.add(waiting.lane)
                        if len(full) >= lanes_waiting:  # nothing further can start now
                            still.extend(self._waiting[index:])
                            break
                        still.append(waiting)
                    else:
                        self._take(waiting.lane)
                        started.append(waiting)
                self._waiting = still
                self._left(started)
        for waiting in started:
            self._start(waiting.lane, waiting.run, waiting.expire)

    def _full(self, lane: Lane, caps: _Caps | None = None) -> str | None:
        """Why `lane` has no room now (None: it has). Called with the lock held."""
        caps = caps or _Caps.now()
        if self._apps[lane.app] >= caps.app:
            return (f"app {lane.app!r} has {self._apps[lane.app]} callbacks in flight "
                    f"(XTIMER_MAX_INFLIGHT_PER_APP={caps.app})")
        if self._hosts[lane.host] >= caps.host:
            return (f"host {lane.host} has {self._hosts[lane.host]} callbacks in flight "
                    f"(XTIMER_MAX_INFLIGHT_PER_HOST={caps.host})")
        if lane.retry and self._retries >= caps.retries:
            return f"{self._retries} retries are in flight (XTIMER_MAX_INFLIGHT_RETRIES={caps.retries})"
        return None

    def _take(self, lane: Lane) -> None:
        self._apps[lane.app] += 1
        self._hosts[lane.host] += 1
        self._retries += lane.retry

    def _moving(self, lane: Lane, now: float, wait: float) -> bool:
        """Whether a call of the lane's app, host (or, for a retry, of the retries) ended within
        the last `wait`: a lane that drains is waited for, only a stuck one hands back."""
        keys = ("app:" + lane.app, "host:" + lane.host, *(("retries",) if lane.retry else ()))
        return any(now - self._released.get(key, float("-inf")) < wait for key in keys)

    def _give(self, lane: Lane) -> None:
        now = self._monotonic()
        self._released["app:" + lane.app] = self._released["host:" + lane.host] = now
        if lane.retry:
            self._released["retries"] = now
        self._apps[lane.app] -= 1
        self._hosts[lane.host] -= 1
        self._retries -= lane.retry

    def _start_janitor(self) -> None:
        if self._janitor is None:
            self._janitor = threading.Thread(target=self._expire_forever, name="lanes", daemon=True)
            self._janitor.start()

    def _expire_forever(self) -> None:
        """Hand back whatever waited past its deadline (one thread per process, idle when none waits)."""
        while True:
            with self._cond:
                while True:
                    now = self._monotonic()
                    due = [w for w in self._waiting if w.deadline <= now]
                    if due:
                        self._waiting = [w for w in self._waiting if w.deadline > now]
                        started, expired, reasons = [], [], []
                        wait, caps = self._lane_wait(), _Caps.now()
                        for waiting in due:  # one whose lane has room after all starts instead
                            why = self._full(waiting.lane, caps)
                            if why is None:
                                self._take(waiting.lane)
                                started.append(waiting)
                            elif (self._moving(waiting.lane, now, wait)
                                  and now - waiting.since < wait * MAX_LANE_WAITS):
                                waiting.deadline = now + wait  # its lane drains: it waits on
                                self._waiting.append(waiting)
                            else:
                                expired.append(waiting)
                                reasons.append(why)
                        self._left(started + expired)
                        break
                    soonest = min((w.deadline for w in self._waiting), default=None)
                    self._janitor_wakes_at = float("inf") if soonest is None else soonest
                    self._cond.wait(None if soonest is None else max(0.001, soonest - now))
                    self._janitor_wakes_at = float("-inf")  # awake: it rescans before its next wait
            for waiting in started:
                self._start(waiting.lane, waiting.run, waiting.expire)
            for waiting, why in zip(expired, reasons):
                waiting.expire(why)


@dataclass
class _Circuit:
    failures: int = 0  # in a row
    opened_at: float | None = None  # epoch seconds (the worker's clock)
    opened_after: int = 0  # failures in a row when it opened
    probe_since: float | None = None  # a probe's call is in flight since then
    noted: set[str] = field(default_factory=set)  # fires whose task record says why, this open period


class Breakers:
    """A circuit breaker per receiver host (see the module's docstring)."""

    def __init__(self, clock: Clock, *, probe_seconds: float = PROBE_SECONDS) -> None:
        self._clock = clock
        self._probe_seconds = probe_seconds
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def refuse(self, host: str) -> str | None:
        """Why a call to `host` must not be made now, or None to make it (this call may be the
        half-open probe: its outcome goes to `record`)."""
        with self._lock:
            circuit = self._circuits.get(host)
            if circuit is None or circuit.opened_at is None:
                return None
            now = self._clock()
            if now >= self._next_probe(circuit):
                circuit.probe_since = now
                return None
            return self._why(host, circuit)

    def blocked(self, host: str, due: float = 0.0) -> str | None:
        """Why a fire to `host` due at `due` (epoch seconds) is to be parked now, without a claim;
        None while its circuit is closed, or a probe is due by then (the fire is then claimed,
        and its call's `refuse` decides)."""
        with self._lock:
            circuit = self._circuits.get(host)
            if circuit is None or circuit.opened_at is None or max(self._clock(), due) >= self._next_probe(circuit):
                return None
            return self._why(host, circuit)

    def first_notice(self, host: str, key: str) -> bool:
        """True the first time in the circuit's current open period that fire `key` is parked:
        its task record is updated then, not at each of its returns."""
        with self._lock:
            circuit = self._circuits.get(host)
            if circuit is None or key in circuit.noted:
                return False
            circuit.noted.add(key)
            return True

    def park_delay(self, host: str, rng: random.Random) -> int:
        """Seconds a parked fire stays in the queue: until the circuit's next probe has had its
        answer (`probe_seconds` after it starts), plus a random part of one open period. Not
        the probe's own second: all the fires parked during a period would come back at once,
        and those due while the probe's call is in flight would be claimed only to be refused."""
        to_verdict = (self.seconds_to_probe(host) or 0.0) + self._probe_seconds
        return max(1, min(MAX_DELAY_SECONDS, math.ceil(to_verdict + rng.uniform(0, config.breaker_open_seconds()))))

    @staticmethod
    def _next_probe(circuit: _Circuit) -> float:
        """When an open circuit lets its next probe through (called only for an open one)."""
        next_probe = (circuit.opened_at or 0.0) + config.breaker_open_seconds()
        if circuit.probe_since is not None:  # a probe that never reports back is replaced after a period
            next_probe = max(next_probe, circuit.probe_since + config.breaker_open_seconds())
        return next_probe

    def _why(self, host: str, circuit: _Circuit) -> str:
        return (f"circuit open for host {host} since {rfc3339(int(circuit.opened_at or 0))} after "
                f"{circuit.opened_after} timeouts or connection failures in a row; next probe at "
                f"{rfc3339(int(-(-self._next_probe(circuit) // 1)))} (no call made)")

    def seconds_to_probe(self, host: str) -> float | None:
        """How long until `host`'s circuit lets a probe through (None: it is closed)."""
        with self._lock:
            circuit = self._circuits.get(host)
            if circuit is None or circuit.opened_at is None:
                return None
            return max(0.0, self._next_probe(circuit) - self._clock())

    def record(self, host: str, outcome: Outcome) -> None:
        """Count a call's outcome: no answer at all (timeout, refused, reset, DNS) is a failure;
        any HTTP answer, even a 500, shows the host alive and closes its circuit."""
        if not outcome.retryable:  # refused or invalid on our side: says nothing about the host
            return
        if outcome.http_status is not None:
            with self._lock:
                self._circuits.pop(host, None)
            return
        with self._lock:
            circuit = self._circuits.setdefault(host, _Circuit())
            circuit.failures += 1
            now = self._clock()
            if circuit.opened_at is not None and circuit.probe_since is not None:  # the probe failed
                circuit.opened_at, circuit.probe_since, circuit.opened_after = now, None, circuit.failures
                circuit.noted.clear()  # a new open period: its records say so once more
            elif circuit.opened_at is None and circuit.failures >= config.breaker_failures():
                circuit.opened_at, circuit.opened_after = now, circuit.failures

    def is_open(self, host: str) -> bool:
        with self._lock:
            circuit = self._circuits.get(host)
            return circuit is not None and circuit.opened_at is not None


class Fairness:
    """The lanes and the breakers of one worker process."""

    def __init__(self, pool: Executor, clock: Clock, *, lanes: Lanes | None = None,
                 probe_seconds: float = PROBE_SECONDS) -> None:
        self.lanes = lanes or Lanes(pool)
        self.breakers = Breakers(clock, probe_seconds=probe_seconds)

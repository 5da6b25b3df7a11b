"""The naive design the suite compares xtimer with: a scheduler that ticks once a minute and sends
every fire that came due during the past minute, right away.

Its lateness is what a plain minute-level scheduler gives (cron, EventBridge's minute rules, a
job polling a table once a minute): a fire at second s of a minute is sent at the next minute
boundary, 60 - s seconds late (0 for a fire at second 0), plus the time it takes to send.

It runs in the benchmark's process, against the same timers' schedules as the xtimer series it
is compared with, and posts to the same receiver under its own path prefix (NAIVE_PREFIX), with
the headers xtimer sends (X-Xtimer-Fire-Time, X-Xtimer-Timer-Id, X-Xtimer-Idempotency-Key), so
the same analysis reads both.

The pure functions (send_time, boundaries, fires_sent_at, stride, ratio) are tested in
bench/test_suite.py; NaiveTicker is the thread that does it in real time.
"""
from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import requests
from requests.adapters import HTTPAdapter

from bench.analysis import Timer, _iso, expected_fires

NAIVE_PREFIX = "/naive/"
MINUTE = 60


def send_time(fire: int) -> int:
    """The minute boundary at which the naive ticker sends a fire due at `fire` (epoch s): the fire's
    own second if it is a boundary, else the next one."""
    return math.ceil(fire / MINUTE) * MINUTE


def boundaries(start: float, stop: float) -> list[int]:
    """Minute boundaries b with start <= b <= stop: the ticks that happen during a run."""
    first = math.ceil(start / MINUTE) * MINUTE
    return list(range(first, int(math.floor(stop / MINUTE) * MINUTE) + 1, MINUTE))


def covered_fires_window(ticks: Sequence[int]) -> tuple[int, int] | None:
    """[start, end) of the fire times the ticks send: each tick b sends the fires in (b - 60, b], so
    ticks b1 .. bk cover (b1 - 60, bk], that is [b1 - 59, bk + 1) in whole seconds."""
    if not ticks:
        return None
    return ticks[0] - MINUTE + 1, ticks[-1] + 1


def fires_sent_at(tick: int, timers: Sequence[Timer]) -> list[tuple[Timer, int]]:
    """(timer, fire time) of every fire the tick at boundary `tick` sends: those due in (tick - 60, tick]."""
    return [(t, f) for t in timers for f in expected_fires(t.cron, tick - MINUTE + 1, tick + 1)]


def stride(fires_per_minute: float, cap: int) -> int:
    """Every how many timers the naive ticker takes so that one tick sends at most about `cap`
    fires: 1 (all of them) when they fit."""
    if cap <= 0 or fires_per_minute <= cap:
        return 1
    return math.ceil(fires_per_minute / cap)


def ratio(naive: float | None, xtimer: float | None) -> float | None:
    """naive / xtimer, None when either is missing; a zero xtimer figure counts as 1 ms (the
    receiver's clock resolution is far finer, but a ratio to zero says nothing)."""
    if naive is None or xtimer is None:
        return None
    return naive / max(xtimer, 1.0)


class NaiveTicker(threading.Thread):
    """Sleeps until each of `ticks`, then posts the fires of the past minute to
    `base_url` + NAIVE_PREFIX + timer name, `threads` at a time. `bodies` gives each timer's body."""

    def __init__(self, timers: Sequence[Timer], ticks: Sequence[int], base_url: str, bodies: dict[str, str],
                 threads: int = 16, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name="naive-ticker", daemon=True)
        self.timers = list(timers)
        self.ticks = list(ticks)
        self.base_url = base_url.rstrip("/")
        self.bodies = bodies
        self.threads = threads
        self.clock = clock
        self.stop_event = threading.Event()
        self.sent = 0
        self.failed = 0
        self.send_seconds: list[float] = []  # per tick: from the boundary to the last answer

    def run(self) -> None:
        http = requests.Session()
        http.trust_env = False
        http.mount("http://", HTTPAdapter(pool_connections=self.threads, pool_maxsize=self.threads))
        with ThreadPoolExecutor(self.threads, thread_name_prefix="naive") as pool:
            for tick in self.ticks:
                if self.stop_event.wait(max(0.0, tick - self.clock())):
                    break
                due = fires_sent_at(tick, self.timers)
                results = list(pool.map(lambda tf: self._post(http, *tf), due))
                self.sent += sum(results)
                self.failed += len(results) - sum(results)
                self.send_seconds.append(round(self.clock() - tick, 3))
        http.close()

    def _post(self, http: requests.Session, timer: Timer, fire: int) -> bool:
        try:
            reply = http.post(self.base_url + NAIVE_PREFIX + timer.name, data=self.bodies.get(timer.name, ""),
                              timeout=(2, 10), headers={
                                  "Content-Type": "application/json",
                                  "X-Xtimer-Fire-Time": _iso(fire),
                                  "X-Xtimer-Timer-Id": str(timer.id),
                                  "X-Xtimer-Idempotency-Key": f"{timer.id}-{fire * 1000}",
                                  "X-Xtimer-Attempt": "1",
                              })
            return reply.status_code < 300
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.stop_event.set()

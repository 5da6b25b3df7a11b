"""A clock for tests and in-process benchmarks: time moves only when told to, or when a thread sleeps on it."""
from __future__ import annotations

import threading
from datetime import datetime, timezone


class FakeClock:
    """A clock that moves only when told to, or when somebody sleeps on it.

    Threads sleep as they would on a real clock: a sleep ends `seconds` after the time that
    thread last read, so ten workers each waiting 70 s for the same second all wake at that
    second instead of adding their waits up.
    """

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._seen = threading.local()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            self._seen.now = self._now
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            start = getattr(self._seen, "now", self._now)
            self._now = max(self._now, start + seconds)
            self._seen.now = self._now


def at(text: str) -> float:
    """Epoch seconds of an ISO time written in UTC, e.g. at("2026-03-01T12:00:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()

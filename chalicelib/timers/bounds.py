"""A schedule with a window (startAt, endAt), a limit (maxFires) and jitter applied: what a timer
with those options fires, and what previewCron shows for it."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from chalicelib.timers.fire_schedule import FireSchedule

MAX_FIRES = 10_000
MAX_JITTER_SECONDS = 3600


def jitter_offset(seed: int, fire_time: int, jitter: int) -> int:
    """A pseudo-random offset in [0, jitter], a pure function of the timer and the fire time: every
    retry, duplicate and idempotency key of a fire sees the same moved time."""
    if jitter <= 0:
        return 0
    digest = hashlib.sha256(f"{seed}:{fire_time}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (jitter + 1)


@dataclass(frozen=True)
class Bounded(FireSchedule):
    """`inner`'s fires from `start_at` (inclusive) until `end_at` (exclusive), the first
    `max_fires` of them counted from `origin` (startAt, else when the timer was enabled), each
    moved later by jitter_offset(seed, t, jitter). Jitter is below the schedule's shortest gap, so
    moved fires stay in order."""

    inner: FireSchedule
    start_at: int | None = None
    end_at: int | None = None
    max_fires: int | None = None
    origin: int = 0
    jitter: int = 0
    seed: int = 0

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.inner.kind

    @property
    def cron(self) -> str:
        return getattr(self.inner, "cron", "")

    @property
    def timezone(self) -> str:
        return getattr(self.inner, "timezone", "UTC")

    @cached_property
    def _last_counted(self) -> int | None:
        """The max_fires-th fire from the origin (unmoved), or None without a limit."""
        if self.max_fires is None:
            return None
        first = self.origin if self.start_at is None else max(self.origin, self.start_at)
        fires = self.inner.next_fires(first, self.max_fires)
        return fires[-1] if len(fires) == self.max_fires else None  # fewer: the schedule ends first

    def _iter_fires(self, after: int) -> Iterator[int]:
        lower = after - self.jitter
        if self.start_at is not None:
            lower = max(lower, self.start_at)
        if self.max_fires is not None:
            lower = max(lower, self.origin)
        last_counted = self._last_counted
        for base in self.inner._iter_fires(lower):
            if last_counted is not None and base > last_counted:
                return
            moved = base + jitter_offset(self.seed, base, self.jitter)
            if self.end_at is not None and moved >= self.end_at:
                return
            if moved >= after:
                yield moved

    def first_fire(self, now: float, catch_up: int) -> int | None:
        first = self.inner.first_fire(now if self.start_at is None else max(now, self.start_at), catch_up)
        return None if first is None else self.next_fire(first)

    def describe(self) -> str:
        parts = [self.inner.describe()]
        if self.start_at is not None:
            parts.append(f"from {_iso(self.start_at)}")
        if self.end_at is not None:
            parts.append(f"until {_iso(self.end_at)}")
        if self.max_fires is not None:
            parts.append(f"at most {self.max_fires} time{'s' if self.max_fires != 1 else ''}")
        if self.jitter:
            parts.append(f"each fire moved later by 0 to {self.jitter} s")
        return ", ".join(parts)


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

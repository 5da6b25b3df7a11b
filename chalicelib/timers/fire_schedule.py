"""What every kind of schedule (cron, at, rate, and one with windows, limits or jitter) offers the
timer store, the tick and previewCron: fire times as integer epoch seconds, strictly increasing."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice

MIN_INTERVAL_SAMPLE = 100
NO_REPEAT = sys.maxsize  # min_interval of a schedule that fires fewer than twice


class FireSchedule:
    """Subclasses give `_iter_fires` (fire times >= after, ascending, never repeated) and `describe`."""

    kind = "cron"
    cron: str  # the `cron` field as the user wrote it
    timezone: str

    def _iter_fires(self, after: int) -> Iterator[int]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def fires_between(self, start: int, end: int, limit: int | None = None) -> list[int]:
        """Fire times t with start <= t < end, ascending, at most `limit`."""
        if end <= start or (limit is not None and limit <= 0):
            return []
        fires: list[int] = []
        for t in self._iter_fires(start):
            if t >= end:
                break
            fires.append(t)
            if limit is not None and len(fires) >= limit:
                break
        return fires

    def next_fires(self, after: int, count: int) -> list[int]:
        """The next `count` fire times t >= after (fewer if the schedule ends)."""
        return list(islice(self._iter_fires(after), max(count, 0)))

    def next_fire(self, after: int) -> int | None:
        """First fire time >= after, or None if there is none (within the search horizon)."""
        return next(self._iter_fires(after), None)

    def first_fire(self, now: float, catch_up: int) -> int | None:
        """The first fire of a timer enabled at `now`: the next whole second on. A one-shot whose
        time passed less than `catch_up` seconds ago overrides this to fire at once."""
        del catch_up
        return self.next_fire(int(now) + (0 if now == int(now) else 1))

    def min_interval(self, sample_from: int) -> int:
        """Smallest gap in seconds between consecutive fires among the next ~100 from sample_from;
        NO_REPEAT (huge) if the schedule fires fewer than twice."""
        fires = self.next_fires(sample_from, MIN_INTERVAL_SAMPLE + 1)
        return min((b - a for a, b in zip(fires, fires[1:])), default=NO_REPEAT)

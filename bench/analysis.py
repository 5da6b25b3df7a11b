"""From the callbacks a receiver got to the precision figures: lateness, early, duplicate, missing.

Pure functions over plain data, so a test (or a later benchmark) can feed them anything. The
expected fires come from croniter directly, not from the service's own schedule code: the
benchmark checks the service against an independent reading of the cron.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from croniter import croniter


@dataclass(frozen=True)
class Timer:
    name: str
    id: int
    cron: str


@dataclass(frozen=True)
class Callback:
    """One request at the receiver, as the benchmark saw it."""

    timer_name: str          # from the path the timer was given
    timer_id: str | None     # X-Xtimer-Timer-Id
    fire_time: int | None    # X-Xtimer-Fire-Time, epoch seconds
    fire_header: str | None  # X-Xtimer-Fire-Time as sent
    key: str | None          # X-Xtimer-Idempotency-Key
    attempt: str | None      # X-Xtimer-Attempt
    arrived: float           # epoch seconds when the whole request was read
    exact: bool = True       # method and body are what the timer says

    @property
    def lateness_ms(self) -> float:
        assert self.fire_time is not None
        return (self.arrived - self.fire_time) * 1000


def parse_fire_time(text: str | None) -> int | None:
    """`2026-03-01T12:00:05Z` -> epoch seconds; None if absent or not that form."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(moment.timestamp())


def expected_fires(cron: str, start: int, end: int) -> list[int]:
    """Fire times t (epoch seconds, UTC) with start <= t < end; 6 fields are read seconds first."""
    seconds_first = len(cron.split()) >= 6
    it = croniter(cron, start - 1, second_at_beginning=seconds_first)
    fires = []
    while True:
        t = int(it.get_next(float))
        if t >= end:
            return fires
        if t >= start:
            fires.append(t)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list: the smallest value with q% at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(lateness_ms: Iterable[float]) -> dict[str, float | int | None]:
    values = sorted(lateness_ms)
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)
    return {
        "count": len(values),
        "min": r(values[0] if values else None),
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "p999": r(percentile(values, 99.9)),
        "max": r(values[-1] if values else None),
        "mean": r(sum(values) / len(values) if values else None),
    }


def analyse(timers: list[Timer], callbacks: list[Callback], start: int, end: int,
            bucket_seconds: int = 10) -> dict[str, object]:
    """Everything the precision report says, for fires in the window [start, end)."""
    by_name = {t.name: t for t in timers}
    expected: set[tuple[str, int]] = {
        (t.name, f) for t in timers for f in expected_fires(t.cron, start, end)
    }
    problems: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)

    def problem(kind: str, text: str) -> None:
        problems[kind] += 1
        if len(examples[kind]) < 5:
            examples[kind].append(text)

    valid: list[Callback] = []
    for c in callbacks:  # checks on every callback, inside the window or not
        timer = by_name.get(c.timer_name)
        if timer is None:
            problem("unknown_path", f"a callback for {c.timer_name!r}, which no timer of this run has")
            continue
        if c.fire_time is None:
            problem("bad_fire_time_header", f"{c.timer_name}: X-Xtimer-Fire-Time {c.fire_header!r}")
            continue
        if c.timer_id != str(timer.id):
            problem("wrong_timer_id", f"{c.timer_name}: X-Xtimer-Timer-Id {c.timer_id!r}, created as {timer.id}")
        if c.key != f"{timer.id}-{c.fire_time * 1000}":
            problem("wrong_idempotency_key", f"{c.timer_name} at {c.fire_header}: key {c.key!r}")
        if not c.exact:
            problem("not_exact_request", f"{c.timer_name} at {c.fire_header}: method or body differs")
        if c.arrived < c.fire_time:
            problem("early_anywhere", f"{c.timer_name} at {c.fire_header}: {c.lateness_ms:.1f} ms")
        valid.append(c)

    fire_counts = Counter((c.timer_name, c.fire_time) for c in valid)
    key_counts = Counter(c.key for c in valid)
    attempts: dict[tuple[str, int | None], list[str | None]] = defaultdict(list)
    for c in valid:
        attempts[(c.timer_name, c.fire_time)].append(c.attempt)
    for (name, fire), n in fire_counts.items():
        if n > 1:
            problem("duplicates_anywhere", f"{name} at {_iso(fire)} called {n} times, "  # type: ignore[arg-type]
                                           f"X-Xtimer-Attempt {attempts[(name, fire)]}")
            problems["duplicates_anywhere"] += n - 2
    in_window = [c for c in valid if start <= c.fire_time < end]  # type: ignore[operator]
    seen = {(c.timer_name, c.fire_time) for c in in_window}
    unexpected = sorted(seen - expected)
    missing = sorted(expected - seen)
    duplicates = sum(n - 1 for (name, fire), n in fire_counts.items() if n > 1 and start <= fire < end)
    duplicate_keys = sum(n - 1 for n in key_counts.values() if n > 1)
    early = [c for c in in_window if c.arrived < c.fire_time]  # type: ignore[operator]
    first_calls = {}
    for c in sorted(in_window, key=lambda c: c.arrived):  # lateness of the first call of each fire
        first_calls.setdefault((c.timer_name, c.fire_time), c)
    lateness = [c.lateness_ms for c in first_calls.values()]

    by_cron: dict[str, list[float]] = defaultdict(list)
    for c in first_calls.values():
        by_cron[by_name[c.timer_name].cron].append(c.lateness_ms)
    by_phase: dict[str, list[float]] = defaultdict(list)  # the tick runs at each minute boundary
    for c in first_calls.values():
        by_phase["second 0-4 of the minute" if c.fire_time % 60 < 5 else "seconds 5-59"].append(c.lateness_ms)
    buckets: dict[int, list[float]] = defaultdict(list)
    for c in first_calls.values():
        buckets[(c.fire_time - start) // bucket_seconds * bucket_seconds].append(c.lateness_ms)
    fires_per_second = Counter(f for _, f in expected)
    arrivals = [c for c in valid if start <= c.arrived < end]  # whatever their fire time: throughput
    worst = sorted(first_calls.values(), key=lambda c: c.lateness_ms, reverse=True)[:10]
    return {
        "window": {"start": _iso(start), "end": _iso(end), "seconds": end - start},
        "expected": len(expected),
        "received": len(in_window),
        "fires_received": len(first_calls),
        "lateness_ms": summary(lateness),
        "early": len(early),
        "duplicates": duplicates,
        "duplicate_idempotency_keys": duplicate_keys,
        "missing": len(missing),
        "unexpected": len(unexpected),
        "callbacks_all": len(callbacks),
        "arrivals_in_window": {"count": len(arrivals), "per_second": round(len(arrivals) / max(1, end - start), 1),
                               "lateness_ms": summary(c.lateness_ms for c in arrivals)},
        "problems": dict(problems),
        "problem_examples": dict(examples),
        "missing_examples": [f"{name} at {_iso(f)}" for name, f in missing[:10]],
        "unexpected_examples": [f"{name} at {_iso(f)}" for name, f in unexpected[:10]],
        "fires_per_second": {"mean": round(len(expected) / max(1, end - start), 1),
                             "max": max(fires_per_second.values(), default=0)},
        "by_cron": {cron: summary(v) for cron, v in sorted(by_cron.items())},
        "by_phase": {phase: summary(v) for phase, v in sorted(by_phase.items())},
        "timeline": [{"from_s": b, **summary(v)} for b, v in sorted(buckets.items())],
        "latest": [{"timer": c.timer_name, "fire_time": c.fire_header, "lateness_ms": round(c.lateness_ms, 1)}
                   for c in worst],
    }


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

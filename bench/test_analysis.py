"""The benchmark's own arithmetic (`.venv/bin/python -m pytest bench`; not part of `make test`)."""
from __future__ import annotations

import pytest

from bench.analysis import Callback, Timer, analyse, expected_fires, parse_fire_time, percentile

pytestmark = pytest.mark.unit  # bench/'s own arithmetic: fast, no AWS

T0 = parse_fire_time("2026-03-01T12:00:00Z")
assert T0 is not None


def call(name: str, timer_id: int, fire: int, arrived_after_ms: float, key: str | None = None) -> Callback:
    header = f"2026-03-01T12:{(fire - T0) // 60:02d}:{(fire - T0) % 60:02d}Z"
    return Callback(timer_name=name, timer_id=str(timer_id), fire_time=parse_fire_time(header), fire_header=header,
                    key=key or f"{timer_id}-{fire * 1000}", attempt="1", arrived=fire + arrived_after_ms / 1000)


def test_fire_time_header() -> None:
    assert parse_fire_time("2026-03-01T12:00:05Z") == T0 + 5
    assert parse_fire_time("2026-03-01 12:00:05") is None and parse_fire_time(None) is None


def test_expected_fires_read_six_fields_seconds_first() -> None:
    assert expected_fires("*/5 * * * * *", T0, T0 + 20) == [T0, T0 + 5, T0 + 10, T0 + 15]
    assert expected_fires("*/2 * * * * *", T0 + 1, T0 + 6) == [T0 + 2, T0 + 4]
    assert expected_fires("* * * * *", T0, T0 + 180) == [T0, T0 + 60, T0 + 120]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50, 99, 100)
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None


def test_early_duplicate_missing_and_unexpected() -> None:
    timers = [Timer("a", 1, "*/5 * * * * *"), Timer("b", 2, "*/5 * * * * *")]
    calls = [
        call("a", 1, T0, 10), call("a", 1, T0 + 5, 20), call("a", 1, T0 + 5, 900),  # a duplicate
        call("b", 2, T0, -3),                                                        # early
        call("b", 2, T0 + 7, 5),                                                     # off the schedule
        call("b", 2, T0 + 60, 5),                                                    # after the window
    ]
    r = analyse(timers, calls, T0, T0 + 10)
    assert (r["expected"], r["fires_received"]) == (4, 4)
    assert r["duplicates"] == 1 and r["duplicate_idempotency_keys"] == 1
    assert r["early"] == 1 and r["unexpected"] == 1
    assert r["missing"] == 1 and r["missing_examples"] == ["b at 2026-03-01T12:00:05Z"]
    # lateness counts the first arrival of each fire: 10, 20, -3, 5
    assert r["lateness_ms"]["max"] == 20.0 and r["lateness_ms"]["min"] == -3.0


def test_wrong_headers_are_reported() -> None:
    timers = [Timer("a", 1, "*/5 * * * * *")]
    r = analyse(timers, [call("a", 1, T0, 5, key="1-0"), call("zzz", 9, T0, 5)], T0, T0 + 5)
    assert r["problems"] == {"wrong_idempotency_key": 1, "unknown_path": 1}

"""The migrator's misfire policies (chalicelib.scheduling.migrator): what happens to fires that
were due while the scheduler was down. Pure computation: no AWS."""
from __future__ import annotations

import pytest

from chalicelib.scheduling.migrator import migrate
from chalicelib.timers.schedule import Schedule

NOW = 1772366400  # 2026-03-01T12:00:00Z; the cursor was left 10 minutes behind by an outage
EVERY_MINUTE = Schedule("0 * * * * *", "UTC")


def run(policy: str, catch_up: int = 300) -> tuple[list[int], list[int]]:
    m = migrate(timer_id=1, app="a", generation=1, schedule=EVERY_MINUTE, cursor=NOW - 600, window_end=NOW + 120,
                now=NOW + 5, catch_up=catch_up, misfire_policy=policy)
    return ([f.fire_ms // 1000 - NOW for f in m.due], [f.fire_ms // 1000 - NOW for f in m.missed])


def test_all_makes_each_missed_fire_within_the_catch_up_window() -> None:
    assert run("all") == ([-240, -180, -120, -60, 0, 60], [-600, -540, -480, -420, -360, -300])


def test_once_makes_only_the_latest_missed_fire() -> None:
    assert run("once") == ([0, 60], [-600, -540, -480, -420, -360, -300, -240, -180, -120, -60])


def test_once_makes_none_when_the_latest_is_older_than_the_catch_up_window() -> None:
    assert run("once", catch_up=3) == ([60], [-600, -540, -480, -420, -360, -300, -240, -180, -120, -60, 0])


def test_skip_records_every_missed_fire_and_makes_none() -> None:
    assert run("skip") == ([60], [-600, -540, -480, -420, -360, -300, -240, -180, -120, -60, 0])


@pytest.mark.parametrize("policy", ["all", "once", "skip"])
def test_without_an_outage_every_policy_makes_every_fire(policy: str) -> None:
    m = migrate(timer_id=1, app="a", generation=1, schedule=EVERY_MINUTE, cursor=NOW + 60, window_end=NOW + 180,
                now=NOW + 2, catch_up=300, misfire_policy=policy)
    assert ([f.fire_ms // 1000 - NOW for f in m.due], m.missed) == ([60, 120], [])

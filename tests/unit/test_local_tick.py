"""The local stack's tick loop (xtimer_local.stack.TickLoop) runs once a minute, never at second 0,
where schedules pile up."""
from __future__ import annotations

import inspect
from datetime import datetime, timezone

import pytest

from xtimer_local.stack import TickLoop, next_tick

MINUTE = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("now, expected", [
    (MINUTE, MINUTE + 30),            # at second 0: this minute's second 30
    (MINUTE + 10.5, MINUTE + 30),
    (MINUTE + 30, MINUTE + 90),       # just ran: the next minute's
    (MINUTE + 59.9, MINUTE + 90),
])
def test_the_next_tick_is_at_second_30_of_a_minute(now: float, expected: float) -> None:
    assert next_tick(now, 30.0) == expected


def test_the_loop_ticks_at_second_30_by_default() -> None:
    offset = inspect.signature(TickLoop).parameters["offset"].default
    assert next_tick(MINUTE - 0.01, offset) % 60 == 30

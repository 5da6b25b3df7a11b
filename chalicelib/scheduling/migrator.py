"""The migrator: turns an enabled timer's cron into the concrete fires of a window.

Each enabled timer keeps a cursor, `next_fire`: the first fire not yet handed to the queue.
Migrating a timer up to `window_end` yields the fires in [cursor, window_end), split by the
catch-up policy:

- a fire no more than `catch_up` seconds in the past is still made (late, once);
- an older fire is recorded as missed and not made (a scheduler outage must not unleash a
  burst of stale callbacks).

and the cursor that follows: the first fire at or after `window_end`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.fires.fire import Fire
from chalicelib.timers.schedule import Schedule

MAX_MISSED_RECORDED = 100
"""Missed fires recorded per timer per migration; more are counted in the log, not stored."""


@dataclass
class Migration:
    due: list[Fire] = field(default_factory=list)
    missed: list[Fire] = field(default_factory=list)
    missed_truncated: bool = False  # more than MAX_MISSED_RECORDED were missed
    next_fire: int | None = None


def migrate(
    *,
    timer_id: int,
    app: str,
    generation: int,
    schedule: Schedule,
    cursor: int,
    window_end: int,
    now: float,
    catch_up: int,
) -> Migration:
    result = Migration()
    oldest_allowed = int(now) - catch_up
    if cursor < oldest_allowed:
        missed = schedule.fires_between(cursor, oldest_allowed, limit=MAX_MISSED_RECORDED + 1)
        result.missed = [_fire(timer_id, app, generation, t) for t in missed[:MAX_MISSED_RECORDED]]
        result.missed_truncated = len(missed) > MAX_MISSED_RECORDED
        cursor = oldest_allowed
    result.due = [_fire(timer_id, app, generation, t) for t in schedule.fires_between(cursor, window_end)]
    result.next_fire = schedule.next_fire(window_end)
    return result


def _fire(timer_id: int, app: str, generation: int, fire_time: int) -> Fire:
    return Fire(timer_id=timer_id, app=app, fire_ms=fire_time * 1000, generation=generation)

"""The migrator: turns an enabled timer's cron into the concrete fires of a window.

Each enabled timer keeps a cursor, `next_fire`: the first fire not yet handed to the queue.
Migrating a timer up to `window_end` yields the fires in [cursor, window_end), split by the
timer's misfire policy (fires in the past were missed while the scheduler was down):

- ``all`` (the default): a fire no more than `catch_up` seconds in the past is still made (late,
  once); an older fire is recorded as missed and not made (a scheduler outage must not unleash a
  burst of stale callbacks);
- ``once``: of the fires in the past, only the latest is made, if it is within `catch_up`; the
  others are recorded as missed;
- ``skip``: every fire in the past is recorded as missed.

and the cursor that follows: the first fire at or after `window_end`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.fires.fire import Fire
from chalicelib.timers.fire_schedule import FireSchedule as Schedule

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
    misfire_policy: str = "all",
) -> Migration:
    result = Migration()
    oldest_allowed = int(now) - catch_up
    if misfire_policy != "all" and cursor < int(now):
        return _migrate_strict(timer_id, app, generation, schedule, cursor, window_end, now, oldest_allowed,
                               keep_latest=misfire_policy == "once")
    if cursor < oldest_allowed:
        missed = schedule.fires_between(cursor, oldest_allowed, limit=MAX_MISSED_RECORDED + 1)
        result.missed = [_fire(timer_id, app, generation, t) for t in missed[:MAX_MISSED_RECORDED]]
        result.missed_truncated = len(missed) > MAX_MISSED_RECORDED
        cursor = oldest_allowed
    result.due = [_fire(timer_id, app, generation, t) for t in schedule.fires_between(cursor, window_end)]
    result.next_fire = schedule.next_fire(window_end)
    return result


def _migrate_strict(timer_id: int, app: str, generation: int, schedule: Schedule, cursor: int, window_end: int,
                    now: float, oldest_allowed: int, *, keep_latest: bool) -> Migration:
    """`once` and `skip`: the fires before now are missed, but for `once`'s latest within catch-up."""
    result = Migration()
    past = schedule.fires_between(cursor, int(now))
    made = [past[-1]] if keep_latest and past and past[-1] >= oldest_allowed else []
    missed = past[:-1] if made else past
    result.missed = [_fire(timer_id, app, generation, t) for t in missed[-MAX_MISSED_RECORDED:]]
    result.missed_truncated = len(missed) > MAX_MISSED_RECORDED
    result.due = [_fire(timer_id, app, generation, t) for t in made + schedule.fires_between(int(now), window_end)]
    result.next_fire = schedule.next_fire(window_end)
    return result


def _fire(timer_id: int, app: str, generation: int, fire_time: int) -> Fire:
    return Fire(timer_id=timer_id, app=app, fire_ms=fire_time * 1000, generation=generation)

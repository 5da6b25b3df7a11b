"""A per-app limit on manual runs (triggerTimer): they bypass the schedule, so the fire-rate quota
of the enabled timers does not hold them; this counter does.

One item per app counts the runs of the current minute; a run is admitted by one conditional
write (add one while under the limit in this minute, or start the count of a new minute), so two
API processes cannot both take the last run of a minute.
"""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib import config
from chalicelib.clock import Clock, system_clock
from chalicelib.errors import QuotaExceeded
from chalicelib.storage import models
from chalicelib.storage.models import TimerNameModel


class ManualRunLimit:
    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock

    def charge(self, app: str) -> None:
        """Count one manual run of `app`, or raise QuotaExceeded (429) saying when to retry."""
        now = self._clock()
        minute = int(now // 60)
        limit = config.max_manual_runs_per_minute_per_app()
        item = TimerNameModel(TimerNameModel.key_for_manual_runs(app))
        for _ in range(2):  # a racer may start the new minute between our two writes
            if _try(item, [TimerNameModel.manual_runs.add(1)],
                    (TimerNameModel.manual_minute == minute) & (TimerNameModel.manual_runs < limit)):
                return
            if _try(item, [TimerNameModel.manual_minute.set(minute), TimerNameModel.manual_runs.set(1)],
                    TimerNameModel.manual_minute.does_not_exist() | (TimerNameModel.manual_minute < minute)):
                return
        wait = max(1, (minute + 1) * 60 - int(now))
        raise QuotaExceeded(
            f"app {app!r} has started {limit} manual runs this minute, the most allowed "
            f"(XTIMER_MAX_MANUAL_RUNS_PER_MINUTE_PER_APP): retry in {wait} s", retry_after=wait)


def _try(item: TimerNameModel, actions: list, condition: object) -> bool:
    try:
        item.update(actions=actions, condition=condition)
        return True
    except UpdateError as exc:
        if models.condition_failed(exc):
            return False
        raise

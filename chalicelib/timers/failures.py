"""A timer's run of fires failed for good (issue 16's pauseAfterFailures).

The count is written only when it changes: once per fire failed for good, and once on the first
success after failures (the worker reads the timer anyway, so it knows the count). A timer that
succeeds costs no write here; the hot path is untouched.
"""
from __future__ import annotations

import logging

from pynamodb.exceptions import UpdateError

from chalicelib.clock import Clock, system_clock
from chalicelib.errors import TimerNotFound
from chalicelib.storage import models
from chalicelib.storage.models import TimerModel
from chalicelib.timers.status import STATUS_ENABLED
from chalicelib.timers.store import TimerStore

log = logging.getLogger(__name__)


def count_failure(timer_id: int) -> int:
    """One more fire failed for good; the new count (0 if the timer is gone)."""
    timer = TimerModel(timer_id)
    try:
        timer.update(actions=[TimerModel.consecutive_failures.add(1)], condition=TimerModel.id.exists())
    except UpdateError as exc:
        if models.condition_failed(exc):
            return 0
        raise
    return int(timer.consecutive_failures or 0)


def reset(timer_id: int) -> None:
    """A fire succeeded: the run of failures is over. Best effort: the success is recorded
    already, and the next one tries again."""
    try:
        TimerModel(timer_id).update(actions=[TimerModel.consecutive_failures.remove()],
                                    condition=TimerModel.consecutive_failures > 0)
    except UpdateError as exc:
        if not models.condition_failed(exc):
            log.warning("timer %s: its run of failures could not be reset: %r", timer_id, exc)
    except Exception as exc:  # noqa: BLE001 - AWS trouble must not hold back the other outcomes
        log.warning("timer %s: its run of failures could not be reset: %r", timer_id, exc)


def pause_reason(failures: int, limit: int, last_error: str | None) -> str:
    last = f"; the last one: {last_error}" if last_error else ""
    return (f"paused by the service after {failures} consecutive failed fires (pauseAfterFailures: {limit}){last}; "
            "fix the receiver, then enable the timer again")


def pause_if_due(timer_id: int, app: str, failures: int, limit: int | None, last_error: str | None,
                 clock: Clock = system_clock) -> bool:
    """Disable an enabled timer whose run of failures reached its pauseAfterFailures; True if it
    is paused now (by this call)."""
    if not limit or failures < limit:
        return False
    store = TimerStore(clock=clock)
    try:
        timer = store.get(app, timer_id)
    except TimerNotFound:  # deleted meanwhile: nothing to pause
        return False
    if int(timer.status) != STATUS_ENABLED:
        return False
    paused = store.disable(app, timer_id, reason=pause_reason(failures, limit, last_error))
    log.warning("timer %s paused after %s consecutive failed fires", timer_id, failures)
    return paused.status_reason is not None


"""overlapPolicy (issue 15): what a fire does when the previous fire of its timer is not done yet.

- allow (the default, stored as no attribute): every fire is made; nothing is read for it.
- skip: a fire that comes while the previous fire is still running or waiting for a retry is
  recorded as SKIPPED (its own task status) and not called.
- buffer_one: such a fire is recorded as HELD and looked at again every RECHECK_SECONDS; once the
  previous fire is done (succeeded or failed for good) it is made. A fire that comes while another
  one is held is skipped: at most one waits.

"The previous fire" is the newest earlier task record of the timer that is neither skipped nor a
manual run. A running claim whose lease has ended (its worker died) and a held fire whose hold has
ended (its message was lost) do not count: they must not block the timer for good.

The judgement is made at the fire's second (chalicelib.delivery.unit waits for it first), costs
one Query of the timer's newest task records, and is made only for timers with a policy.
"""
from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import PutError, UpdateError

from chalicelib import config
from chalicelib.clock import rfc3339_ms
from chalicelib.fires.fire import Fire
from chalicelib.fires.tasks import HELD, NOT_RUN, RUNNING, SKIPPED
from chalicelib.storage import models
from chalicelib.storage.models import TaskModel, TimerModel

log = logging.getLogger(__name__)

POLICIES = ("skip", "buffer_one")  # the ones that make the worker look; allow needs nothing
RECHECK_SECONDS = 2
"""How often a held fire looks whether the previous one is done: it is made at most this late
after that (one small message and one Query per look)."""
HOLD_LEASE_MS = 60_000
"""A held record not looked at again for this long was abandoned (its message lost)."""
EXAMINED = 50
"""Task records read at most to find the previous fire past skipped ones and manual runs."""


class Verdict(enum.Enum):
    GO = "go"  # claim and call it (the claim still decides whether it is ours)
    SKIP = "skip"  # recorded as skipped; not called
    HOLD = "hold"  # recorded as held; look again in RECHECK_SECONDS


def policy_of(timer: TimerModel) -> str | None:
    """The timer's policy if the worker has to look before calling, else None (allow)."""
    policy = getattr(timer, "overlap_policy", None)
    return policy if policy in POLICIES else None


def judge(fire: Fire, policy: str, now_ms: int) -> Verdict:
    """Look at the timer's previous fire and record the verdict (skipped or held) on this fire's task."""
    own, previous = _own_and_previous(fire)
    if own is not None and int(own.status) != HELD:
        return Verdict.GO  # claimed before (this is a retry) or done: the claim knows what to do
    if previous is None or not _unfinished(previous, now_ms):
        if own is not None:
            _release(fire)
        return Verdict.GO
    waiting_for = f"the fire of {rfc3339_ms(previous.fire_ms)}"
    if int(previous.status) == HELD or policy == "skip":
        why = ("another fire is already held" if int(previous.status) == HELD
               else f"{waiting_for} was still {'running' if int(previous.status) == RUNNING else 'being retried'}")
        _record_skipped(fire, policy, now_ms, f"skipped: {why} (overlapPolicy {policy})")
        return Verdict.SKIP
    if _hold(fire, policy, now_ms, f"held: waiting for {waiting_for} to be done (overlapPolicy {policy})"):
        return Verdict.HOLD
    return Verdict.GO  # somebody claimed it meanwhile: the claim decides


def _own_and_previous(fire: Fire) -> tuple[TaskModel | None, TaskModel | None]:
    own = None
    query = TaskModel.query(fire.timer_id, TaskModel.fire_ms <= fire.fire_ms, scan_index_forward=False,
                            consistent_read=True, limit=EXAMINED, page_size=EXAMINED)
    for task in query:
        if int(task.fire_ms) == fire.fire_ms:
            own = task
        elif int(task.status) != SKIPPED and not task.manual:
            return own, task
    return own, None


def _unfinished(task: TaskModel, now_ms: int) -> bool:
    status = int(task.status)
    if status == NOT_RUN:
        return True  # waiting for a retry
    if status in (RUNNING, HELD):
        return int(task.lease_until or 0) >= now_ms
    return False


def _expires_at(fire_ms: int) -> datetime:
    return datetime.fromtimestamp(fire_ms // 1000, timezone.utc) + timedelta(days=config.task_retention_days())


def _record_skipped(fire: Fire, policy: str, now_ms: int, reason: str) -> None:
    """Skipped, unless the fire has a record already (a held one is replaced: it was never called)."""
    task = TaskModel(fire.timer_id, fire.fire_ms, app=fire.app, status=SKIPPED, attempts=0, error=reason,
                     finished_at=now_ms, overlap_policy=policy, expires_at=_expires_at(fire.fire_ms))
    try:
        task.save(condition=TaskModel.timer_id.does_not_exist() | (TaskModel.status == HELD))
    except PutError as exc:
        if not models.condition_failed(exc):
            raise


def _hold(fire: Fire, policy: str, now_ms: int, reason: str) -> bool:
    try:
        TaskModel(fire.timer_id, fire.fire_ms).update(
            actions=[TaskModel.app.set(fire.app), TaskModel.status.set(HELD), TaskModel.attempts.add(0),
                     TaskModel.error.set(reason), TaskModel.lease_until.set(now_ms + HOLD_LEASE_MS),
                     TaskModel.overlap_policy.set(policy),
                     TaskModel.expires_at.set(_expires_at(fire.fire_ms))],
            condition=TaskModel.timer_id.does_not_exist() | (TaskModel.status == HELD))
    except UpdateError as exc:
        if not models.condition_failed(exc):
            raise
        return False
    return True


def _release(fire: Fire) -> None:
    """A held fire whose previous one is done becomes claimable (not run, no attempt made yet)."""
    try:
        TaskModel(fire.timer_id, fire.fire_ms).update(
            actions=[TaskModel.status.set(NOT_RUN), TaskModel.error.remove(), TaskModel.lease_until.remove()],
            condition=TaskModel.status == HELD)
    except UpdateError as exc:
        if not models.condition_failed(exc):
            raise

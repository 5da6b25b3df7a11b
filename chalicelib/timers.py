"""Timers: create, read, enable and disable, with their invariants enforced in DynamoDB.

- (app, name) is unique: the timer and its name item are written in one transaction.
- An app sees only its own timers: a timer of another app is reported as not found.
- Enabling puts the timer on the due index (`next_fire`, `due_shard`) and hands it to the
  scheduler at once, so fires seconds away are not left to the next tick.
"""
from __future__ import annotations

import logging
import random
import threading
from typing import Protocol

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import models
from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.errors import DuplicateTimerName, TimerNotFound
from chalicelib.models import DUE_SHARDS, NotifyAttribute, TimerModel, TimerNameModel
from chalicelib.schedule import Schedule, parse_schedule
from chalicelib.validation import STATUS_DISABLED, STATUS_ENABLED, TimerSpec

log = logging.getLogger(__name__)

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_ID_RANDOM_BITS = 10


class Scheduler(Protocol):
    """What the timer store needs from the scheduling pipeline (see chalicelib.tick)."""

    def schedule_timer(self, timer: TimerModel) -> None: ...


def new_timer_id(now_ms: int, rng: random.Random | random.SystemRandom = random.SystemRandom()) -> int:
    """Ids grow with creation time (so "newest first" is "highest id first") and stay below 2^53.

    Milliseconds since 2020 shifted by 10 random bits: about 2^48 today, enough until the 2300s.
    A collision is caught by the conditional write and retried with a new id.
    """
    return ((now_ms - _EPOCH_MS) << _ID_RANDOM_BITS) | rng.getrandbits(_ID_RANDOM_BITS)


def schedule_of(timer: TimerModel) -> Schedule:
    return parse_schedule(timer.cron, timer.timezone)


class TimerStore:
    def __init__(self, clock: Clock = system_clock, scheduler: Scheduler | None = None) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._lock = threading.Lock()

    def create(self, spec: TimerSpec) -> TimerModel:
        """Store a new timer (enabled at once if the spec asks for status 2)."""
        models.bind()
        for _ in range(5):
            now_ms = to_ms(self._clock())
            timer = TimerModel(
                id=new_timer_id(now_ms),
                app=spec.app,
                name=spec.name,
                cron=spec.schedule.cron,
                timezone=spec.schedule.timezone,
                notify=NotifyAttribute(**spec.notify.to_dict()),
                status=STATUS_DISABLED,
                created_at=now_ms,
                updated_at=now_ms,
                version=1,
                generation=0,
            )
            name_item = TimerNameModel(key=TimerNameModel.key_for(spec.app, spec.name), timer_id=timer.id)
            try:
                with TransactWrite(connection=TimerModel._get_connection().connection) as tx:
                    tx.save(name_item, condition=TimerNameModel.key.does_not_exist())
                    tx.save(timer, condition=TimerModel.id.does_not_exist())
            except TransactWriteError as exc:
                reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise DuplicateTimerName(spec.app, spec.name) from None
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    continue  # id collision: draw another
                raise
            if spec.status == STATUS_ENABLED:
                return self.enable(spec.app, timer.id)
            return timer
        raise RuntimeError("could not draw a free timer id in 5 tries")

    def get(self, app: str, timer_id: int, *, consistent: bool = True) -> TimerModel:
        models.bind()
        try:
            timer = TimerModel.get(timer_id, consistent_read=consistent)
        except DoesNotExist:
            raise TimerNotFound(timer_id, app) from None
        if timer.app != app:
            raise TimerNotFound(timer_id, app)
        return timer

    def enable(self, app: str, timer_id: int) -> TimerModel:
        """Enable a timer; enabling an enabled timer changes nothing."""
        timer = self.get(app, timer_id)
        if timer.status == STATUS_ENABLED:
            return timer
        now = self._clock()
        first = schedule_of(timer).next_fire(int(now) + (0 if now == int(now) else 1))
        actions = [
            TimerModel.status.set(STATUS_ENABLED),
            TimerModel.generation.add(1),
            TimerModel.version.add(1),
            TimerModel.updated_at.set(to_ms(now)),
        ]
        if first is not None:
            actions += [TimerModel.next_fire.set(first), TimerModel.due_shard.set(timer.id % DUE_SHARDS)]
        try:
            timer.update(actions=actions, condition=TimerModel.status == STATUS_DISABLED)
        except UpdateError as exc:
            if _condition_failed(exc):
                return self.get(app, timer_id)  # enabled meanwhile by someone else: same outcome
            raise
        if self._scheduler is not None and first is not None:
            try:
                self._scheduler.schedule_timer(timer)
            except Exception:  # the next tick enqueues it (late fires are caught up), so enabling stands
                log.exception("timer %s enabled, but its first fires could not be enqueued now", timer.id)
        return timer

    def disable(self, app: str, timer_id: int) -> TimerModel:
        """Disable a timer: it leaves the due index, and queued fires of the old generation are dropped."""
        timer = self.get(app, timer_id)
        if timer.status == STATUS_DISABLED:
            return timer
        now_ms = to_ms(self._clock())
        try:
            timer.update(
                actions=[
                    TimerModel.status.set(STATUS_DISABLED),
                    TimerModel.generation.add(1),
                    TimerModel.version.add(1),
                    TimerModel.updated_at.set(now_ms),
                    TimerModel.next_fire.remove(),
                    TimerModel.due_shard.remove(),
                ],
                condition=TimerModel.status == STATUS_ENABLED,
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return self.get(app, timer_id)
            raise
        return timer


def _condition_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"

"""Timers: create, read, list, change, enable, disable, delete and run now, with their
invariants enforced in DynamoDB.

- (app, name) is unique: the timer and its name item are written in one transaction (and the
  app's timer count with them).
- An app sees only its own timers: a timer of another app is reported as not found.
- Enabling puts the timer on the due index (`next_fire`, `due_shard`) and hands it to the
  scheduler at once, so fires seconds away are not left to the next tick.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import uuid
from dataclasses import dataclass
from typing import ContextManager, Protocol

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib import config
from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.errors import (DuplicateTimerName, ErrorCode, InvalidField, QuotaExceeded,
                               ServiceUnavailable, TimerNotFound, VersionConflict, XtimerError)
from chalicelib.fires.fire import Fire
from chalicelib.fires.queue import QueueSendError
from chalicelib.storage import paging
from chalicelib.storage.transaction import NamedTransaction, transaction
from chalicelib.storage.models import DUE_SHARDS, NotifyAttribute, TimerModel, TimerNameModel
from chalicelib.timers.delivery_options import DeliveryOptions, delivery_of
from chalicelib.timers.fire_schedule import NO_REPEAT, FireSchedule
from chalicelib.timers.options import (OptionError, TimerOptions, build_schedule, check_options, options_of,
                                       schedule_of)
from chalicelib.timers.spec import Changes, TimerSpec, schedule_from
from chalicelib.timers.status import STATUS_COMPLETED, STATUS_DISABLED, STATUS_ENABLED

log = logging.getLogger(__name__)

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_ID_RANDOM_BITS = 10


class Scheduler(Protocol):
    """What the timer store needs from the scheduling pipeline (see chalicelib.scheduling.tick)."""

    def schedule_timer(self, timer: TimerModel) -> None: ...


class FireSender(Protocol):
    def send(self, fires: list[Fire]) -> int: ...


class RunLimit(Protocol):
    """Admits a manual run of an app, or raises QuotaExceeded (see chalicelib.apps.manual_runs)."""

    def charge(self, app: str) -> None: ...


@dataclass(frozen=True)
class TimerPage:
    timers: list[TimerModel]
    next_id: int | None  # where the next page starts (exclusive), None on the last page


def new_timer_id(now_ms: int, rng: random.Random | random.SystemRandom = random.SystemRandom()) -> int:
    """Ids grow with creation time (so "newest first" is "highest id first") and stay below 2^53.

    Milliseconds since 2020 shifted by 10 random bits: about 2^48 today, enough until the 2300s.
    A collision is caught by the conditional write and retried with a new id.
    """
    return ((now_ms - _EPOCH_MS) << _ID_RANDOM_BITS) | rng.getrandbits(_ID_RANDOM_BITS)


__all__ = ["TimerStore", "TimerPage", "schedule_of", "fire_rate", "new_timer_id"]

_OPTION_ATTRIBUTES = {"startAt": "start_at", "endAt": "end_at", "maxFires": "max_fires",
                      "jitterSeconds": "jitter_seconds", "deleteAfterCompletion": "delete_after_completion",
                      "misfirePolicy": "misfire_policy", "catchUpSeconds": "catch_up_seconds",
                      "overlapPolicy": "overlap_policy"}


def _checked(schedule: FireSchedule, options: TimerOptions, now: float) -> None:
    try:
        check_options(schedule, options, int(now))
    except OptionError as exc:
        raise InvalidField(exc.field, str(exc)) from None


class TimerStore:
    def __init__(self, clock: Clock = system_clock, scheduler: Scheduler | None = None,
                 queue: FireSender | None = None, run_limit: RunLimit | None = None) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._queue = queue
        self._run_limit = run_limit

    def create(self, spec: TimerSpec) -> TimerModel:
        """Store a new timer (enabled at once if the spec asks for status 2)."""
        _checked(spec.schedule, spec.options, self._clock())
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
                **{k: v for k, v in spec.options.to_attributes().items() if v is not None},
                **_delivery_attributes(spec.delivery),
            )
            name_item = TimerNameModel(key=TimerNameModel.key_for(spec.app, spec.name), timer_id=timer.id)
            try:
                with _transaction() as tx:
                    tx.save("name", name_item, condition=TimerNameModel.key.does_not_exist())
                    tx.save("timer", timer, condition=TimerModel.id.does_not_exist())
                    tx.update("count", TimerNameModel(TimerNameModel.key_for_app(spec.app)),
                              actions=[TimerNameModel.timers.add(1)],
                              condition=TimerNameModel.timers.does_not_exist()
                              | (TimerNameModel.timers < config.max_timers_per_app()))
            except TransactWriteError as exc:
                failed = tx.failed(exc)
                if "name" in failed:
                    raise DuplicateTimerName(spec.app, spec.name) from None
                if "timer" in failed:
                    continue  # id collision: draw another
                if "count" in failed:
                    raise QuotaExceeded(
                        f"app {spec.app!r} has {config.max_timers_per_app()} timers, the most allowed "
                        "(XTIMER_MAX_TIMERS_PER_APP); delete some or ask the operator for more") from None
                raise
            if spec.status == STATUS_ENABLED:
                try:
                    return self.enable(spec.app, timer.id)
                except QuotaExceeded:
                    self.delete(spec.app, timer.id)  # refused as a whole: nothing was created
                    raise
            return timer
        raise RuntimeError("could not draw a free timer id in 5 tries")

    def get(self, app: str, timer_id: int, *, consistent: bool = True) -> TimerModel:
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
        if timer.status == STATUS_COMPLETED:
            raise XtimerError(ErrorCode.INVALID_REQUEST,
                              f"timer {timer_id} is completed: it has no fires left and is never fired again; "
                              "create a new timer (its history stays readable here)")
        now = self._clock()
        anchor = _next_second(now)
        schedule = build_schedule(timer.cron, timer.timezone, options_of(timer), anchor=anchor, seed=int(timer.id))
        first = schedule.first_fire(now, config.catch_up_seconds())
        if first is None:
            raise InvalidField("cron", f"{timer.cron!r} has no fire left after now (with its startAt, endAt and "
                                       "maxFires); change the schedule with updateTimer, or delete the timer",
                               ErrorCode.INVALID_CRON)
        rate = fire_rate(schedule, now)
        actions = [
            TimerModel.anchor.set(anchor),
            TimerModel.status.set(STATUS_ENABLED),
            TimerModel.generation.add(1),
            TimerModel.version.add(1),
            TimerModel.updated_at.set(to_ms(now)),
            TimerModel.fire_rate.set(rate),
            TimerModel.status_reason.remove(),  # enabled again: a pause after failures is over
            TimerModel.paused_at.remove(),
            TimerModel.consecutive_failures.remove(),
        ]
        actions += [TimerModel.next_fire.set(first), TimerModel.due_shard.set(timer.id % DUE_SHARDS)]
        try:
            with _transaction() as tx:
                tx.update("timer", timer, actions=actions, condition=TimerModel.status == STATUS_DISABLED)
                _charge_fire_rate(tx, app, rate)
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if "timer" in failed:
                return self.get(app, timer_id)  # enabled meanwhile by someone else: same outcome
            if "rate" in failed:
                raise _rate_quota_error(app, rate) from None
            raise
        timer = self.get(app, timer_id)
        self._schedule_now(timer)
        return timer

    def _schedule_now(self, timer: TimerModel) -> None:
        if self._scheduler is None or timer.next_fire is None:
            return
        try:
            self._scheduler.schedule_timer(timer)
        except Exception:  # the next tick enqueues it (late fires are caught up), so the change stands
            log.exception("timer %s changed, but its next fires could not be enqueued now", timer.id)

    def disable(self, app: str, timer_id: int, *, reason: str | None = None) -> TimerModel:
        """Disable a timer: it leaves the due index, and queued fires of the old generation are dropped.
        `reason` is the service's, when it pauses a failing timer (chalicelib.timers.failures)."""
        timer = self.get(app, timer_id)
        if timer.status == STATUS_DISABLED:
            return timer
        now_ms = to_ms(self._clock())
        why = ([TimerModel.status_reason.set(reason), TimerModel.paused_at.set(now_ms)] if reason
               else [TimerModel.status_reason.remove(), TimerModel.paused_at.remove()])
        try:
            with _transaction() as tx:
                tx.update("timer", timer, actions=[
                    TimerModel.status.set(STATUS_DISABLED),
                    TimerModel.generation.add(1),
                    TimerModel.version.add(1),
                    TimerModel.updated_at.set(now_ms),
                    TimerModel.next_fire.remove(),
                    TimerModel.due_shard.remove(),
                    TimerModel.fire_rate.remove(),
                    *why,
                ], condition=TimerModel.status == STATUS_ENABLED)
                _charge_fire_rate(tx, app, -int(timer.fire_rate or 0))
        except TransactWriteError as exc:
            if "timer" in tx.failed(exc):
                return self.get(app, timer_id)  # disabled meanwhile: same outcome
            raise
        return self.get(app, timer_id)


    def count(self, app: str) -> int:
        try:
            return int(TimerNameModel.get(TimerNameModel.key_for_app(app)).timers or 0)
        except DoesNotExist:
            return 0

    def list(self, app: str, *, page_size: int, after_id: int | None = None,
             name_contains: str | None = None) -> TimerPage:
        """One page of the app's timers, newest first; a name filter examines at most
        paging.MAX_EXAMINED timers per call (chalicelib.storage.paging)."""
        start = None if after_id is None else {"app": {"S": app}, "id": {"N": str(after_id)}}
        query = TimerModel.by_app.query(app, scan_index_forward=False, page_size=paging.read_page_size(page_size),
                                        last_evaluated_key=start)
        timers, last = paging.filtered_page(
            query, lambda t: not name_contains or name_contains in t.name, page_size)
        return TimerPage(timers, None if last is None else int(last.id))

    def owner(self, timer_id: int) -> str | None:
        """The app of timer `timer_id`, None if there is no such timer (any more)."""
        try:
            return str(TimerModel.get(timer_id, consistent_read=True).app)
        except DoesNotExist:
            return None

    def update(self, app: str, timer_id: int, changes: Changes, expected_version: int | None) -> TimerModel:
        """Apply `changes`; refused with VersionConflict if the timer is not at `expected_version`."""
        timer = self.get(app, timer_id)
        if expected_version is not None and timer.version != expected_version:
            raise VersionConflict(timer_id, expected_version, int(timer.version))
        now = self._clock()
        actions = [TimerModel.version.add(1), TimerModel.updated_at.set(to_ms(now))]
        new_cron, new_tz = changes.cron or timer.cron, changes.timezone or timer.timezone
        old_options = options_of(timer)
        new_options = _with_changes(old_options, changes.options)
        schedule_changed = ((new_cron, new_tz, new_options.of_schedule)
                            != (timer.cron, timer.timezone, old_options.of_schedule))
        if not schedule_changed and new_options.overlap_policy != old_options.overlap_policy:
            # the worker reads it at each fire: no new generation, the queued fires stay
            policy = new_options.to_attributes()["overlap_policy"]
            actions.append(TimerModel.overlap_policy.remove() if policy is None
                           else TimerModel.overlap_policy.set(policy))
        rate_change = 0
        if schedule_changed:
            if timer.status == STATUS_COMPLETED:
                raise XtimerError(ErrorCode.INVALID_REQUEST,
                                  f"timer {timer_id} is completed and is never fired again; create a new timer")
            new_schedule = schedule_from(new_cron, new_tz)
            _checked(new_schedule, new_options, now)
            actions += [TimerModel.cron.set(new_schedule.cron),  # type: ignore[attr-defined]
                        TimerModel.timezone.set(new_schedule.timezone),  # type: ignore[attr-defined]
                        TimerModel.generation.add(1)]
            for name, value in new_options.to_attributes().items():
                attribute = getattr(TimerModel, name)
                actions.append(attribute.remove() if value is None else attribute.set(value))
            if timer.status == STATUS_ENABLED:
                anchor = _next_second(now)
                built = build_schedule(new_cron, new_tz, new_options, anchor=anchor, seed=int(timer.id))
                first = built.first_fire(now, config.catch_up_seconds())
                actions.append(TimerModel.anchor.set(anchor))
                actions += ([TimerModel.next_fire.set(first), TimerModel.due_shard.set(timer.id % DUE_SHARDS)]
                            if first is not None else [TimerModel.next_fire.remove(), TimerModel.due_shard.remove()])
                new_rate = fire_rate(built, now)
                rate_change = new_rate - int(timer.fire_rate or 0)
                actions.append(TimerModel.fire_rate.set(new_rate))
        if changes.notify is not None:
            actions.append(TimerModel.notify.set(NotifyAttribute(**changes.notify.to_dict())))
        if changes.delivery:
            new_delivery = dataclasses.replace(delivery_of(timer), **changes.delivery)  # type: ignore[arg-type]
            stored = _delivery_attributes(new_delivery)
            for name in DeliveryOptions().to_attributes():
                attribute = getattr(TimerModel, name)
                actions.append(attribute.set(stored[name]) if name in stored else attribute.remove())
        new_name = changes.name if changes.name is not None and changes.name != timer.name else None
        if new_name is not None:
            actions.append(TimerModel.name.set(new_name))
        try:
            with _transaction() as tx:
                tx.update("timer", timer, actions=actions, condition=TimerModel.version == timer.version)
                if rate_change:
                    _charge_fire_rate(tx, app, rate_change)
                if new_name is not None:
                    tx.delete("old name", TimerNameModel(TimerNameModel.key_for(app, timer.name)),
                              condition=TimerNameModel.timer_id == timer.id)
                    tx.save("new name", TimerNameModel(key=TimerNameModel.key_for(app, new_name),
                                                       timer_id=timer.id),
                            condition=TimerNameModel.key.does_not_exist())
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if "timer" in failed or "old name" in failed:
                raise self._conflict(app, timer_id, int(timer.version)) from None
            if "rate" in failed:
                raise _rate_quota_error(app, rate_change) from None
            if "new name" in failed:
                raise DuplicateTimerName(app, new_name or "") from None
            raise
        timer = self.get(app, timer_id)
        if schedule_changed:
            self._schedule_now(timer)
        return timer

    def _conflict(self, app: str, timer_id: int, read_version: int) -> VersionConflict:
        return VersionConflict(timer_id, read_version, int(self.get(app, timer_id).version))

    def delete(self, app: str, timer_id: int) -> None:
        """Delete the timer, its name and its place in the count; queued fires find no timer and are dropped."""
        for _ in range(3):
            timer = self.get(app, timer_id)
            try:
                with _transaction() as tx:
                    tx.delete("timer", timer, condition=(TimerModel.app == app) & (TimerModel.version == timer.version))
                    tx.delete("name", TimerNameModel(TimerNameModel.key_for(app, timer.name)),
                              condition=TimerNameModel.timer_id == timer.id)
                    tx.update("count", TimerNameModel(TimerNameModel.key_for_app(app)),
                              actions=[TimerNameModel.timers.add(-1),
                                       TimerNameModel.fire_rate.add(-int(timer.fire_rate or 0))])
                return
            except TransactWriteError as exc:
                if not tx.failed(exc):
                    raise
                # renamed or deleted meanwhile: read it again
        raise TimerNotFound(timer_id, app)

    def trigger(self, app: str, timer_id: int) -> Fire:
        """Run the timer once now, outside its schedule (also when disabled), within the app's
        limit on manual runs."""
        timer = self.get(app, timer_id)
        if self._queue is None:
            raise RuntimeError("this timer store was built without a queue")
        if self._run_limit is not None:
            self._run_limit.charge(app)
        fire_ms = to_ms(self._clock())
        if fire_ms % 1000 == 0:
            fire_ms += 1  # whole seconds are the scheduled fires' keys
        fire = Fire(timer_id=int(timer.id), app=app, fire_ms=fire_ms, generation=int(timer.generation),
                    manual=True)
        try:
            self._queue.send([fire])
        except QueueSendError as exc:  # nothing was acknowledged: the caller may simply retry
            incident = uuid.uuid4().hex[:12]
            log.warning("manual run of timer %s not enqueued, incident %s: %s", timer_id, incident, exc)
            raise ServiceUnavailable(incident) from exc
        return fire


def _delivery_attributes(delivery: DeliveryOptions) -> dict[str, object]:
    """The delivery options as timer attributes, only those set (the callback as a stored map)."""
    stored: dict[str, object] = {k: v for k, v in delivery.to_attributes().items() if v is not None}
    if delivery.failure_callback is not None:
        stored["failure_callback"] = NotifyAttribute(**delivery.failure_callback)
    return stored


def _with_changes(options: TimerOptions, changes: dict[str, object]) -> TimerOptions:
    """`options` with the given API fields replaced (a null clears one)."""
    values = {attr: getattr(options, attr) for attr in _OPTION_ATTRIBUTES.values()}
    for api_name, value in changes.items():
        attr = _OPTION_ATTRIBUTES[api_name]
        values[attr] = value if value is not None else TimerOptions().__getattribute__(attr)
    return TimerOptions(**values)  # type: ignore[arg-type]


def fire_rate(schedule: FireSchedule, now: float) -> int:
    """Fires per hour an enabled timer counts against its app's quota: the rate of its busiest
    stretch (from the shortest gap between its next fires), at least 1."""
    gap = schedule.min_interval(int(now))
    return max(1, min(3600, -(-3600 // max(gap, 1)))) if gap < NO_REPEAT else 1


def _charge_fire_rate(tx: NamedTransaction, app: str, change: int) -> None:
    """Add `change` to the app's fire rate in `tx` (as item "rate"), refusing an increase beyond the quota."""
    item = TimerNameModel(TimerNameModel.key_for_app(app))
    if change <= 0:
        tx.update("rate", item, actions=[TimerNameModel.fire_rate.add(change)])
        return
    limit = config.max_fires_per_minute_per_app() * 60
    if change > limit:
        raise _rate_quota_error(app, change)
    tx.update("rate", item, actions=[TimerNameModel.fire_rate.add(change)],
              condition=TimerNameModel.fire_rate.does_not_exist() | (TimerNameModel.fire_rate <= limit - change))


def _rate_quota_error(app: str, change: int) -> QuotaExceeded:
    per_minute = config.max_fires_per_minute_per_app()
    return QuotaExceeded(
        f"app {app!r} would fire more than {per_minute} times a minute with this timer (it adds up to "
        f"{-(-change // 60)} a minute at its busiest; XTIMER_MAX_FIRES_PER_MINUTE_PER_APP): disable "
        "another timer, choose a slower schedule, or ask the operator for a larger quota")


def _transaction() -> ContextManager[NamedTransaction]:
    return transaction(TimerModel._get_connection().connection)


def _next_second(now: float) -> int:
    """The first whole second at or after `now`."""
    return int(now) + (0 if now == int(now) else 1)

"""A timer's optional schedule settings (startAt, endAt, maxFires, jitterSeconds,
deleteAfterCompletion, the policies), checked, and the one function that builds a timer's schedule from them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chalicelib.timers.bounds import MAX_FIRES, MAX_JITTER_SECONDS, Bounded
from chalicelib.timers.cron_fields import CronError
from chalicelib.timers.fire_schedule import NO_REPEAT, FireSchedule
from chalicelib.timers.kinds import OneShot, parse_at, parse_rate
from chalicelib.timers.schedule import Schedule


MISFIRE_POLICIES = ("all", "once", "skip")  # chalicelib.scheduling.migrator applies them
OVERLAP_POLICIES = ("allow", "skip", "buffer_one")  # chalicelib.delivery.overlap applies them
MAX_CATCH_UP_SECONDS = 86400  # the most a timer may ask for; the service's XTIMER_CATCH_UP_SECONDS caps it too


class OptionError(ValueError):
    """An option that cannot be used; `field` names it (the API's name), str(err) says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TimerOptions:
    start_at: int | None = None  # epoch s: no fire before
    end_at: int | None = None  # epoch s: no fire at or after
    max_fires: int | None = None  # the timer completes after this many scheduled fires
    jitter_seconds: int = 0
    delete_after_completion: bool = False
    misfire_policy: str | None = None  # all (None: the default), once or skip (chalicelib.scheduling.migrator)
    catch_up_seconds: int | None = None  # how late a missed fire may still be made; at most the service's
    overlap_policy: str | None = None  # allow (None: the default), skip or buffer_one (chalicelib.delivery.overlap)

    @property
    def any(self) -> bool:
        """Whether any option touches the schedule (overlapPolicy is the worker's: it does not)."""
        return self.of_schedule != TimerOptions()

    @property
    def of_schedule(self) -> TimerOptions:
        """These options without the ones that leave the fire times alone (overlapPolicy)."""
        return replace(self, overlap_policy=None)

    def to_attributes(self) -> dict[str, Any]:
        """As stored on the timer item (None removes an attribute)."""
        return {"start_at": self.start_at, "end_at": self.end_at, "max_fires": self.max_fires,
                "jitter_seconds": self.jitter_seconds or None,
                "delete_after_completion": 1 if self.delete_after_completion else None,
                "misfire_policy": self.misfire_policy, "catch_up_seconds": self.catch_up_seconds,
                "overlap_policy": None if self.overlap_policy == "allow" else self.overlap_policy}


def options_of(timer: Any) -> TimerOptions:
    """A stored timer's options (attributes absent on timers made before they existed)."""
    def number(name: str) -> int | None:
        value = getattr(timer, name, None)
        return None if value is None else int(value)

    return TimerOptions(start_at=number("start_at"), end_at=number("end_at"), max_fires=number("max_fires"),
                        jitter_seconds=number("jitter_seconds") or 0,
                        delete_after_completion=bool(number("delete_after_completion")),
                        misfire_policy=getattr(timer, "misfire_policy", None), catch_up_seconds=number("catch_up_seconds"),
                        overlap_policy=getattr(timer, "overlap_policy", None))


def build_schedule(cron: str, timezone: str, options: TimerOptions, *, anchor: int, seed: int) -> FireSchedule:
    """The schedule of a timer whose fields were validated when stored: `anchor` starts a rate and
    the count of maxFires (startAt if given, else when the timer was enabled); `seed` (the timer
    id) picks its jitter."""
    text = cron.strip()
    lowered = text.lower()
    origin = anchor if options.start_at is None else options.start_at
    inner: FireSchedule
    try:
        if lowered.startswith("at"):
            inner = parse_at(text, timezone)
        elif lowered.startswith("rate"):
            inner = parse_rate(text, timezone, origin)
        else:
            inner = Schedule(text, timezone)
    except CronError:
        inner = Schedule(text, timezone)  # a stored value that no longer parses fires nothing
    if not options.any:
        return inner
    return Bounded(inner, start_at=options.start_at, end_at=options.end_at, max_fires=options.max_fires,
                   origin=origin, jitter=options.jitter_seconds, seed=seed)


def schedule_of(timer: Any) -> FireSchedule:
    """A stored timer's schedule: validated when stored, so not again (it may have ended since)."""
    anchor = getattr(timer, "anchor", None)
    return build_schedule(timer.cron, timer.timezone, options_of(timer),
                          anchor=int(anchor) if anchor is not None else int(timer.created_at) // 1000,
                          seed=int(timer.id))


def check_options(schedule: FireSchedule, options: TimerOptions, now: int) -> None:
    """Refuse options that contradict each other or the schedule, naming the field at fault."""
    if options.start_at is not None and options.end_at is not None and options.start_at >= options.end_at:
        raise OptionError("startAt", "must be before endAt; give a startAt earlier than the endAt, or drop one")
    if options.end_at is not None and options.end_at <= now:
        raise OptionError("endAt", "is in the past: the timer could never fire; give a later endAt")
    if options.max_fires is not None and not 1 <= options.max_fires <= MAX_FIRES:
        raise OptionError("maxFires", f"must be an integer from 1 to {MAX_FIRES}, got {options.max_fires}")
    jitter = options.jitter_seconds
    if not 0 <= jitter <= MAX_JITTER_SECONDS:
        raise OptionError("jitterSeconds", f"must be an integer from 0 to {MAX_JITTER_SECONDS}, got {jitter}")
    if jitter and not isinstance(schedule, OneShot):
        gap = schedule.min_interval(now if options.start_at is None else max(now, options.start_at))
        if gap < NO_REPEAT and jitter >= gap:
            raise OptionError("jitterSeconds", f"is {jitter} s, not less than the schedule's period ({gap} s): "
                                               f"fires would overtake each other; give at most {gap - 1}")
    if isinstance(schedule, OneShot):
        if options.end_at is not None and schedule.at >= options.end_at:
            raise OptionError("endAt", "is not after the at(...) time, so the timer could never fire; give a later endAt")
        return
    if Bounded(schedule, start_at=options.start_at, end_at=options.end_at).next_fire(now) is None:
        raise OptionError("endAt", "leaves no fire of the schedule between startAt (or now) and endAt; "
                                   "give a later endAt")

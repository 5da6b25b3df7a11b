"""Cron schedules: strict parsing of untrusted cron strings and fire-time computation.

Accepted syntax (the product contract):

- 5 fields ``minute hour day-of-month month day-of-week`` (Unix cron).
- 6 fields, ALWAYS read seconds first: ``second minute hour day-of-month month day-of-week``.
  There is no guessing: ``0 12 * * * *`` is second 0 of minute 12 of every hour. The AWS
  EventBridge form ``minute hour day-of-month month day-of-week year`` is not supported;
  EventBridge requires ``?`` in its 3rd or 5th field, which the seconds-first reading puts in
  the hour or month field, so such expressions (e.g. ``0 12 * * ? *``) are rejected, not misread.
- 7 fields: ``second minute hour day-of-month month day-of-week year`` (year 1970-2099).
- In each field: ``*``, numbers, ranges ``a-b``, lists ``a,b``, steps ``*/n``, ``a/n``, ``a-b/n``;
  names JAN-DEC and SUN-SAT; day-of-week 0-7 (0 and 7 are Sunday; Quartz's 1 = Sunday is NOT
  used); ``?`` (= ``*``) alone in day-of-month or day-of-week. A range may wrap (``FRI-MON``,
  ``50-10``), and a step carries on through the wrap as in Quartz (``23-3/2`` = 23, 1, 3). Years
  do not wrap (``2030-2027`` is refused). If both day fields are restricted a day matching either
  fires (Unix semantics).
- Quartz's day rules: ``L``, ``L-3``, ``LW``, ``L-3W``, ``15W`` in day-of-month; ``5L``/``FRIL`` and
  ``FRI#2`` in day-of-week (chalicelib.timers.cron_fields).
- Macros @yearly @annually @monthly @weekly @daily @midnight @hourly (any case).
- Rejected: everything else (``H``, ``R``, ``L`` alone in day-of-week), equal-bound ranges like
  ``5-5``, and schedules whose first fire is not within ``SEARCH_YEARS`` years of now (Feb 30, a
  past year). Later fires are found however far apart they are (``2027-2099/30``).

Time zones and DST: the cron is read as wall-clock time in ``timezone``; fire times are epoch
seconds, strictly increasing, never duplicated. On a spring-forward day a wall-clock time in
the gap (02:30 in New York) fires once, at the first instant after the gap (03:00 local), unless
the hour field is ``*``: then the non-existent times are just skipped (the schedule keeps its
real-time rhythm). On a fall-back day a repeated wall-clock time (01:30 in New York) fires
once, at its first occurrence, unless the hour field is ``*``, in which case both passes fire
(so ``*/5 * * * * *`` keeps firing every 5 s through the repeated hour).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options

from chalicelib.timers.cron_fields import FIELDS, MAX_CRON_LENGTH, CronError, CronFields, check_text, parse_fields
from chalicelib.timers.fire_schedule import MIN_INTERVAL_SAMPLE, NO_REPEAT, FireSchedule

__all__ = ["MAX_CRON_LENGTH", "MIN_INTERVAL_SAMPLE", "NO_REPEAT", "SEARCH_YEARS", "CronError", "FireSchedule",
           "Schedule", "parse_schedule"]

SEARCH_YEARS = 10  # a schedule whose first fire is not within this many years "never fires"
_TZ_EXAMPLES = "e.g. UTC, Europe/Berlin, America/New_York"
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_COUNTS_HELP = ("accepted: 5 fields 'minute hour day-of-month month day-of-week' (e.g. '*/5 * * * *' = "
                "every 5 minutes), 6 fields with seconds first 'second minute hour day-of-month month "
                "day-of-week' (e.g. '*/5 * * * * *' = every 5 seconds), 7 fields with seconds first and "
                "year last (e.g. '0 30 9 * * ? *' = 09:30:00 daily), a macro such as @daily, "
                "at(2026-12-24T18:00:00) (once) or rate(5 minutes)")


_clock: Callable[[], float] = time.time


def use_clock(clock: Callable[[], float]) -> None:
    """Read "now" from `clock` when checking new schedules (the composition root passes the service's)."""
    global _clock
    _clock = clock


def _now() -> int:
    """The current epoch second (a seam for tests)."""
    return int(_clock())


@dataclass(frozen=True)
class Schedule(FireSchedule):
    """A cron read in a time zone. Build it with parse_schedule() from untrusted input; building it
    directly skips validation, which suits values parse_schedule() accepted before (stored timers,
    whose schedule may have ended since: their next_fire() is then None)."""

    cron: str  # as the user wrote it (stripped)
    timezone: str  # IANA name, e.g. "UTC", "Europe/Berlin"

    @cached_property
    def _expr(self) -> str:
        """The expression as fields: macros expanded, spaces normalised."""
        return _MACROS.get(self.cron.lower(), " ".join(self.cron.split()))

    @cached_property
    def _fields(self) -> CronFields:
        return parse_fields(self.cron, self._expr)

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def has_seconds(self) -> bool:
        """True for 6/7-field expressions (second-level schedules)."""
        return len(self._expr.split()) > 5

    def _iter_fires(self, after: int) -> Iterator[int]:
        """Fire times >= after, ascending, with the DST rule of the module docstring applied."""
        last = after - 1
        try:
            start = datetime.fromtimestamp(after, self._zone).date() - timedelta(days=1)
            for day in self._days_from(start):
                for t in self._day_fires(day, after):
                    if t > last:
                        last = t
                        yield t
        except (OverflowError, ValueError, OSError):
            return  # beyond what datetime can represent

    def _days_from(self, start: date) -> Iterator[date]:
        """The days that fire, from `start` on: any year up to SEARCH_YEARS ahead, or the year
        field's years however far."""
        fields = self._fields
        years = (range(start.year, start.year + SEARCH_YEARS + 1) if fields.years is None
                 else [y for y in fields.years if y >= start.year])
        for year in years:
            for month in sorted(fields.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in fields.days(year, month):
                    if (year, month, day) >= (start.year, start.month, start.day):
                        yield date(year, month, day)

    def _day_fires(self, day: date, after: int) -> Iterator[int]:
        """One day's fire times >= after, ascending (hour by hour; whole hours before `after` skipped)."""
        fields, zone = self._fields, self._zone
        for hour in fields.hours:
            first = datetime(day.year, day.month, day.day, hour, 0, 0)
            last = first.replace(minute=59, second=59)
            a0, a1 = first.replace(tzinfo=zone).timestamp(), first.replace(tzinfo=zone, fold=1).timestamp()
            b0, b1 = last.replace(tzinfo=zone).timestamp(), last.replace(tzinfo=zone, fold=1).timestamp()
            if b0 < after and b1 < after:
                continue
            if a0 == a1 and b0 == b1 and b0 - a0 == 3599:  # no clock change in this hour
                for minute in fields.minutes:
                    base = int(a0) + 60 * minute
                    if base + 59 < after:
                        continue
                    for second in fields.seconds:
                        if base + second >= after:
                            yield base + second
            else:
                yield from (t for t in self._changing_hour(first) if t >= after)

    def _changing_hour(self, first: datetime) -> list[int]:
        """The fire times of an hour in which the clocks change: a repeated time fires once (both
        passes if the hour field is *); a skipped time fires at the gap's end (never if it is *)."""
        zone, fields = self._zone, self._fields
        wildcard = fields.hour_is_wildcard
        instants: set[int] = set()
        for minute in fields.minutes:
            for second in fields.seconds:
                wall = first.replace(minute=minute, second=second)
                t0 = int(wall.replace(tzinfo=zone).timestamp())
                t1 = int(wall.replace(tzinfo=zone, fold=1).timestamp())
                if t0 == t1:
                    instants.add(t0)
                elif t0 < t1:  # repeated wall-clock time
                    instants.update((t0, t1) if wildcard else (t0,))
                elif not wildcard:  # in the gap: t1 is before the change, t0 after it
                    instants.add(self._change_instant(t1, t0))
        return sorted(instants)

    def _change_instant(self, before: int, after: int) -> int:
        """The first second whose UTC offset is the one at `after` (the end of a spring-forward gap)."""
        zone = self._zone
        target = datetime.fromtimestamp(after, zone).utcoffset()
        while before < after:
            middle = (before + after) // 2
            if datetime.fromtimestamp(middle, zone).utcoffset() == target:
                after = middle
            else:
                before = middle + 1
        return after

    def describe(self) -> str:
        """Human-readable English description via cron-descriptor (e.g. 'Every 5 seconds'), of the
        values that fire (a wrapping step is given as its list); never raises (falls back to the raw cron)."""
        try:
            options = Options()
            options.locale_code, options.use_24hour_time_format = "en_US", True
            return ExpressionDescriptor(self._fields.describable, options).get_description() or self.cron
        except Exception:  # noqa: BLE001 - a description is cosmetic; never fail a request on it
            return self.cron


def parse_schedule(cron: object, timezone: object = "UTC", *, anchor: int | None = None,
                   catch_up: int | None = None) -> FireSchedule:
    """Validate strictly and return the schedule the `cron` field describes (a cron expression, an
    at(...) or a rate(...)), or raise CronError. `anchor` starts a rate (default: now); `catch_up`
    is how late a one-shot may still fire at once (default: the service's catch-up window)."""
    from chalicelib.timers import kinds  # the other kinds build on this module

    text = check_text(cron)
    zone = _check_timezone(timezone)
    if kinds.is_kind(text):
        return kinds.parse_kind(text, zone, now=_now(), anchor=anchor, catch_up=catch_up)
    schedule = Schedule(_check_cron(text), zone)
    schedule._fields  # noqa: B018  (parses every field, or raises CronError naming one)
    first = schedule.next_fire(_now())
    if first is None or first - _now() > SEARCH_YEARS * 366 * 86400:
        raise CronError(f"cron {schedule.cron!r} never fires within the next {SEARCH_YEARS} years "
                        "(a year in the past or too far ahead, or a day that never falls in its month)")
    return schedule


def _check_cron(cron: str) -> str:
    """The cron if its shape is acceptable (the fields are parsed by chalicelib.timers.cron_fields)."""
    if not cron:
        raise CronError("cron is empty; " + _COUNTS_HELP)
    if cron.startswith("@"):
        if cron.lower() in _MACROS:
            return cron
        raise CronError(f"cron macro {cron!r} is not supported; accepted: {', '.join(_MACROS)}")
    parts = cron.split()
    if len(parts) not in FIELDS:
        raise CronError(f"cron {cron!r} has {len(parts)} field(s); {_COUNTS_HELP}")
    return cron


def check_timezone(timezone: object) -> str:
    """The stripped IANA name if zoneinfo knows it."""
    return _check_timezone(timezone)


def _check_timezone(timezone: object) -> str:
    if not isinstance(timezone, str) or not timezone.strip():
        got = repr(timezone) if isinstance(timezone, str) else type(timezone).__name__
        raise CronError(f"timezone must be an IANA time zone name ({_TZ_EXAMPLES}), got {got}")
    name = timezone.strip()
    try:
        if name.lower() == "localtime":  # the server's own zone: meaning would vary by host
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"timezone {name[:64]!r} is not a known IANA time zone name; "
                        f"use e.g. {_TZ_EXAMPLES.removeprefix('e.g. ')}") from None
    return name

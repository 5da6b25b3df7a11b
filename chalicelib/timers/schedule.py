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
  names JAN-DEC and SUN-SAT; day-of-week 0-7 (0 and 7 are Sunday); ``?`` (= ``*``) alone in
  day-of-month or day-of-week. A range may wrap (``FRI-MON``, ``50-10``). If both day fields
  are restricted a day matching either fires (Unix semantics).
- Macros @yearly @annually @monthly @weekly @daily @midnight @hourly (any case).
- Rejected: everything else, including Quartz/Jenkins extensions (``L``, ``W``, ``#``, ``H``,
  ``R``; ``R`` would make croniter pick a random value on every parse), equal-bound ranges like
  ``5-5`` (croniter reads them as the WHOLE cycle, i.e. every minute), and schedules with no
  fire within ``SEARCH_YEARS`` years of now (Feb 30, a past year).

Time zones and DST: the cron is read as wall-clock time in ``timezone``; fire times are epoch
seconds, strictly increasing, never duplicated. On a spring-forward day a wall-clock time in
the gap (02:30 in New York) fires once, at the first instant after the gap (03:00 local), unless
the hour field is ``*``: then the non-existent times are just skipped (the schedule keeps its
real-time rhythm). On a fall-back day a repeated wall-clock time (01:30 in New York) fires
once, at its first occurrence, unless the hour field is ``*``, in which case both passes fire
(so ``*/5 * * * * *`` keeps firing every 5 s through the repeated hour).
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

MAX_CRON_LENGTH = 256
SEARCH_YEARS = 10  # a schedule with no fire within this many years "never fires"
MIN_INTERVAL_SAMPLE = 100
NO_REPEAT = sys.maxsize  # min_interval of a schedule that fires fewer than twice
_UNSUPPORTED = " (L, W, #, H and R are not supported)"
_TZ_EXAMPLES = "e.g. UTC, Europe/Berlin, America/New_York"
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_FIELDS = {
    5: ("minute", "hour", "day-of-month", "month", "day-of-week"),
    6: ("second", "minute", "hour", "day-of-month", "month", "day-of-week"),
    7: ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year"),
}
_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31),
           "month": (1, 12), "day-of-week": (0, 7), "year": (1970, 2099)}
_NAMES = {
    "month": {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    "day-of-week": {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
}
_NAME_RANGES = {"month": ", names JAN-DEC", "day-of-week": " (0 and 7 are Sunday), names SUN-SAT"}
_ITEM = re.compile(r"(?:\*|(?P<lo>[0-9]+|[a-z]+)(?:-(?P<hi>[0-9]+|[a-z]+))?)(?:/(?P<step>[0-9]+))?")
_COUNTS_HELP = ("accepted: 5 fields 'minute hour day-of-month month day-of-week' (e.g. '*/5 * * * *' = "
                "every 5 minutes), 6 fields with seconds first 'second minute hour day-of-month month "
                "day-of-week' (e.g. '*/5 * * * * *' = every 5 seconds), 7 fields with seconds first and "
                "year last (e.g. '0 30 9 * * ? *' = 09:30:00 daily), or a macro such as @daily")


class CronError(ValueError):
    """A cron expression or timezone that cannot be used; str(err) is a message a user can act on
    (names what is wrong and what is accepted)."""


def _now() -> int:
    """The current epoch second (a seam for tests)."""
    return int(time.time())


@dataclass(frozen=True)
class Schedule:
    """A cron read in a time zone. Build it with parse_schedule() from untrusted input; building it
    directly skips validation, which suits values parse_schedule() accepted before (stored timers,
    whose schedule may have ended since: their next_fire() is then None)."""

    cron: str  # as the user wrote it (stripped)
    timezone: str  # IANA name, e.g. "UTC", "Europe/Berlin"

    @cached_property
    def _expr(self) -> str:
        """The expression croniter and cron-descriptor read: macros expanded, spaces normalised."""
        return _MACROS.get(self.cron.lower(), " ".join(self.cron.split()))

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _hour_is_wildcard(self) -> bool:
        """Whether the hour field is `*`: such schedules follow real time through DST changes."""
        return croniter.expand(self._expr, second_at_beginning=True)[0][1] == ["*"]

    @property
    def has_seconds(self) -> bool:
        """True for 6/7-field expressions (second-level schedules)."""
        return len(self._expr.split()) > 5

    def _iter_fires(self, after: int) -> Iterator[int]:
        """Fire times >= after, ascending, with the DST rule of the module docstring applied."""
        zone = self._zone
        last = after - 1
        try:
            start = datetime.fromtimestamp(last, zone)  # aware, so croniter reads the cron in `zone`
        except (OverflowError, ValueError, OSError):
            return  # `after` is beyond what datetime can represent
        # One croniter per call (building one re-parses the expression), stepped fire by fire.
        it = croniter(self._expr, start, second_at_beginning=True, max_years_between_matches=SEARCH_YEARS)
        while True:
            try:
                t = int(it.get_next(float))
            except (CroniterBadDateError, OverflowError, ValueError):
                return  # nothing within SEARCH_YEARS, or beyond what datetime can represent
            if t <= last:
                continue  # defensive: never yield a time twice or out of order
            if not self._hour_is_wildcard and datetime.fromtimestamp(t, zone).fold:
                continue  # repeat of a wall-clock time that already fired before a fall-back
            last = t
            yield t

    def fires_between(self, start: int, end: int, limit: int | None = None) -> list[int]:
        """Fire times as integer epoch seconds t with start <= t < end, ascending, at most `limit`."""
        if end <= start or (limit is not None and limit <= 0):
            return []
        fires: list[int] = []
        for t in self._iter_fires(start):
            if t >= end:
                break
            fires.append(t)
            if limit is not None and len(fires) >= limit:
                break
        return fires

    def next_fires(self, after: int, count: int) -> list[int]:
        """The next `count` fire times t >= after (fewer if the schedule ends, e.g. a past year)."""
        return list(islice(self._iter_fires(after), max(count, 0)))

    def next_fire(self, after: int) -> int | None:
        """First fire time >= after, or None if there is none within SEARCH_YEARS years."""
        return next(self._iter_fires(after), None)

    def min_interval(self, sample_from: int) -> int:
        """Smallest gap in seconds between consecutive fires among the next ~100 from sample_from;
        NO_REPEAT (huge) if the schedule fires fewer than twice."""
        fires = self.next_fires(sample_from, MIN_INTERVAL_SAMPLE + 1)
        return min((b - a for a, b in zip(fires, fires[1:])), default=NO_REPEAT)

    def describe(self) -> str:
        """Human-readable English description via cron-descriptor (e.g. 'Every 5 seconds'); never
        raises (falls back to the raw cron)."""
        expr = self._expr
        if len(expr.split()) == 6:
            expr += " *"  # 7 fields: cron-descriptor guesses at 6-field layouts, never at 7
        try:
            options = Options(locale_code="en_US", use_24hour_time_format=True)
            return ExpressionDescriptor(expr, options).get_description() or self.cron
        except Exception:  # noqa: BLE001 - a description is cosmetic; never fail a request on it
            return self.cron


def parse_schedule(cron: object, timezone: object = "UTC") -> Schedule:
    """Validate strictly and return a Schedule, or raise CronError."""
    schedule = Schedule(_check_cron(cron), _check_timezone(timezone))
    try:
        croniter.expand(schedule._expr, second_at_beginning=True, strict=True)
    except (ValueError, KeyError, TypeError, OverflowError) as exc:  # CroniterError is a ValueError
        reason = re.sub(r"^\[[^\]]*\]\s*(is not acceptable[.,]?\s*)?", "", str(exc).splitlines()[-1])
        raise CronError(f"cron {schedule.cron!r} is not a usable schedule: {reason}") from None
    if schedule.next_fire(_now()) is None:
        raise CronError(f"cron {schedule.cron!r} never fires within the next {SEARCH_YEARS} years "
                        "(a year in the past or too far ahead, or a day that never falls in its month)")
    return schedule


def _check_cron(cron: object) -> str:
    """The stripped cron if its syntax is acceptable field by field (croniter checks the rest)."""
    if not isinstance(cron, str):
        raise CronError(f"cron must be a string such as '*/5 * * * *', not {type(cron).__name__}")
    cron = cron.strip()
    if not cron:
        raise CronError("cron is empty; " + _COUNTS_HELP)
    if len(cron) > MAX_CRON_LENGTH:
        raise CronError(f"cron is {len(cron)} characters long; at most {MAX_CRON_LENGTH} are accepted")
    if bad := sorted({c for c in cron if not (c.isascii() and (c.isprintable() or c == "\t"))}):
        raise CronError(f"cron {cron!r} contains unsupported character(s) {''.join(bad)!r}")
    if cron.startswith("@"):
        if cron.lower() in _MACROS:
            return cron
        raise CronError(f"cron macro {cron!r} is not supported; accepted: {', '.join(_MACROS)}")
    parts = cron.split()
    if len(parts) not in _FIELDS:
        raise CronError(f"cron {cron!r} has {len(parts)} field(s); {_COUNTS_HELP}")
    for name, value in zip(_FIELDS[len(parts)], parts):
        _check_field(cron, len(parts), name, value)
    return cron


def _check_timezone(timezone: object) -> str:
    """The stripped IANA name if zoneinfo knows it."""
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


def _check_field(cron: str, count: int, name: str, value: str) -> None:
    """Check one field against the accepted grammar, bounds and names, so the message can name the
    field (croniter's messages don't) and croniter extensions (L, W, #, H, R) stay out."""
    lo_bound, hi_bound = _BOUNDS[name]

    def fail(reason: str) -> CronError:
        return CronError(f"cron {cron!r}: {name} field {value!r} {reason}")

    if value == "?":
        if name in ("day-of-month", "day-of-week"):
            return
        hint = (" (6 fields are read seconds first: second minute hour day-of-month month day-of-week;"
                " the AWS EventBridge layout with a trailing year is not supported)") if count == 6 else ""
        raise fail(f"is invalid: '?' is only allowed in day-of-month or day-of-week{hint}")
    names = _NAMES.get(name, {})
    accepted = (f"accepted: *, {lo_bound}-{hi_bound}{_NAME_RANGES.get(name, '')}, lists (1,2), "
                "ranges (1-5) and steps (*/5)")
    for item in value.lower().split(","):
        match = _ITEM.fullmatch(item)
        if not match:
            raise fail(f"is invalid at {item!r}; {accepted}{_UNSUPPORTED}")
        values: list[int] = []
        for token in (match["lo"], match["hi"]):
            if token is None:
                continue
            number = names.get(token) if token.isalpha() else int(token)
            if number is None:
                raise fail(f"has unknown value {token.upper()!r}; {accepted}{_UNSUPPORTED}")
            if not lo_bound <= number <= hi_bound:
                raise fail(f"has value {token!r} out of range; {accepted}")
            values.append(number)
        if match["step"] is not None and int(match["step"]) < 1:
            raise fail(f"step {match['step']!r} is invalid; a step must be 1 or more")
        if len(values) == 2 and values[0] == values[1]:
            raise fail(f"has range {item!r} that starts and ends at the same value; "
                       f"write {match['lo']!r} for that single value or * for every value")

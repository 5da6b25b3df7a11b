"""A cron expression's fields, parsed into the sets of values they allow (and the day rules
Quartz adds: L, W, #), with messages that name the field and what it accepts.

The values are expanded here rather than by croniter because croniter reads a wrapping range
with a step differently from Quartz, Spring and Cronos: it restarts the step at the wrap
(``23-3/2`` in hours gives 23, 0, 2), where they carry it on (23, 1, 3). Expanding ourselves
lets one set of rules decide both what fires and what previewCron describes.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

MAX_CRON_LENGTH = 256

FIELDS = {
    5: ("minute", "hour", "day-of-month", "month", "day-of-week"),
    6: ("second", "minute", "hour", "day-of-month", "month", "day-of-week"),
    7: ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year"),
}
BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31),
          "month": (1, 12), "day-of-week": (0, 7), "year": (1970, 2099)}
NAMES = {
    "month": {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    "day-of-week": {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
}
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAME_RANGES = {"month": ", names JAN-DEC", "day-of-week": " (0 and 7 are Sunday), names SUN-SAT"}
_EXTRAS = {"day-of-month": ", L (last day), L-3 (3 days before it), LW (last weekday), 15W (weekday nearest "
                           "the 15th)",
           "day-of-week": ", 5L or FRIL (last Friday of the month), FRI#2 (second Friday)"}
_UNSUPPORTED = " (H and R are not supported)"
_ITEM = re.compile(r"(?:\*|(?P<lo>[0-9]+|[a-z]+)(?:-(?P<hi>[0-9]+|[a-z]+))?)(?:/(?P<step>[0-9]+))?")
_DOM_SPECIAL = re.compile(r"l(?:-(?P<offset>[0-9]+))?(?P<w>w)?|(?P<day>[0-9]+)w")
_DOW_SPECIAL = re.compile(r"(?P<day>[0-9]+|[a-z]+)(?:l|#(?P<nth>[0-9]+))")


class CronError(ValueError):
    """A cron expression or timezone that cannot be used; str(err) is a message a user can act on
    (names what is wrong and what is accepted)."""


@dataclass(frozen=True)
class DaysOfMonth:
    """The day-of-month field: plain days, and Quartz's L-n (`last_offsets`, 0 = the last day),
    L-nW (`last_weekday_offsets`) and nW (`nearest_weekdays`)."""

    days: frozenset[int]
    last_offsets: frozenset[int] = frozenset()
    last_weekday_offsets: frozenset[int] = frozenset()
    nearest_weekdays: frozenset[int] = frozenset()

    @property
    def special(self) -> bool:
        return bool(self.last_offsets or self.last_weekday_offsets or self.nearest_weekdays)

    @property
    def restricted(self) -> bool:
        return self.special or self.days != frozenset(range(1, 32))

    def matching(self, year: int, month: int) -> set[int]:
        """The days of that month the field allows."""
        length = calendar.monthrange(year, month)[1]
        days = {d for d in self.days if d <= length}
        days |= {length - n for n in self.last_offsets if length - n >= 1}
        days |= {_nearest_weekday(year, month, length - n, length) for n in self.last_weekday_offsets
                 if length - n >= 1}
        days |= {_nearest_weekday(year, month, d, length) for d in self.nearest_weekdays if d <= length}
        return days


@dataclass(frozen=True)
class DaysOfWeek:
    """The day-of-week field, 0 = Sunday: plain weekdays, `last` (5L: the month's last Friday) and
    `nth` ((5, 2): its second Friday)."""

    days: frozenset[int]
    last: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    @property
    def special(self) -> bool:
        return bool(self.last or self.nth)

    @property
    def restricted(self) -> bool:
        return self.special or self.days != frozenset(range(7))

    def matching(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        first = (date(year, month, 1).weekday() + 1) % 7  # weekday of the 1st, 0 = Sunday
        days = {d for d in range(1, length + 1) if (first + d - 1) % 7 in self.days}
        for weekday in self.last:
            last = length - ((first + length - 1 - weekday) % 7)
            days.add(last)
        for weekday, n in self.nth:
            day = 1 + (weekday - first) % 7 + 7 * (n - 1)
            if day <= length:
                days.add(day)
        return days


@dataclass(frozen=True)
class CronFields:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: DaysOfMonth
    months: frozenset[int]
    days_of_week: DaysOfWeek
    years: tuple[int, ...] | None  # None: every year
    describable: str  # the expression as cron-descriptor should read it (7 fields)

    @property
    def hour_is_wildcard(self) -> bool:
        """Whether every hour fires: such schedules follow real time through DST changes."""
        return len(self.hours) == 24

    def days(self, year: int, month: int) -> list[int]:
        """The days of a month that fire, ascending. Both day fields restricted: a day matching
        either fires (Unix cron); one restricted: that one decides."""
        if month not in self.months:
            return []
        dom, dow = self.days_of_month, self.days_of_week
        if dom.restricted and dow.restricted:
            return sorted(dom.matching(year, month) | dow.matching(year, month))
        if dow.restricted:
            return sorted(dow.matching(year, month))
        return sorted(dom.matching(year, month))


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """Quartz's W: the weekday nearest `day` within its month (a Saturday 1st moves to Monday the 3rd)."""
    weekday = date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:  # Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday
        return day + 1 if day < length else day - 2
    return day


def check_text(cron: object) -> str:
    """The stripped cron if it is a string of acceptable length and characters."""
    if not isinstance(cron, str):
        raise CronError(f"cron must be a string such as '*/5 * * * *', not {type(cron).__name__}")
    cron = cron.strip()
    if len(cron) > MAX_CRON_LENGTH:
        raise CronError(f"cron is {len(cron)} characters long; at most {MAX_CRON_LENGTH} are accepted")
    if bad := sorted({c for c in cron if not (c.isascii() and (c.isprintable() or c == "\t"))}):
        raise CronError(f"cron {cron!r} contains unsupported character(s) {''.join(bad)!r}")
    return cron


def parse_fields(cron: str, expr: str) -> CronFields:
    """Parse `expr` (5, 6 or 7 fields, macros already expanded); `cron` is what the user wrote,
    for messages."""
    parts = expr.split()
    names = FIELDS[len(parts)]
    parsed = {name: _Field(cron, len(parts), name, value) for name, value in zip(names, parts)}
    for field in parsed.values():  # in field order, so that the first bad field is the one reported
        field.check()

    def values(name: str, default: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
        return tuple(sorted(parsed[name].values())) if name in parsed else default

    years = values("year")
    fields = CronFields(
        seconds=values("second", (0,)) or (0,),
        minutes=values("minute") or (),
        hours=values("hour") or (),
        days_of_month=parsed["day-of-month"].days_of_month(),
        months=frozenset(values("month") or ()),
        days_of_week=parsed["day-of-week"].days_of_week(),
        years=None if years is None or set(years) == set(range(1970, 2100)) else years,
        describable=" ".join(parsed[name].describable() if name in parsed else default
                             for name, default in zip(FIELDS[7], ("0", "", "", "", "", "", "*"))),
    )
    _check_days_can_occur(cron, fields)
    return fields


def _check_days_can_occur(cron: str, fields: CronFields) -> None:
    """Refuse plain days no chosen month has (Feb 30), naming them as croniter used to."""
    dom, dow = fields.days_of_month, fields.days_of_week
    if dom.special or dow.restricted or not dom.days:
        return
    years = fields.years or (2000,)  # a leap year: every month at its longest
    if any(fields.days(year, month) for year in years for month in fields.months):
        return
    where = f" in {', '.join(map(str, years))}" if fields.years else ""
    raise CronError(f"cron {cron!r} is not a usable schedule: day-of-month {sorted(dom.days)} can never occur "
                    f"in month(s) {sorted(fields.months)}{where}")


class _Field:
    """One field of an expression, checked against the grammar, its bounds and its names."""

    def __init__(self, cron: str, count: int, name: str, value: str) -> None:
        self.cron, self.count, self.name, self.value = cron, count, name, value
        self.lo, self.hi = BOUNDS[name]
        if name == "day-of-week":
            self.hi = 6  # 7 is accepted as a name for Sunday, but the cycle is 0-6
        self.items = value.lower().split(",")
        self.wraps_with_step = False

    def check(self) -> None:
        """Raise CronError if the field is not acceptable."""
        if self.name == "day-of-month":
            self.days_of_month()
        elif self.name == "day-of-week":
            self.days_of_week()
        else:
            self.values()

    def fail(self, reason: str) -> CronError:
        return CronError(f"cron {self.cron!r}: {self.name} field {self.value!r} {reason}")

    @property
    def accepted(self) -> str:
        lo, hi = BOUNDS[self.name]
        return (f"accepted: *, {lo}-{hi}{_NAME_RANGES.get(self.name, '')}, lists (1,2), ranges (1-5) and "
                f"steps (*/5){_EXTRAS.get(self.name, '')}")

    def _number(self, token: str) -> int:
        names = NAMES.get(self.name, {})
        number = names.get(token) if token.isalpha() else int(token)
        if number is None:
            raise self.fail(f"has unknown value {token.upper()!r}; {self.accepted}{_UNSUPPORTED}")
        lo, hi = BOUNDS[self.name]
        if not lo <= number <= hi:
            raise self.fail(f"has value {token!r} out of range; {self.accepted}")
        return number

    def _question_mark(self) -> bool:
        if self.value != "?":
            return False
        if self.name in ("day-of-month", "day-of-week"):
            return True
        hint = (" (6 fields are read seconds first: second minute hour day-of-month month day-of-week;"
                " the AWS EventBridge layout with a trailing year is not supported)") if self.count == 6 else ""
        raise self.fail(f"is invalid: '?' is only allowed in day-of-month or day-of-week{hint}")

    def values(self, items: list[str] | None = None) -> set[int]:
        """The values the plain items allow, with wrapping ranges carried on through the cycle."""
        if self._question_mark():
            return set(range(self.lo, self.hi + 1))
        out: set[int] = set()
        for item in self.items if items is None else items:
            out |= self._item_values(item)
        return out

    def _item_values(self, item: str) -> set[int]:
        match = _ITEM.fullmatch(item)
        if not match:
            raise self.fail(f"is invalid at {item!r}; {self.accepted}{_UNSUPPORTED}")
        step = 1 if match["step"] is None else int(match["step"])
        if step < 1:
            raise self.fail(f"step {match['step']!r} is invalid; a step must be 1 or more")
        if match["lo"] is None:  # * or */n
            return set(range(self.lo, self.hi + 1, step))
        lo = self._number(match["lo"])
        if self.name == "day-of-week" and lo == 7:
            lo = 0  # 7 ends a range (MON-7 runs through Sunday) but starts as Sunday = 0
        if match["hi"] is None:
            hi = self.hi if match["step"] is not None else lo
        else:
            hi = self._number(match["hi"])
            if lo == hi:
                raise self.fail(f"has range {item!r} that starts and ends at the same value; "
                                f"write {match['lo']!r} for that single value or * for every value")
        cycle = self.hi - self.lo + 1
        if lo > hi:
            if self.name == "year":
                raise self.fail(f"has range {item!r} that runs backwards; years do not wrap around, "
                                f"write {match['hi']}-{match['lo']}")
            hi += cycle
            self.wraps_with_step = self.wraps_with_step or step > 1
        return {self.lo + (v - self.lo) % cycle for v in range(lo, hi + 1, step)}

    def describable(self) -> str:
        """The field as cron-descriptor should read it: a wrapping range with a step as the list
        of values it gives (cron-descriptor would restart the step, as croniter does)."""
        if self.wraps_with_step:
            ordered = self._in_cycle_order()
            if self.name == "day-of-week":
                return ",".join(DAY_NAMES[v] for v in ordered)
            return ",".join(map(str, ordered))
        return self.value

    def _in_cycle_order(self) -> list[int]:
        """The values in the order a reader meets them: from the first item's start through the cycle."""
        values = self.values()
        first = _ITEM.fullmatch(self.items[0])
        start = self.lo if first is None or first["lo"] is None else self._number(first["lo"]) % (self.hi + 1)
        return sorted(values, key=lambda v: (v - start) % (self.hi - self.lo + 1))

    def days_of_month(self) -> DaysOfMonth:
        if self._question_mark():
            return DaysOfMonth(frozenset(range(1, 32)))
        plain: list[str] = []
        last: set[int] = set()
        last_weekday: set[int] = set()
        nearest: set[int] = set()
        for item in self.items:
            match = _DOM_SPECIAL.fullmatch(item)
            if match is None:
                plain.append(item)
            elif match["day"] is not None:
                day = int(match["day"])
                if not 1 <= day <= 31:
                    raise self.fail(f"has {item.upper()!r}: W needs a day from 1 to 31 before it (15W)")
                nearest.add(day)
            else:
                offset = int(match["offset"] or 0)
                if offset > 30:
                    raise self.fail(f"has {item.upper()!r}: L-n takes n from 0 to 30")
                (last_weekday if match["w"] else last).add(offset)
        return DaysOfMonth(frozenset(self.values(plain)), frozenset(last), frozenset(last_weekday),
                           frozenset(nearest))

    def days_of_week(self) -> DaysOfWeek:
        if self._question_mark():
            return DaysOfWeek(frozenset(range(7)))
        plain: list[str] = []
        last: set[int] = set()
        nth: set[tuple[int, int]] = set()
        for item in self.items:
            if item == "l":
                raise self.fail("has 'L' alone, which Quartz reads as Saturday and others as Sunday; write "
                                "SAT or 6 for every Saturday, or 5L / FRIL for the last Friday of the month")
            match = _DOW_SPECIAL.fullmatch(item)
            if match is None:
                plain.append(item)
                continue
            weekday = self._number(match["day"]) % 7
            if match["nth"] is None:
                last.add(weekday)
            elif 1 <= int(match["nth"]) <= 5:
                nth.add((weekday, int(match["nth"])))
            else:
                raise self.fail(f"has {item.upper()!r}: # takes the week of the month, 1 to 5 (FRI#2)")
        return DaysOfWeek(frozenset(v % 7 for v in self.values(plain)), frozenset(last), frozenset(nth))

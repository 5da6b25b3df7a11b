"""The schedule kinds besides cron, in the syntax EventBridge Scheduler users know, written in the
same `cron` field: `at(2026-12-24T18:00:00)` fires once, `rate(5 minutes)` every so often."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from zoneinfo import ZoneInfo

from chalicelib import config
from chalicelib.timers.cron_fields import CronError
from chalicelib.timers.fire_schedule import FireSchedule

MAX_RATE_SECONDS = 366 * 86400
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_AT = re.compile(r"at\((?P<when>[^()]*)\)", re.IGNORECASE)
_RATE = re.compile(r"rate\((?P<body>[^()]*)\)", re.IGNORECASE)
_RATE_BODY = re.compile(r"\s*(?P<n>[0-9]+)\s+(?P<unit>[a-z]+)\s*", re.IGNORECASE)
_AT_FORMS = ("accepted: at(YYYY-MM-DDTHH:MM:SS) in the timer's timezone, or with an offset or Z, "
             "e.g. at(2026-12-24T18:00:00) or at(2026-12-24T18:00:00Z)")
_RATE_FORMS = ("accepted: rate(N unit) with N from 1 and unit second(s), minute(s), hour(s) or day(s), "
               "e.g. rate(90 seconds), rate(5 minutes), rate(1 hour), rate(2 days)")


def is_kind(text: str) -> bool:
    """Whether `text` is meant as an at(...) or rate(...) schedule (rather than a cron)."""
    return bool(re.match(r"(at|rate)\s*\(", text, re.IGNORECASE))


def parse_kind(text: str, zone: str, *, now: int, anchor: int | None, catch_up: int | None) -> FireSchedule:
    if text.lower().startswith("at"):
        one_shot = parse_at(text, zone)
        window = config.catch_up_seconds() if catch_up is None else catch_up
        if one_shot.at < now - window:
            raise CronError(f"cron {text!r} is in the past ({_iso(one_shot.at)}, {now - one_shot.at} s ago); a "
                            f"one-shot may be at most {window} s late (its catch-up window), give a later time")
        return one_shot
    return parse_rate(text, zone, now if anchor is None else anchor)


@dataclass(frozen=True)
class OneShot(FireSchedule):
    """Fires once, at `at` (epoch seconds), however far ahead: the due index holds that time, so
    nothing waits on the queue's 15-minute delay limit, and the tick does not see it before then."""

    cron: str  # as the user wrote it
    timezone: str
    at: int
    kind = "at"

    def _iter_fires(self, after: int) -> Iterator[int]:
        if self.at >= after:
            yield self.at

    def first_fire(self, now: float, catch_up: int) -> int | None:
        return self.at if self.at >= int(now) - catch_up else None

    def describe(self) -> str:
        return f"Once, at {_iso(self.at)}"


@dataclass(frozen=True)
class Rate(FireSchedule):
    """Fires at anchor, anchor + period, ... in real time (no daylight-saving shifts), so
    rate(7 minutes) keeps its rhythm across hours where */7 restarts at each hour."""

    cron: str
    timezone: str
    period: int  # seconds
    anchor: int  # epoch seconds of the first fire
    kind = "rate"

    def _iter_fires(self, after: int) -> Iterator[int]:
        k = max(0, -(-(after - self.anchor) // self.period))
        while True:
            yield self.anchor + k * self.period
            k += 1

    def describe(self) -> str:
        return f"Every {_duration(self.period)}, counted from {_iso(self.anchor)}"


def parse_at(text: str, zone: str) -> OneShot:
    match = _AT.fullmatch(text.strip())
    if not match:
        raise CronError(f"cron {text!r} is not a valid at(...) schedule; {_AT_FORMS}")
    when = match["when"].strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?", when, re.IGNORECASE):
        raise CronError(f"cron {text!r}: {when!r} is not a date and time of the form YYYY-MM-DDTHH:MM:SS; {_AT_FORMS}")
    try:
        moment = datetime.fromisoformat(when.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise CronError(f"cron {text!r}: {when!r} is not a real date and time ({exc}); {_AT_FORMS}") from None
    if moment.tzinfo is None:
        local = ZoneInfo(zone)
        first = moment.replace(tzinfo=local)
        if first.astimezone(dt_timezone.utc).astimezone(local).replace(tzinfo=None) != moment:
            raise CronError(f"cron {text!r}: {when} does not exist in {zone} (the clocks skip it when "
                            "daylight saving time starts); give a time outside the gap")
        moment = first  # a repeated time (autumn) is its first occurrence
    return OneShot(cron=text.strip(), timezone=zone, at=int(moment.timestamp()))


def parse_rate(text: str, zone: str, anchor: int) -> Rate:
    match = _RATE.fullmatch(text.strip())
    body = None if match is None else _RATE_BODY.fullmatch(match["body"])
    if body is None:
        raise CronError(f"cron {text!r} is not a valid rate(...) schedule; {_RATE_FORMS}")
    unit = body["unit"].lower()
    unit = unit[:-1] if unit.endswith("s") else unit
    if unit not in _UNITS:
        raise CronError(f"cron {text!r}: {body['unit']!r} is not a unit of rate(...); {_RATE_FORMS}")
    period = int(body["n"]) * _UNITS[unit]
    if period < 1:
        raise CronError(f"cron {text!r}: a rate must be at least 1 second; {_RATE_FORMS}")
    if period > MAX_RATE_SECONDS:
        raise CronError(f"cron {text!r}: a rate may be at most 366 days; for rarer fires use a cron or at(...)")
    return Rate(cron=text.strip(), timezone=zone, period=period, anchor=anchor)


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}" if n != 1 else unit
    return f"{seconds} seconds" if seconds != 1 else "second"

"""A timer as a caller asked for it, and the changes updateTimer may make: checked values that the
API builds and the timer store takes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import ErrorCode, InvalidField
from chalicelib.timers.fire_schedule import FireSchedule
from chalicelib.timers.delivery_options import DeliveryOptions
from chalicelib.timers.options import TimerOptions
from chalicelib.timers.schedule import CronError, parse_schedule
from chalicelib.timers.status import STATUS_DISABLED


@dataclass(frozen=True)
class NotifyParams:
    url: str
    method: str
    header: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "method": self.method, "header": dict(self.header), "body": self.body}


@dataclass(frozen=True)
class TimerSpec:
    """A timer as a caller asked for it, checked."""

    app: str
    name: str
    schedule: FireSchedule
    notify: NotifyParams
    status: int = STATUS_DISABLED
    options: TimerOptions = TimerOptions()
    delivery: DeliveryOptions = DeliveryOptions()


@dataclass(frozen=True)
class Changes:
    """The fields updateTimer may change; None leaves a field as it is. The cron is checked
    against the timer's time zone (or the new one) by the timer store, which knows both."""

    name: str | None = None
    cron: str | None = None
    timezone: str | None = None
    notify: NotifyParams | None = None
    # The optional schedule settings given (API names: startAt, endAt, ...), each replacing the
    # stored one; a given null clears it.
    options: dict[str, object] = field(default_factory=dict)
    # The delivery settings given (retryPolicy, timeoutSeconds, failureCallback, pauseAfterFailures),
    # as DeliveryOptions fields, each replacing the stored one (retryPolicy as a whole); None clears one.
    delivery: dict[str, object] = field(default_factory=dict)


def schedule_from(cron: str, tz: str) -> FireSchedule:
    try:
        return parse_schedule(cron, tz)
    except CronError as exc:
        raise InvalidField("cron", str(exc), ErrorCode.INVALID_CRON) from None

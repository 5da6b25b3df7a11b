"""The requests the API takes, as pydantic models: what validates a request is what /openapi.json
publishes (chalicelib.api.openapi takes their model_json_schema). Each model yields the domain's
own values (TimerSpec, NotifyParams, Changes) for the timer store.

A model's fields are declared in the order they are checked in; `check_order` names the order
their errors are reported in where it differs (a cron is parsed after the time zone it is in, but
a missing cron is reported before a bad zone).
"""
from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError
from pydantic import ValidationInfo, field_validator, model_validator

from chalicelib.api import limits
from chalicelib.api.fields import (AppName, CallbackBody, CallbackHeaders, CallbackMethod, CallbackUrl, Cron,
                                   CronChange, LONE_SURROGATE, MISSING, NESTED_TOO_DEEPLY, Status, TimerId,
                                   TimerName, TimeZone, bounded_int, lone_surrogate, refuse)
from chalicelib.api.fields import CatchUpSeconds, Flag, Instant, JitterSeconds, MaxFires, MisfirePolicy, OverlapPolicy
from chalicelib.api.fields import (FailureMethod, MaxAgeSeconds, MaxAttempts, MaxBackoffSeconds, MinBackoffSeconds,
                                   PauseAfterFailures, RetryOn, TimeoutSeconds)
from chalicelib.errors import ErrorCode
from chalicelib.fires.tasks import STATUS_NAMES
from chalicelib.timers.bounds import Bounded
from chalicelib.timers.fire_schedule import FireSchedule
from chalicelib.timers.delivery_options import RETRY_FIELDS, DeliveryOptions
from chalicelib.timers.options import TimerOptions
from chalicelib.timers.spec import Changes, NotifyParams, TimerSpec
from chalicelib.timers.status import STATUS_DISABLED


class Request(BaseModel):
    """A request's fields; unknown ones are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)
    check_order: ClassVar[tuple[str, ...]] = ()


class NotifyHTTPParam(Request):
    """The callback a timer makes."""

    url: CallbackUrl
    method: CallbackMethod
    header: CallbackHeaders = Field(default_factory=dict)
    body: CallbackBody = None

    def params(self) -> NotifyParams:
        return NotifyParams(url=self.url, method=self.method, header=dict(self.header), body=self.body)


def _decode_notify(value: Any) -> Any:
    if value is None:
        refuse(MISSING["notifyHTTPParam"])
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except RecursionError:
            refuse(NESTED_TOO_DEEPLY)
        except ValueError:
            refuse("is a string but not valid JSON; send an object or a JSON string of one")
        inner = lone_surrogate(decoded)
        if inner is not None:
            refuse(f"{inner + ': ' if inner else ''}{LONE_SURROGATE}")
        return decoded
    return value


# The spec's example sends notifyHTTPParam as a string holding the JSON object; both are taken.
JsonString = Annotated[str, Field(description="a NotifyHTTPParam object, as a string of JSON",
                                  json_schema_extra={"contentMediaType": "application/json"})]
Notify = Annotated[NotifyHTTPParam, BeforeValidator(_decode_notify, json_schema_input_type=NotifyHTTPParam | JsonString)]


class AppRef(Request):
    """A call about one app's timers (query string or body)."""

    app: AppName


class TimerRef(AppRef):
    """A call about one timer (query string)."""

    id: TimerId


# --- Schedule options (issue 15), shared by creatTimer, updateTimer and previewCron --------------
_OPTIONS = ("startAt", "endAt", "maxFires", "jitterSeconds", "deleteAfterCompletion", "misfirePolicy",
            "catchUpSeconds", "overlapPolicy")


class ScheduleOptions(Request):
    """startAt, endAt, maxFires, jitterSeconds, deleteAfterCompletion and the policies (all optional)."""

    startAt: Instant = None  # noqa: N815
    endAt: Instant = None  # noqa: N815
    maxFires: MaxFires  # type: ignore[valid-type]  # noqa: N815
    jitterSeconds: JitterSeconds  # type: ignore[valid-type]  # noqa: N815
    deleteAfterCompletion: Flag = None  # noqa: N815
    misfirePolicy: MisfirePolicy = None  # noqa: N815
    catchUpSeconds: CatchUpSeconds  # type: ignore[valid-type]  # noqa: N815
    overlapPolicy: OverlapPolicy = None  # noqa: N815

    def options(self) -> TimerOptions:
        return TimerOptions(start_at=self.startAt, end_at=self.endAt, max_fires=self.maxFires,
                            jitter_seconds=self.jitterSeconds or 0,
                            delete_after_completion=bool(self.deleteAfterCompletion),
                            misfire_policy=self.misfirePolicy, catch_up_seconds=self.catchUpSeconds,
                            overlap_policy=self.overlapPolicy)


# --- Delivery policy (issue 16), shared by creatTimer and updateTimer ------------------------------
_DELIVERY = ("retryPolicy", "timeoutSeconds", "failureCallback", "pauseAfterFailures")


class RetryPolicy(Request):
    """How a failed attempt is retried; every field optional (unset: the service's default)."""

    maxAttempts: MaxAttempts  # type: ignore[valid-type]  # noqa: N815
    maxAgeSeconds: MaxAgeSeconds  # type: ignore[valid-type]  # noqa: N815
    minBackoffSeconds: MinBackoffSeconds  # type: ignore[valid-type]  # noqa: N815
    maxBackoffSeconds: MaxBackoffSeconds  # type: ignore[valid-type]  # noqa: N815
    retryOn: RetryOn = None  # noqa: N815

    @field_validator("maxBackoffSeconds")
    @classmethod
    def _not_below_the_minimum(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("minBackoffSeconds")
        if value is not None and low is not None and value < low:
            refuse(f"is {value}, less than minBackoffSeconds ({low}); give a maxBackoffSeconds of at least {low}")
        return value

    def values(self) -> dict[str, object]:
        """As DeliveryOptions fields."""
        return {attr: (tuple(self.retryOn) if name == "retryOn" and self.retryOn is not None else getattr(self, name))
                for name, attr in RETRY_FIELDS.items()}


class FailureCallbackParam(Request):
    """The callback made once when a fire fails for good: notifyHTTPParam's shape and checks; its
    body is a JSON report (docs/api.md, "Failure callbacks"), carrying `body`, if given, inside."""

    url: CallbackUrl
    method: FailureMethod = "POST"
    header: CallbackHeaders = Field(default_factory=dict)
    body: CallbackBody = None

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "method": self.method, "header": dict(self.header), "body": self.body}


class DeliveryFields(Request):
    """retryPolicy, timeoutSeconds, failureCallback, pauseAfterFailures (all optional)."""

    retryPolicy: Optional[RetryPolicy] = None  # noqa: N815
    timeoutSeconds: TimeoutSeconds  # type: ignore[valid-type]  # noqa: N815
    failureCallback: Optional[FailureCallbackParam] = None  # noqa: N815
    pauseAfterFailures: PauseAfterFailures  # type: ignore[valid-type]  # noqa: N815

    def delivery_changes(self, given: set[str]) -> dict[str, object]:
        """The DeliveryOptions fields the request sets (all of them for creatTimer); a null clears."""
        values: dict[str, object] = {}
        if "retryPolicy" in given:
            values.update(self.retryPolicy.values() if self.retryPolicy is not None
                          else {attr: None for attr in RETRY_FIELDS.values()})
        if "timeoutSeconds" in given:
            values["timeout_seconds"] = self.timeoutSeconds
        if "failureCallback" in given:
            values["failure_callback"] = None if self.failureCallback is None else self.failureCallback.to_dict()
        if "pauseAfterFailures" in given:
            values["pause_after_failures"] = self.pauseAfterFailures
        return values

    def delivery(self) -> DeliveryOptions:
        return DeliveryOptions(**self.delivery_changes(set(_DELIVERY)))  # type: ignore[arg-type]


class CreateTimerRequest(ScheduleOptions, DeliveryFields):
    """creatTimer's body, checked field by field in the order the spec lists them."""

    check_order = ("app", "name", "cron", "timezone", "notifyHTTPParam", "status", *_OPTIONS, *_DELIVERY)

    app: AppName
    name: TimerName
    timezone: Annotated[TimeZone, BeforeValidator(lambda v: "UTC" if v is None else v)] = "UTC"
    cron: Cron
    notifyHTTPParam: Notify  # noqa: N815  (the spec's name)
    status: Status = STATUS_DISABLED

    def spec(self) -> TimerSpec:
        return TimerSpec(app=self.app, name=self.name, schedule=self.cron, notify=self.notifyHTTPParam.params(),
                         status=self.status, options=self.options(), delivery=self.delivery())


_CHANGES = ("name", "cron", "timezone", "notifyHTTPParam", *_OPTIONS, *_DELIVERY)


class UpdateTimerRequest(ScheduleOptions, DeliveryFields, AppRef):
    """updateTimer's body: the timer, then what changes in it, each checked as creatTimer checks it
    (a cron's shape first: it is parsed by the timer store, against the timer's zone or the new one)."""

    check_order = ("app", "id", "cron", "name", "timezone", "notifyHTTPParam", *_OPTIONS, *_DELIVERY, "version")

    id: TimerId
    name: Optional[TimerName] = None
    cron: CronChange = None
    timezone: Optional[TimeZone] = None
    notifyHTTPParam: Optional[Notify] = None  # noqa: N815  (the spec's name)
    version: bounded_int(1, limits.MAX_VERSION, None,  # type: ignore[valid-type]
                         description="refuse the change (409) unless the timer is at this version")

    @model_validator(mode="wrap")
    @classmethod
    def _something_to_change(cls, data: Any, handler: ModelWrapValidatorHandler[UpdateTimerRequest]
                             ) -> UpdateTimerRequest:
        """Nothing to change is reported before a bad version (and after everything else)."""
        nothing = isinstance(data, dict) and all(data.get(key) is None for key in _CHANGES) and not any(
            key in data for key in (*_OPTIONS, *_DELIVERY))  # a null is a change: it clears the option or setting
        try:
            request = handler(data)
        except ValidationError as exc:
            if nothing and all(error["loc"][:1] == ("version",) for error in exc.errors()):
                refuse(f"nothing to change: give at least one of {', '.join(_CHANGES)}", ErrorCode.INVALID_REQUEST,
                       whole_request=True)
            raise
        if nothing:
            refuse(f"nothing to change: give at least one of {', '.join(_CHANGES)}", ErrorCode.INVALID_REQUEST,
                   whole_request=True)
        return request

    def changes(self) -> Changes:
        notify = self.notifyHTTPParam
        given = {name: getattr(self, name) for name in _OPTIONS if name in self.model_fields_set}
        return Changes(name=self.name, cron=self.cron, timezone=self.timezone,
                       notify=None if notify is None else notify.params(), options=given,
                       delivery=self.delivery_changes(self.model_fields_set))


class PreviewCronRequest(ScheduleOptions):
    """previewCron's body: a schedule, and optionally the options a timer would have."""

    check_order = ("cron", "timezone", "count", *_OPTIONS)

    timezone: Annotated[TimeZone, BeforeValidator(lambda v: "UTC" if v is None else v)] = "UTC"
    cron: Cron
    count: bounded_int(1, limits.MAX_PREVIEW_COUNT, limits.DEFAULT_PREVIEW_COUNT)  # type: ignore[valid-type]

    def schedule(self, now: int) -> FireSchedule:
        """The schedule with the options applied, as a timer enabled `now` would fire it (its
        jitter drawn for timer id 0: a real timer's offsets depend on its id)."""
        options = self.options()
        if not options.any:
            return self.cron
        return Bounded(self.cron, start_at=options.start_at, end_at=options.end_at, max_fires=options.max_fires,
                       origin=now if options.start_at is None else options.start_at,
                       jitter=options.jitter_seconds, seed=0)


_PAGE_TOKEN = "nextPageToken of the previous page, unchanged"


class AppTimersQuery(AppRef):
    """getAppTimers' query string."""

    pageSize: bounded_int(1, limits.MAX_PAGE_SIZE, limits.DEFAULT_PAGE_SIZE)  # type: ignore[valid-type]  # noqa: N815
    name: Optional[TimerName] = Field(default=None, description="only timers whose name contains this")
    pageToken: Optional[str] = Field(default=None, description=_PAGE_TOKEN)  # noqa: N815


class TasksQuery(TimerRef):
    """getTasks' query string."""

    pageSize: bounded_int(1, limits.MAX_PAGE_SIZE, limits.DEFAULT_PAGE_SIZE)  # type: ignore[valid-type]  # noqa: N815
    status: bounded_int(min(STATUS_NAMES), max(STATUS_NAMES), None,  # type: ignore[valid-type]
                        description="only tasks in this status: "
                                    + ", ".join(f"{k} {v}" for k, v in sorted(STATUS_NAMES.items())))
    pageToken: Optional[str] = Field(default=None, description=_PAGE_TOKEN)  # noqa: N815


class AppActivityQuery(AppRef):
    """getAppActivity's query string."""

    minutes: bounded_int(1, limits.MAX_ACTIVITY_MINUTES, limits.MAX_ACTIVITY_MINUTES,  # type: ignore[valid-type]
                         description="how many minutes back from now (the last one is the current minute)")


REQUEST_BODIES: tuple[type[Request], ...] = (CreateTimerRequest, UpdateTimerRequest, PreviewCronRequest)

"""What the API answers inside the envelope's `data`, as pydantic models: the views build replies
with them and /openapi.json publishes their serialization schema, so the two cannot drift apart.

A field that a reply leaves out when it has no value (a last page's nextPageToken) is typed
`... | SkipJsonSchema[None] = omitted()`: not null in the schema, and left out of the reply (it is
dumped with exclude_unset) unless it is set.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from chalicelib.api import limits
from chalicelib.errors import ErrorCode
from chalicelib.fires.tasks import STATUS_NAMES

def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(**schema: Any) -> Any:
    """A field a reply may leave out: None until set, and then not written."""
    return Field(default=None, json_schema_extra=_no_default, **schema)


Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
TaskStatus = Literal[tuple(sorted(STATUS_NAMES))]  # type: ignore[valid-type]
TaskStatusName = Literal[(*(STATUS_NAMES[k] for k in sorted(STATUS_NAMES)), "unknown")]  # type: ignore[valid-type]


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The reply as the envelope's data: JSON values, fields never set left out."""
        return self.model_dump(mode="json", exclude_unset=True)


class Callback(Reply):
    """A timer's callback as stored (checked when it was given: see NotifyHTTPParam)."""

    url: str
    method: str
    header: dict[str, str]
    body: Optional[str]


class RetryPolicy(Reply):
    maxAttempts: Optional[int] = None  # noqa: N815
    maxAgeSeconds: Optional[int] = None  # noqa: N815
    minBackoffSeconds: Optional[int] = None  # noqa: N815
    maxBackoffSeconds: Optional[int] = None  # noqa: N815
    retryOn: Optional[list[str]] = None  # noqa: N815


class Timer(Reply):
    timerId: int  # noqa: N815
    app: str
    name: str
    cron: str
    timezone: str
    status: Literal[1, 2, 3] = Field(description="1 disabled, 2 enabled, 3 completed (no fires left, never fired again)")
    version: int
    notifyHTTPParam: Callback  # noqa: N815
    createdAt: Timestamp  # noqa: N815
    updatedAt: Timestamp  # noqa: N815
    # Schedule options (issue 15): shown when set.
    startAt: Optional[Timestamp] = None  # noqa: N815
    endAt: Optional[Timestamp] = None  # noqa: N815
    maxFires: Optional[int] = None  # noqa: N815
    jitterSeconds: Optional[int] = None  # noqa: N815
    deleteAfterCompletion: bool = False  # noqa: N815
    misfirePolicy: Optional[str] = None  # noqa: N815
    catchUpSeconds: Optional[int] = None  # noqa: N815
    overlapPolicy: Optional[str] = Field(default=None, description="skip or buffer_one; absent: allow")  # noqa: N815
    # Delivery policy (issue 16): shown when set; unset fields are the service's defaults.
    retryPolicy: Optional[RetryPolicy] = None  # noqa: N815
    timeoutSeconds: Optional[int] = None  # noqa: N815
    failureCallback: Optional[Callback] = None  # noqa: N815
    pauseAfterFailures: Optional[int] = None  # noqa: N815
    consecutiveFailures: int = Field(default=0, description="fires in a row failed for good; a success resets it")  # noqa: N815
    statusReason: Optional[str] = Field(default=None, description="why the service disabled the timer")  # noqa: N815
    pausedAt: Optional[Timestamp] = Field(default=None, description="when the service disabled it")  # noqa: N815


class LastFire(Reply):
    """The newest task of a timer (a fire or a manual run), as getTasks shows it in full."""

    fireTime: Timestamp  # noqa: N815
    status: TaskStatus
    statusName: TaskStatusName  # noqa: N815
    httpStatus: Optional[int]  # noqa: N815
    attempts: int
    error: Optional[str]
    finishedAt: Optional[Timestamp]  # noqa: N815


class RecentCounts(Reply):
    tasks: int
    succeeded: int
    failed: int
    missed: int
    skipped: int = 0
    held: int = 0


class TimerDetail(Timer):
    description: str
    nextFireTimes: list[Timestamp] = Field(max_length=5)  # noqa: N815
    recent: RecentCounts
    lastFire: Optional[LastFire] = None  # noqa: N815


class FailureCallbackOutcome(Reply):
    """What the timer's failure callback got, once, after the fire failed for good."""

    sentAt: Optional[Timestamp]  # noqa: N815
    httpStatus: Optional[int]  # noqa: N815
    error: Optional[str]
    durationMs: Optional[int]  # noqa: N815


class Task(Reply):
    timerId: int  # noqa: N815
    fireTime: Timestamp  # noqa: N815
    fireMs: int  # noqa: N815
    status: TaskStatus
    statusName: TaskStatusName  # noqa: N815
    attempts: int
    httpStatus: Optional[int]  # noqa: N815
    durationMs: Optional[int]  # noqa: N815
    error: Optional[str]
    responseBody: Optional[str]  # noqa: N815
    manual: bool
    startedAt: Optional[Timestamp]  # noqa: N815
    finishedAt: Optional[Timestamp]  # noqa: N815
    overlapPolicy: Optional[str] = Field(default=None,  # noqa: N815
                                         description="the timer's overlapPolicy when the fire came, if not allow")
    scheduledAt: Timestamp = Field(description="when the fire was due")  # noqa: N815
    sentAt: Optional[Timestamp] = Field(default=None, description="when the latest attempt's request left")  # noqa: N815
    latenessMs: Optional[int] = Field(  # noqa: N815
        default=None, description="sentAt - scheduledAt; a retry's includes its backoff")
    failureCallback: Optional[FailureCallbackOutcome] = None  # noqa: N815


class ActivityCounts(Reply):
    fires: int = Field(description="scheduled fires due in the span (manual runs left out)")
    succeeded: int
    failed: int
    missed: int
    skipped: int
    underWay: int = Field(description="running, waiting for a retry, or held")  # noqa: N815


class Lateness(Reply):
    """How late first attempts left, in ms (nearest-rank percentiles); null when there were none."""

    count: int
    p50Ms: Optional[int]  # noqa: N815
    p95Ms: Optional[int]  # noqa: N815
    p99Ms: Optional[int]  # noqa: N815
    maxMs: Optional[int]  # noqa: N815


class ActivityMinute(ActivityCounts):
    start: Timestamp


class TimerActivity(ActivityCounts):
    timerId: int  # noqa: N815
    name: str
    lateness: Lateness


class AppActivity(Reply):
    """An app's fires over the last minutes, from its task records (see docs/console.md)."""

    app: str
    since: Timestamp
    until: Timestamp
    totals: ActivityCounts
    lateness: Lateness
    minutes: list[ActivityMinute]
    timers: list[TimerActivity] = Field(description="the timers with fires in the span, most failures first")
    timersRead: int  # noqa: N815
    partial: bool = Field(description="true when the app has more timers, or a timer more records, than are read")


class Created(Reply):
    timerId: int = Field(ge=1, le=limits.MAX_TIMER_ID)  # noqa: N815


class TimerPage(Reply):
    timers: list[Timer]
    nextPageToken: str | SkipJsonSchema[None] = omitted()  # noqa: N815
    total: int | SkipJsonSchema[None] = omitted(description="the app's timers (without a name filter)")


class TaskPage(Reply):
    tasks: list[Task]
    nextPageToken: str | SkipJsonSchema[None] = omitted()  # noqa: N815


class Triggered(Reply):
    timerId: int  # noqa: N815
    fireTime: Timestamp  # noqa: N815
    idempotencyKey: str  # noqa: N815


class SigningSecret(Reply):
    app: str
    signingSecret: str  # noqa: N815
    previousSecret: str | SkipJsonSchema[None] = omitted()  # noqa: N815
    previousUntil: Timestamp | SkipJsonSchema[None] = omitted()  # noqa: N815


class CronPreview(Reply):
    cron: str
    timezone: str
    description: str
    nextFireTimes: list[Timestamp]  # noqa: N815


class Health(Reply):
    status: Literal["ok"]


class ErrorData(Reply):
    field: str | SkipJsonSchema[None] = omitted()


class Error(Reply):
    """Every error reply: a non-zero code, what was wrong and how to fix it, and the field at fault."""

    code: Literal[tuple(int(c) for c in ErrorCode if c is not ErrorCode.OK)]  # type: ignore[valid-type]
    message: str
    data: ErrorData | SkipJsonSchema[None] = omitted()


REPLIES: tuple[type[Reply], ...] = (Error, Timer, TimerDetail, Task)

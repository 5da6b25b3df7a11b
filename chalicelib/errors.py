"""Domain errors and their place in the reply envelope.

Every failure a caller can cause maps to one `ErrorCode`: a stable number in the envelope's
`code`, an HTTP status, and a message that says what was wrong and how to fix it.
"""
from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    OK = 0
    INVALID_REQUEST = 40000  # body is not a JSON object, or the request cannot be read
    INVALID_FIELD = 40001  # a field is missing, of the wrong type, too long or not allowed
    INVALID_CRON = 40002
    INVALID_TIMEZONE = 40003
    UNAUTHORIZED = 40100
    FORBIDDEN = 40300
    NOT_FOUND = 40400  # no such timer for this app (another app's timer included)
    ROUTE_NOT_FOUND = 40401
    METHOD_NOT_ALLOWED = 40500
    DUPLICATE_NAME = 40900  # (app, name) is taken
    VERSION_CONFLICT = 40901  # the timer changed since the caller read it
    UNSUPPORTED_MEDIA_TYPE = 41500
    QUOTA_EXCEEDED = 42900
    INTERNAL = 50000
    UNAVAILABLE = 50300  # AWS throttled us or failed in passing, after the SDK's retries: retry later

    @property
    def http_status(self) -> int:
        return 200 if self is ErrorCode.OK else int(self) // 100


class XtimerError(Exception):
    """A failure to report to the caller as `{code, message}` (with `data.field` when one field is at fault)."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def http_status(self) -> int:
        return self.code.http_status


class InvalidField(XtimerError):
    def __init__(self, field: str, message: str, code: ErrorCode = ErrorCode.INVALID_FIELD) -> None:
        super().__init__(code, f"{field}: {message}", field=field)


class TimerNotFound(XtimerError):
    def __init__(self, timer_id: int, app: str) -> None:
        super().__init__(
            ErrorCode.NOT_FOUND,
            f"timer {timer_id} not found for app {app!r}: check the id and that it belongs to this app",
        )


class DuplicateTimerName(XtimerError):
    def __init__(self, app: str, name: str) -> None:
        super().__init__(
            ErrorCode.DUPLICATE_NAME,
            f"app {app!r} already has a timer named {name!r}: pick another name or update that timer",
            field="name",
        )


class VersionConflict(XtimerError):
    def __init__(self, timer_id: int, expected: int, current: int) -> None:
        super().__init__(
            ErrorCode.VERSION_CONFLICT,
            f"timer {timer_id} is at version {current}, not {expected}: it changed since you read it; "
            "read it again and retry",
            field="version",
        )


class QuotaExceeded(XtimerError):
    """A limit reached; `retry_after` (seconds) when waiting is what lifts it (a rate, not a count)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(ErrorCode.QUOTA_EXCEEDED, message)
        self.retry_after = retry_after


class ServiceUnavailable(XtimerError):
    RETRY_AFTER_SECONDS = 2

    def __init__(self, incident: str) -> None:
        self.retry_after = self.RETRY_AFTER_SECONDS
        super().__init__(
            ErrorCode.UNAVAILABLE,
            f"the service is briefly unavailable (its storage or queue is busy or unreachable; incident "
            f"{incident}): retry in a few seconds",
        )

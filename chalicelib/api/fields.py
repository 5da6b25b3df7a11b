"""The request fields: each one type that pydantic both checks and describes in /openapi.json.

A field's limits are written once (chalicelib.api.limits) and reach the schema through the type's
constraints. Where pydantic's own check says what the API has always said, pydantic checks it and
chalicelib.api.field_errors words its error; where it cannot (an IANA zone, a callback URL, a
header, the id's digits in a query string), a validator checks it first and `refuse`s with the
API's message, and the constraints after it describe the same rule (and hold it once more).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Callable, Literal, NoReturn, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from chalicelib.api import limits
from chalicelib.delivery import callback_policy
from chalicelib.errors import ErrorCode
from chalicelib.timers.fire_schedule import FireSchedule
from chalicelib.timers.schedule import CronError, parse_schedule
from chalicelib.timers.bounds import MAX_FIRES, MAX_JITTER_SECONDS
from chalicelib.timers.delivery_options import (DEFAULT_RETRY_ON, FAILURE_CALLBACK_METHODS, MAX_AGE_SECONDS,
                                                MAX_ATTEMPTS, MAX_BACKOFF_SECONDS, MAX_PAUSE_AFTER_FAILURES,
                                                MAX_TIMEOUT_SECONDS, MIN_AGE_SECONDS, retry_on_entry)
from chalicelib.timers.options import MAX_CATCH_UP_SECONDS, MISFIRE_POLICIES, OVERLAP_POLICIES
from chalicelib.timers.status import METHODS, STATUS_DISABLED, STATUS_ENABLED

REFUSAL = "xtimer"  # the pydantic error type of a `refuse`d value; its context carries code and message
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an RFC 9110 token
# RFC 9110 field-value: visible ASCII and obs-text, spaces and tabs only between them. Of obs-text
# (0x80-0xFF) the C1 controls are left out: the value is sent as Latin-1, beyond it nothing is.
HEADER_VALUE = r"^(?:[\x21-\x7e\xa0-\xff](?:[\t\x20-\x7e\xa0-\xff]*[\x21-\x7e\xa0-\xff])?)?$"
RESERVED_HEADER_PREFIX = "x-xtimer-"
# Headers the transport owns: the host is the URL's, the hop-by-hop ones are the connection's.
RESERVED_HEADERS = frozenset({"host", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"})

# What "is required" says for a field given as null or left out, where it says more than that.
MISSING: dict[str, str] = {
    "id": "is required: pass the timerId that creatTimer returned",
    "cron": "is required, e.g. \"*/5 * * * *\" (every 5 minutes)",
    "notifyHTTPParam": "is required: an object with url and method",
}


def refuse(message: str, code: ErrorCode = ErrorCode.INVALID_FIELD, *, whole_request: bool = False) -> NoReturn:
    """Fail validation with the API's own message (and code); the error names the field it is raised
    for, unless it is about the `whole_request`."""
    raise PydanticCustomError(REFUSAL, "{message}", {"message": message, "code": int(code),
                                                     "whole_request": whole_request})


def json_type(value: Any) -> str:
    """What a JSON value is, as a message says it: "a number", "an array", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


NESTED_TOO_DEEPLY = "is nested too deeply to read; send a flatter JSON document"
LONE_SURROGATE = ("holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair), which is not "
                  "Unicode text; send the character itself or its full surrogate pair")


def lone_surrogate(value: Any) -> str | None:
    """The path ("a.b.0") of the first string in a decoded JSON `value` that is not valid Unicode
    (it holds a lone surrogate, which no store or wire encoding accepts), or None. Iterative: the
    value may be nested as deeply as the decoder allowed."""
    pending: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                pending.append(((*path, str(key)), key))
                pending.append(((*path, str(key)), sub))
        elif isinstance(item, list):
            pending.extend(((*path, str(i)), sub) for i, sub in enumerate(item))
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return ".".join(path)
    return None


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def text(max_length: int, *checks: Callable[[str], str], **schema: Any) -> Any:
    """A non-empty string, stripped, of at most `max_length` characters and no control characters;
    then `checks` in turn. pydantic checks it all but `checks`; field_errors words its errors."""
    return Annotated[str, StringConstraints(strict=True, min_length=1, max_length=max_length,
                                            pattern=NO_CONTROL_CHARACTERS),
                     BeforeValidator(_strip), *(AfterValidator(check) for check in checks), Field(**schema)]


def _callback_url(url: str) -> str:
    if re.search(r"\s", url):
        refuse("must not contain spaces; percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        refuse(f"is not a valid URL ({exc})")
    if parts.scheme.lower() not in {"http", "https"}:
        refuse(f"must start with http:// or https://, got {url[:40]!r}")
    if not parts.hostname:
        refuse("has no host name, e.g. https://example.com/hook")
    if parts.username or parts.password:
        refuse("must not carry a user name or password; put credentials in a header")
    try:
        host = callback_policy.ascii_host(parts.hostname)
    except ValueError as exc:
        refuse(str(exc))
    reason = callback_policy.refusal(host)
    if reason:
        refuse(reason)
    if host != parts.hostname:  # stored, shown and signed as it is sent
        port = f":{parts.port}" if parts.port is not None else ""
        url = parts._replace(netloc=host + port).geturl()
    return url


def _method(method: str) -> str:
    method = method.upper()
    if method not in METHODS:
        refuse(f"{method!r} is not supported; use one of {', '.join(METHODS)}")
    return method


def _headers(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        refuse(f"must be an object of string to string, not {json_type(value)}")
    if len(value) > limits.MAX_HEADERS:
        refuse(f"has {len(value)} entries; at most {limits.MAX_HEADERS} are allowed")
    for name, val in value.items():
        if not re.fullmatch(HEADER_NAME, name) or len(name) > limits.MAX_HEADER_NAME_LENGTH:
            refuse(f"{name[:60]!r} is not a valid header name (letters, digits and -_. only)")
        if name.lower().startswith(RESERVED_HEADER_PREFIX):
            refuse(f"{name!r}: X-Xtimer-* headers are set by the service and cannot be given")
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("proxy-"):
            refuse(f"{name!r} cannot be given: the host comes from the URL, and Connection, Keep-Alive, "
                   "Proxy-*, TE, Trailer, Transfer-Encoding and Upgrade belong to the connection")
        if not isinstance(val, str):
            refuse(f"{name}: the value must be a string, not {json_type(val)}")
        if len(val) > limits.MAX_HEADER_VALUE_LENGTH:
            refuse(f"{name}: the value is longer than {limits.MAX_HEADER_VALUE_LENGTH} characters")
        if not re.fullmatch(HEADER_VALUE, val):
            refuse(f"{name}: {_header_value_problem(val)}")
    return value


def _header_value_problem(value: str) -> str:
    """What about a header value breaks RFC 9110's field-value rule, in words."""
    if re.search(r"[\r\n]", value):
        return "the value must not contain line breaks"
    if value != value.strip(" \t"):
        return "the value must not start or end with a space or tab; trim it"
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]", value):
        return "the value must not contain control characters"
    return ("the value may hold only printable ASCII and Latin-1 characters (RFC 9110); "
            "percent-encode or base64 anything else")


def _body(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        refuse(f"must be a string, not {json_type(value)}; to send JSON, send it as a string")
    if len(value.encode("utf-8")) > limits.MAX_BODY_BYTES:
        refuse(f"is larger than {limits.MAX_BODY_BYTES} bytes")
    return value


def check_timezone(value: Any) -> str:
    """An IANA time zone name, stripped; every refusal is INVALID_TIMEZONE."""
    code = ErrorCode.INVALID_TIMEZONE
    if not isinstance(value, str) or not value.strip():
        refuse("must be an IANA time zone name such as UTC, Europe/Berlin or America/New_York", code)
    if len(value) > limits.MAX_TIMEZONE_LENGTH:
        refuse(f"is longer than {limits.MAX_TIMEZONE_LENGTH} characters", code)
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        refuse(f"{value!r} is not a known IANA time zone; use e.g. UTC, Europe/Berlin, Asia/Shanghai", code)
    return value.strip()


def _status(value: Any) -> Any:
    if value is None:
        return STATUS_DISABLED
    if isinstance(value, str) and value.strip() in {"1", "2"}:
        value = int(value)
    if isinstance(value, bool) or value not in (STATUS_DISABLED, STATUS_ENABLED):
        refuse(f"must be 1 (disabled) or 2 (enabled), got {value!r}")
    return int(value)


def _timer_id(value: Any) -> Any:
    if value is None or value == "":
        refuse(MISSING["id"])
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        refuse(f"must be an integer, not {json_type(value)}")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,16}\s*", value):
            refuse(f"must be a positive integer, got {value[:40]!r}")
        value = int(value)
    if not 0 < value <= limits.MAX_TIMER_ID:
        refuse(f"must be between 1 and {limits.MAX_TIMER_ID}, got {value}")
    return value


def bounded_int(low: int, high: int, default: int | None, **schema: Any) -> Any:
    """An optional integer within [low, high]: a number, or its digits (a query string's); null or
    an empty string is `default`."""

    def check(value: Any) -> Any:
        if value is None or value == "":
            return default
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            refuse(f"must be an integer from {low} to {high}, got {str(value)[:40]!r}")
        return value

    number = Annotated[int, Field(strict=True, ge=low, le=high)]
    return Annotated[number if default is not None else Optional[number], BeforeValidator(check),
                     Field(default=default, **schema)]


# A cron expression as /openapi.json describes it; parse_schedule holds the same limits.
CronText = Annotated[str, StringConstraints(min_length=1, max_length=limits.MAX_CRON_LENGTH),
                     Field(examples=["*/5 * * * *", "*/3 * * * * *", "@hourly", "0 0 12 L * ?",
                                     "at(2026-12-24T18:00:00)", "rate(5 minutes)"])]


def _schedule(value: Any, info: ValidationInfo) -> Any:
    """The cron, parsed in the time zone given before it. Without a valid zone there is nothing to
    parse against: the zone's error is the one to report, so the cron is left as it came."""
    if value is None:
        refuse(MISSING["cron"])
    if "timezone" not in info.data:
        return value
    try:
        return parse_schedule(value, info.data["timezone"])
    except CronError as exc:
        refuse(str(exc), ErrorCode.INVALID_CRON)


def _cron_text(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        refuse("must be a non-empty string, e.g. \"*/5 * * * *\"", ErrorCode.INVALID_CRON)
    return value.strip()


# An app's name is an identity (keys, secrets, quotas hang off it), so it is taken as written or
# refused, never stripped or normalised, and its alphabet has no look-alikes: ASCII letters,
# digits, '-', '_', '.', words separated by single spaces (the spec's "est ad amet tempor proident").
APP_NAME = r"^[A-Za-z0-9._-]+(?: [A-Za-z0-9._-]+)*$"
APP_ALPHABET = "ASCII letters, digits, '-', '_' and '.', with single spaces between words"


def _app_name(value: Any) -> Any:
    if not isinstance(value, str) or not value or len(value) > limits.MAX_APP_LENGTH:
        return value  # not a string, empty or too long: the constraints below say so
    if value != value.strip() or value.strip("\u200b\u200c\u200d\u2060\ufeff") != value:
        refuse(f"must not start or end with spaces or invisible characters; send {value.strip()!r} as it is")
    bad = next((c for c in value if not re.fullmatch(r"[A-Za-z0-9._ -]", c)), None)
    if bad is not None:
        refuse(f"may hold only {APP_ALPHABET}; {bad!r} (U+{ord(bad):04X}) is not allowed")
    if not re.fullmatch(APP_NAME, value):
        refuse(f"may hold only {APP_ALPHABET}; separate words by one space")
    return value


AppName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=limits.MAX_APP_LENGTH,
                                           pattern=APP_NAME),
                    BeforeValidator(_app_name),
                    Field(description=f"the app the timer belongs to: {APP_ALPHABET}; letter case counts",
                          examples=["billing"])]
TimerName = text(limits.MAX_NAME_LENGTH)
CallbackUrl = text(limits.MAX_URL_LENGTH, _callback_url, json_schema_extra={"format": "uri"},
                   description="where the callback goes: an http:// or https:// URL, without credentials")
CallbackMethod = text(limits.MAX_METHOD_LENGTH, _method, json_schema_extra={"enum": list(METHODS)},
                      description="the callback's HTTP method (any letter case)")
CallbackHeaders = Annotated[
    dict[Annotated[str, StringConstraints(max_length=limits.MAX_HEADER_NAME_LENGTH, pattern=HEADER_NAME)],
         Annotated[str, StringConstraints(max_length=limits.MAX_HEADER_VALUE_LENGTH, pattern=HEADER_VALUE)]],
    Field(max_length=limits.MAX_HEADERS, description="headers of the callback; X-Xtimer-* are the service's own",
          json_schema_extra={"additionalProperties": False}),  # a name the pattern does not match is refused
    BeforeValidator(_headers),
]
CallbackBody = Annotated[
    Optional[Annotated[str, StringConstraints(max_length=limits.MAX_BODY_BYTES)]],
    BeforeValidator(_body),
    Field(description=f"the callback's body, at most {limits.MAX_BODY_BYTES} bytes as UTF-8"),
]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=limits.MAX_TIMEZONE_LENGTH),
                     BeforeValidator(check_timezone), Field(examples=["Europe/Berlin"])]
Status = Annotated[Literal[1, 2], BeforeValidator(_status),
                   Field(description="1: disabled, 2: enabled (fires on its schedule)")]
TimerId = Annotated[int, Field(strict=True, ge=1, le=limits.MAX_TIMER_ID), BeforeValidator(_timer_id)]
# A cron to parse (creatTimer, previewCron: into a Schedule), or to pass on (updateTimer: the timer
# store parses it against the timer's zone, and words its errors).
Cron = Annotated[FireSchedule, PlainValidator(_schedule, json_schema_input_type=CronText)]
CronChange = Annotated[Optional[str], PlainValidator(_cron_text, json_schema_input_type=Optional[CronText])]


# --- Schedule options (issue 15): startAt, endAt, maxFires, jitterSeconds, deleteAfterCompletion ------
# Kept in one block: other branches add fields above.

def _instant(value: Any) -> Any:
    """An RFC 3339 date-time with an offset or Z, as epoch seconds; null is "not set"."""
    if value is None:
        return None
    example = "e.g. \"2026-12-24T18:00:00Z\" or \"2026-12-24T18:00:00+01:00\""
    if not isinstance(value, str):
        refuse(f"must be an RFC 3339 date-time string, {example}, not {json_type(value)}")
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text):
        refuse(f"{text[:40]!r} is not an RFC 3339 date-time with an offset; {example}")
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        refuse(f"{text[:40]!r} is not a real date and time ({exc}); {example}")
    return int(moment.timestamp())


def _flag(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    refuse(f"must be true or false, not {json_type(value)}")


Instant = Annotated[Optional[int], PlainValidator(_instant, json_schema_input_type=Optional[Annotated[
    str, Field(json_schema_extra={"format": "date-time"})]])]
Flag = Annotated[Optional[bool], PlainValidator(_flag, json_schema_input_type=Optional[bool])]
MaxFires = bounded_int(1, MAX_FIRES, None, description="the timer completes after this many scheduled fires")
JitterSeconds = bounded_int(0, MAX_JITTER_SECONDS, None,
                            description="move each fire later by a stable pseudo-random 0..N seconds "
                                        "(less than the schedule's period)")


def _misfire_policy(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in MISFIRE_POLICIES:
        refuse(f"must be one of {', '.join(MISFIRE_POLICIES)} (all: each missed fire within the catch-up window "
               f"is made late; once: only the latest; skip: none), got {str(value)[:40]!r}")
    return value.strip().lower()


MisfirePolicy = Annotated[Optional[Literal["all", "once", "skip"]],
                          PlainValidator(_misfire_policy, json_schema_input_type=Optional[Literal["all", "once", "skip"]]),
                          Field(description="what to do with fires missed while the service was down")]
CatchUpSeconds = bounded_int(0, MAX_CATCH_UP_SECONDS, None,
                             description="how late a missed fire may still be made (capped by the service's window)")


def _overlap_policy(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in OVERLAP_POLICIES:
        refuse(f"must be one of {', '.join(OVERLAP_POLICIES)} (allow: every fire is made; skip: a fire that comes "
               "while the previous one is still running or being retried is recorded as skipped; buffer_one: "
               f"one such fire waits for the previous one, any further is skipped), got {str(value)[:40]!r}")
    return value.strip().lower()


OverlapPolicy = Annotated[Optional[Literal["allow", "skip", "buffer_one"]],
                          PlainValidator(_overlap_policy,
                                         json_schema_input_type=Optional[Literal["allow", "skip", "buffer_one"]]),
                          Field(description="what to do with a fire that comes while the previous fire of the "
                                            "timer is still running or being retried")]


# --- Delivery policy (issue 16): retryPolicy, timeoutSeconds, failureCallback, pauseAfterFailures ---
# Kept in one block, like the schedule options.

def _retry_on(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        refuse(f"must be an array of strings such as [\"5xx\", \"429\", \"timeout\"], not {json_type(value)}")
    if len(value) > MAX_RETRY_ON_ENTRIES:
        refuse(f"has {len(value)} entries; at most {MAX_RETRY_ON_ENTRIES} are allowed")
    entries: list[str] = []
    for item in value:
        entry = retry_on_entry(item) if isinstance(item, str) else None
        if entry is None:
            refuse(f"{str(item)[:40]!r} is not an outcome xtimer can retry on; use {RETRY_ON_WORDS}")
        if entry not in entries:
            entries.append(entry)
    return entries


def _failure_method(method: str) -> str:
    if method not in FAILURE_CALLBACK_METHODS:
        refuse(f"{method!r} cannot carry the failure report's JSON body; use one of {', '.join(FAILURE_CALLBACK_METHODS)}")
    return method


MAX_RETRY_ON_ENTRIES = 20
RETRY_ON_WORDS = ("\"connection\" (no connection or no answer), \"timeout\", \"3xx\", \"4xx\", \"5xx\" "
                  "or an HTTP status from 300 to 599 such as \"429\"")
RetryOn = Annotated[Optional[Annotated[list[Annotated[str, StringConstraints(
                        pattern=r"^(connection|timeout|[345]xx|[345]\d\d)$")]], Field(max_length=MAX_RETRY_ON_ENTRIES)]],
                    BeforeValidator(_retry_on),
                    Field(description="which failed outcomes are retried: " + RETRY_ON_WORDS + "; default "
                                      + ", ".join(DEFAULT_RETRY_ON) + "; [] retries nothing",
                          examples=[list(DEFAULT_RETRY_ON)])]
MaxAttempts = bounded_int(1, MAX_ATTEMPTS, None, description="attempts per fire in all (default: the service's "
                                                            "XTIMER_MAX_ATTEMPTS, 5)")
MaxAgeSeconds = bounded_int(MIN_AGE_SECONDS, MAX_AGE_SECONDS, None,
                            description="no retry leaves later than this after the fire time (default: no limit)")
MinBackoffSeconds = bounded_int(1, MAX_BACKOFF_SECONDS, None, description="the shortest wait before a retry (default 1)")
MaxBackoffSeconds = bounded_int(1, MAX_BACKOFF_SECONDS, None,
                                description="the longest wait before a retry, Retry-After aside (default 300)")
TimeoutSeconds = bounded_int(1, MAX_TIMEOUT_SECONDS, None,
                             description="each attempt's whole budget, answer included (default: 3 s to connect "
                                         "plus 10 s to answer)")
PauseAfterFailures = bounded_int(1, MAX_PAUSE_AFTER_FAILURES, None,
                                 description="disable the timer after this many fires in a row failed for good")
FailureMethod = text(limits.MAX_METHOD_LENGTH, _method, _failure_method,
                     json_schema_extra={"enum": list(FAILURE_CALLBACK_METHODS)},
                     description="the failure callback's HTTP method (default POST)")

"""Turns untrusted request input into checked values, or an error that names the field.

Limits are documented in the README ("Limits"); change both together.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.delivery import callback_policy
from chalicelib.errors import ErrorCode, InvalidField, XtimerError
from chalicelib.timers.schedule import Schedule
from chalicelib.timers.spec import Changes, NotifyParams, TimerSpec, schedule_from
from chalicelib.timers.status import METHODS, STATUS_DISABLED, STATUS_ENABLED

MAX_REQUEST_BYTES = 256 * 1024
MAX_APP_LENGTH = 128
MAX_NAME_LENGTH = 128
MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64
MAX_URL_LENGTH = 2048
MAX_HEADERS = 50
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 4096
MAX_BODY_BYTES = 16 * 1024
MAX_TIMER_ID = 2**53 - 1

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_json_body(raw: bytes | str | None) -> dict[str, Any]:
    """The request body as a JSON object."""
    if raw is None or (isinstance(raw, (bytes, str)) and not raw.strip()):
        raise XtimerError(ErrorCode.INVALID_REQUEST, "the request body is empty: send a JSON object")
    if len(raw) > MAX_REQUEST_BYTES:
        raise XtimerError(
            ErrorCode.INVALID_REQUEST, f"the request body is larger than {MAX_REQUEST_BYTES} bytes"
        )
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XtimerError(
            ErrorCode.INVALID_REQUEST, f"the request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise XtimerError(
            ErrorCode.INVALID_REQUEST,
            f"the request body must be a JSON object, not {_json_type(value)}",
        )
    return value


def _json_type(value: Any) -> str:
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


def text(data: Mapping[str, Any], key: str, max_length: int, *, required: bool = True,
         label: str | None = None) -> str | None:
    """A non-empty string field without control characters."""
    label = label or key
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidField(label, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidField(label, f"must be a string, not {_json_type(value)}")
    value = value.strip()
    if not value:
        raise InvalidField(label, "must not be empty")
    if len(value) > max_length:
        raise InvalidField(label, f"is {len(value)} characters long; at most {max_length} are allowed")
    if _CONTROL.search(value):
        raise InvalidField(label, "must not contain control characters (newlines, tabs, ...)")
    return value


def app_name(data: Mapping[str, Any]) -> str:
    return text(data, "app", MAX_APP_LENGTH)  # type: ignore[return-value]


def timer_id(data: Mapping[str, Any], key: str = "id") -> int:
    """A timer id from a query string or a JSON body: a positive integer below 2^53."""
    value = data.get(key)
    if value is None or value == "":
        raise InvalidField(key, "is required: pass the timerId that creatTimer returned")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidField(key, f"must be an integer, not {_json_type(value)}")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,16}\s*", value):
            raise InvalidField(key, f"must be a positive integer, got {value[:40]!r}")
        value = int(value)
    if not 0 < value <= MAX_TIMER_ID:
        raise InvalidField(key, f"must be between 1 and {MAX_TIMER_ID}, got {value}")
    return value


def schedule(data: Mapping[str, Any]) -> Schedule:
    cron = data.get("cron")
    if cron is None:
        raise InvalidField("cron", "is required, e.g. \"*/5 * * * *\" (every 5 minutes)")
    tz = data.get("timezone")
    tz = "UTC" if tz is None else tz
    return schedule_from(cron, check_timezone(tz))


def check_timezone(tz: Any) -> str:
    if not isinstance(tz, str) or not tz.strip():
        raise InvalidField(
            "timezone", "must be an IANA time zone name such as UTC, Europe/Berlin or America/New_York",
            ErrorCode.INVALID_TIMEZONE,
        )
    if len(tz) > MAX_TIMEZONE_LENGTH:
        raise InvalidField("timezone", f"is longer than {MAX_TIMEZONE_LENGTH} characters",
                           ErrorCode.INVALID_TIMEZONE)
    try:
        ZoneInfo(tz.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField(
            "timezone", f"{tz!r} is not a known IANA time zone; use e.g. UTC, Europe/Berlin, Asia/Shanghai",
            ErrorCode.INVALID_TIMEZONE,
        ) from None
    return tz.strip()


def status(data: Mapping[str, Any]) -> int:
    value = data.get("status")
    if value is None:
        return STATUS_DISABLED
    if isinstance(value, str) and value.strip() in {"1", "2"}:
        value = int(value)
    if isinstance(value, bool) or value not in (STATUS_DISABLED, STATUS_ENABLED):
        raise InvalidField("status", f"must be 1 (disabled) or 2 (enabled), got {value!r}")
    return int(value)


def notify_params(data: Mapping[str, Any]) -> NotifyParams:
    """`notifyHTTPParam`, given as a JSON object or (as in the spec's example) a string of JSON."""
    raw = data.get("notifyHTTPParam")
    if raw is None:
        raise InvalidField("notifyHTTPParam", "is required: an object with url and method")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidField(
                "notifyHTTPParam", "is a string but not valid JSON; send an object or a JSON string of one"
            ) from None
    if not isinstance(raw, dict):
        raise InvalidField("notifyHTTPParam", f"must be an object, not {_json_type(raw)}")
    url = callback_url(raw)
    method = text(raw, "method", 10, label="notifyHTTPParam.method").upper()  # type: ignore[union-attr]
    if method not in METHODS:
        raise InvalidField("notifyHTTPParam.method", f"{method!r} is not supported; use one of {', '.join(METHODS)}")
    return NotifyParams(url=url, method=method, header=headers(raw), body=body(raw))


def callback_url(raw: Mapping[str, Any]) -> str:
    label = "notifyHTTPParam.url"
    url: str = text(raw, "url", MAX_URL_LENGTH, label=label)  # type: ignore[assignment]  # required: never None
    if re.search(r"\s", url):
        raise InvalidField(label, "must not contain spaces; percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise InvalidField(label, f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidField(label, f"must start with http:// or https://, got {url[:40]!r}")
    if not parts.hostname:
        raise InvalidField(label, "has no host name, e.g. https://example.com/hook")
    if parts.username or parts.password:
        raise InvalidField(label, "must not carry a user name or password; put credentials in a header")
    reason = callback_policy.refusal(parts.hostname)
    if reason:
        raise InvalidField(label, reason)
    return url


def headers(raw: Mapping[str, Any]) -> dict[str, str]:
    label = "notifyHTTPParam.header"
    value = raw.get("header")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(label, f"must be an object of string to string, not {_json_type(value)}")
    if len(value) > MAX_HEADERS:
        raise InvalidField(label, f"has {len(value)} entries; at most {MAX_HEADERS} are allowed")
    checked: dict[str, str] = {}
    for name, val in value.items():
        if not _HEADER_NAME.match(name) or len(name) > MAX_HEADER_NAME_LENGTH:
            raise InvalidField(label, f"{name[:60]!r} is not a valid header name (letters, digits and -_. only)")
        if name.lower().startswith("x-xtimer-"):
            raise InvalidField(label, f"{name!r}: X-Xtimer-* headers are set by the service and cannot be given")
        if not isinstance(val, str):
            raise InvalidField(label, f"{name}: the value must be a string, not {_json_type(val)}")
        if len(val) > MAX_HEADER_VALUE_LENGTH:
            raise InvalidField(label, f"{name}: the value is longer than {MAX_HEADER_VALUE_LENGTH} characters")
        if "\r" in val or "\n" in val or "\x00" in val:
            raise InvalidField(label, f"{name}: the value must not contain line breaks")
        checked[name] = val
    return checked


def body(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("body")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField("notifyHTTPParam.body", f"must be a string, not {_json_type(value)}; "
                           "to send JSON, send it as a string")
    if len(value.encode("utf-8")) > MAX_BODY_BYTES:
        raise InvalidField("notifyHTTPParam.body", f"is larger than {MAX_BODY_BYTES} bytes")
    return value


def timer_spec(data: Mapping[str, Any]) -> TimerSpec:
    """A creatTimer request, checked field by field in the order the spec lists them."""
    return TimerSpec(
        app=app_name(data),
        name=text(data, "name", MAX_NAME_LENGTH),  # type: ignore[arg-type]
        schedule=schedule(data),
        notify=notify_params(data),
        status=status(data),
    )


MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_PREVIEW_COUNT = 50


def bounded_int(data: Mapping[str, Any], key: str, low: int, high: int, default: int | None) -> int | None:
    """An optional integer query or body field within [low, high]."""
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(key, f"must be an integer from {low} to {high}, got {str(value)[:40]!r}")
    return value


def page_size(data: Mapping[str, Any]) -> int:
    return bounded_int(data, "pageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)  # type: ignore[return-value]


def optional_text(data: Mapping[str, Any], key: str, max_length: int) -> str | None:
    return text(data, key, max_length, required=False)


def version(data: Mapping[str, Any]) -> int | None:
    return bounded_int(data, "version", 1, 2**53 - 1, None)


def changes(data: Mapping[str, Any]) -> Changes:
    """updateTimer's fields, each checked as creatTimer checks it."""
    cron = data.get("cron")
    if cron is not None and (not isinstance(cron, str) or not cron.strip()):
        raise InvalidField("cron", "must be a non-empty string, e.g. \"*/5 * * * *\"", ErrorCode.INVALID_CRON)
    found = Changes(
        name=text(data, "name", MAX_NAME_LENGTH, required=False),
        cron=cron.strip() if isinstance(cron, str) else None,
        timezone=check_timezone(data["timezone"]) if data.get("timezone") is not None else None,
        notify=notify_params(data) if data.get("notifyHTTPParam") is not None else None,
    )
    if found == Changes():
        raise XtimerError(ErrorCode.INVALID_REQUEST,
                          "nothing to change: give at least one of name, cron, timezone, notifyHTTPParam")
    return found

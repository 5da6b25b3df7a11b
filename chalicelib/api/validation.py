"""Turns untrusted request input into checked values, or an error that names the field.

A request's fields are pydantic models (chalicelib.api.requests), the same ones /openapi.json is
generated from; their limits are chalicelib.api.limits (re-exported here), documented in
docs/api.md ("Limits"): change both together.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from chalicelib.api.field_errors import parse
from chalicelib.api.fields import LONE_SURROGATE, NESTED_TOO_DEEPLY, json_type, lone_surrogate
from chalicelib.api.limits import MAX_REQUEST_BYTES
from chalicelib.api.requests import AppRef, CreateTimerRequest
from chalicelib.errors import ErrorCode, InvalidField, XtimerError
from chalicelib.timers.spec import TimerSpec

__all__ = ["parse", "parse_json_body", "app_name", "timer_spec"]


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
    except RecursionError:
        raise XtimerError(ErrorCode.INVALID_REQUEST, f"the request body {NESTED_TOO_DEEPLY}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise XtimerError(
            ErrorCode.INVALID_REQUEST, f"the request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise XtimerError(
            ErrorCode.INVALID_REQUEST,
            f"the request body must be a JSON object, not {json_type(value)}",
        )
    path = lone_surrogate(value)
    if path is not None:
        raise InvalidField(path, LONE_SURROGATE)
    return value


def app_name(data: Mapping[str, Any]) -> str:
    """The `app` field of a query string or a body."""
    return parse(AppRef, data).app


def timer_spec(data: Mapping[str, Any]) -> TimerSpec:
    """A creatTimer request, checked field by field in the order the spec lists them."""
    return parse(CreateTimerRequest, data).spec()

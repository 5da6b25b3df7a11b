"""The HTTP API: turns requests into calls on the timer store and replies into the envelope.

Every reply, error or not, is `{code, message[, data]}`; see chalicelib.errors for the codes.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import uuid
from typing import Any, Callable, Mapping

from chalice import Response

from chalicelib import envelope, validation
from chalicelib.errors import ErrorCode, XtimerError
from chalicelib.wiring import services

log = logging.getLogger(__name__)

_CHALICE_ERRORS = {
    "BadRequestError": ErrorCode.INVALID_REQUEST,
    "UnauthorizedError": ErrorCode.UNAUTHORIZED,
    "ForbiddenError": ErrorCode.FORBIDDEN,
    "NotFoundError": ErrorCode.ROUTE_NOT_FOUND,
    "MethodNotAllowedError": ErrorCode.METHOD_NOT_ALLOWED,
    "UnsupportedMediaType": ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    "TooManyRequestsError": ErrorCode.QUOTA_EXCEEDED,
}


def reply(data: Any = None, status: int = 200) -> Response:
    return Response(body=envelope.ok(data), status_code=status, headers={"Content-Type": "application/json"})


def error_reply(err: XtimerError) -> Response:
    return Response(body=envelope.error(err), status_code=err.http_status,
                    headers={"Content-Type": "application/json"})


def endpoint(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Domain errors become their envelope; anything unexpected is logged with an incident id and
    answered 500 without internals (Chalice would answer its own shape before any middleware)."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        try:
            return handler(*args, **kwargs)
        except XtimerError as err:
            return error_reply(err)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s", incident)
            return error_reply(XtimerError(
                ErrorCode.INTERNAL, f"internal error (incident {incident}); the request may be retried"))

    return wrapped


def envelope_middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own error replies (405, 415, ...) re-wrapped in the envelope."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "code" not in body:
        code = _CHALICE_ERRORS.get(str(body.get("Code")), ErrorCode.INTERNAL)
        if code is ErrorCode.INTERNAL:
            log.error("unexpected Chalice error reply: %s", body)
            return error_reply(XtimerError(code, "internal error; the request may be retried"))
        return Response(body={"code": int(code), "message": str(body.get("Message", ""))},
                        status_code=response.status_code, headers={"Content-Type": "application/json"})
    return response


@endpoint
def health() -> Response:
    return reply({"status": "ok"})


@endpoint
def create_timer(raw_body: bytes | None) -> Response:
    spec = validation.timer_spec(validation.parse_json_body(raw_body))
    timer = services().timers.create(spec)
    return reply({"timerId": int(timer.id)})


@endpoint
def enable_timer(query: Mapping[str, str]) -> Response:
    app = validation.app_name(query)
    timer_id = validation.timer_id(query)
    services().timers.enable(app, timer_id)
    return reply()


def report(value: Any) -> dict[str, Any]:
    """A dataclass report as plain JSON-able data (the scheduled handlers' return value)."""
    return json.loads(json.dumps(dataclasses.asdict(value), default=str))

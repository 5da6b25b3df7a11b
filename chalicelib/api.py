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

from chalicelib import envelope, openapi, pagination, validation, views
from chalicelib.errors import ErrorCode, TimerNotFound, XtimerError
from chalicelib.timers import schedule_of
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


def _timer_ref(query: Mapping[str, str]) -> tuple[str, int]:
    return validation.app_name(query), validation.timer_id(query)


@endpoint
def disable_timer(query: Mapping[str, str]) -> Response:
    services().timers.disable(*_timer_ref(query))
    return reply()


@endpoint
def get_timer(query: Mapping[str, str]) -> Response:
    app, timer_id = _timer_ref(query)
    parts = services()
    timer = parts.timers.get(app, timer_id)
    schedule = schedule_of(timer)
    data = views.timer_view(timer)
    data["description"] = schedule.describe()
    data["nextFireTimes"] = [views.rfc3339(t) for t in schedule.next_fires(int(parts.clock()) + 1, 5)]
    data["recent"] = parts.tasks.recent_counts(timer_id, app)
    return reply(data)


@endpoint
def get_app_timers(query: Mapping[str, str]) -> Response:
    app = validation.app_name(query)
    size = validation.page_size(query)
    name = validation.optional_text(query, "name", validation.MAX_NAME_LENGTH)
    after = pagination.decode("timers", query.get("pageToken"))
    store = services().timers
    page = store.list(app, page_size=size, after_id=after, name_contains=name)
    data: dict[str, Any] = {"timers": [views.timer_view(t) for t in page.timers]}
    if page.next_id is not None:
        data["nextPageToken"] = pagination.encode("timers", page.next_id)
    if name is None:
        data["total"] = store.count(app)
    return reply(data)


@endpoint
def update_timer(raw_body: bytes | None) -> Response:
    body = validation.parse_json_body(raw_body)
    app, timer_id = _timer_ref(body)
    timer = services().timers.update(app, timer_id, validation.changes(body), validation.version(body))
    return reply(views.timer_view(timer))


@endpoint
def delete_timer(query: Mapping[str, str]) -> Response:
    services().timers.delete(*_timer_ref(query))
    return reply()


@endpoint
def get_tasks(query: Mapping[str, str]) -> Response:
    app, timer_id = _timer_ref(query)
    size = validation.page_size(query)
    status = validation.bounded_int(query, "status", 0, 4, None)
    before = pagination.decode("tasks", query.get("pageToken"))
    parts = services()
    try:
        parts.timers.get(app, timer_id)
        exists = True
    except TimerNotFound:
        exists = False  # deleted: its records stay until they expire, for its own app only
    items, next_ms = parts.tasks.history(timer_id, app, page_size=size, before_ms=before, status=status)
    if not exists and not items and before is None:
        raise TimerNotFound(timer_id, app)
    data: dict[str, Any] = {"tasks": [views.task_view(t) for t in items]}
    if next_ms is not None:
        data["nextPageToken"] = pagination.encode("tasks", next_ms)
    return reply(data)


@endpoint
def trigger_timer(query: Mapping[str, str]) -> Response:
    fire = services().timers.trigger(*_timer_ref(query))
    return reply({"timerId": fire.timer_id, "fireTime": views.rfc3339_ms(fire.fire_ms),
                  "idempotencyKey": fire.idempotency_key})


@endpoint
def preview_cron(raw_body: bytes | None) -> Response:
    body = validation.parse_json_body(raw_body)
    schedule = validation.schedule(body)
    count = validation.bounded_int(body, "count", 1, validation.MAX_PREVIEW_COUNT, 5)
    assert count is not None
    now = int(services().clock()) + 1
    return reply({
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "description": schedule.describe(),
        "nextFireTimes": [views.rfc3339(t) for t in schedule.next_fires(now, count)],
    })


def openapi_document() -> dict[str, Any]:
    return openapi.document()


def report(value: Any) -> dict[str, Any]:
    """A dataclass report as plain JSON-able data (the scheduled handlers' return value)."""
    return json.loads(json.dumps(dataclasses.asdict(value), default=str))

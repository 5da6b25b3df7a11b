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

from chalicelib.api import auth, cross_site, envelope, openapi, pagination, replies, validation, views
from chalicelib.api.field_errors import R
from chalicelib.api.requests import (AppActivityQuery, AppTimersQuery, CreateTimerRequest, PreviewCronRequest, TasksQuery, TimerRef,
                                     UpdateTimerRequest)
from chalicelib.clock import rfc3339, rfc3339_ms
from chalicelib.errors import ErrorCode, InvalidField, ServiceUnavailable, TimerNotFound, XtimerError
from chalicelib.storage.transient import is_transient
from chalicelib.timers.activity import app_activity
from chalicelib.timers.options import OptionError, check_options
from chalicelib.timers.status import STATUS_COMPLETED
from chalicelib.timers.store import schedule_of
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


def reply(data: replies.Reply | None = None, status: int = 200) -> Response:
    return Response(body=envelope.ok(None if data is None else data.dump()), status_code=status, headers={"Content-Type": "application/json"})


def error_reply(err: XtimerError) -> Response:
    headers = {"Content-Type": "application/json"}
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(body=envelope.error(err), status_code=err.http_status, headers=headers)


class Call:
    """What a handler gets of an HTTP request: query, raw body, headers, and the caller's app
    (from the API key; None when authentication is off)."""

    def __init__(self, request: Any, caller: str | None) -> None:
        self.query: Mapping[str, str] = getattr(request, "query_params", None) or {}
        self.raw_body: bytes | None = getattr(request, "raw_body", None)
        self.caller = caller

    def json(self) -> dict[str, Any]:
        return validation.parse_json_body(self.raw_body)

    def app(self, data: Mapping[str, Any] | None = None) -> str:
        """The `app` the call names (query, or `data`), checked against the caller's key."""
        app = validation.app_name(self.query if data is None else data)
        auth.authorize(self.caller, app)
        return app

    def parse(self, model: type[R], data: Mapping[str, Any] | None = None) -> R:
        """The query (or `data`) as a `model`, once its `app` is the caller's: a caller learns
        nothing of a request for another app, not even what is wrong with it."""
        self.app(data)
        return validation.parse(model, self.query if data is None else data)

    def timer_ref(self) -> tuple[str, int]:
        ref = self.parse(TimerRef)
        return ref.app, ref.id


def endpoint(public: bool = False) -> Callable[[Callable[[Call], Response]], Callable[[Any], Response]]:
    """Wrap a handler: authenticate (unless `public`), turn domain errors into their envelope, and
    answer anything unexpected with a 500 and an incident id in the logs, without internals
    (Chalice would answer its own shape before any middleware sees it), or with a 503 when it
    is AWS throttling or failing in passing (storage/transient.py)."""

    def decorate(handler: Callable[[Call], Response]) -> Callable[[Any], Response]:
        @functools.wraps(handler)
        def wrapped(request: Any) -> Response:
            try:
                headers = getattr(request, "headers", None) or {}
                if not public:
                    cross_site.refuse_cross_site(headers)
                caller = None if public else auth.authenticate(headers, services().keys)
                return handler(Call(request, caller))
            except XtimerError as err:
                return error_reply(err)
            except Exception as exc:
                incident = uuid.uuid4().hex[:12]
                if is_transient(exc):  # throttled or a passing AWS failure, after the SDK's retries
                    log.warning("unavailable %s: %r", incident, exc, exc_info=True)
                    return error_reply(ServiceUnavailable(incident))
                log.exception("internal error %s", incident)
                return error_reply(XtimerError(
                    ErrorCode.INTERNAL, f"internal error (incident {incident}); the request may be retried"))

        return wrapped

    return decorate


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


@endpoint(public=True)
def health(call: Call) -> Response:
    return reply(replies.Health(status="ok"))


@endpoint()
def create_timer(call: Call) -> Response:
    spec = validation.parse(CreateTimerRequest, call.json()).spec()
    auth.authorize(call.caller, spec.app)
    timer = services().timers.create(spec)
    return reply(replies.Created(timerId=int(timer.id)))


@endpoint()
def enable_timer(call: Call) -> Response:
    services().timers.enable(*call.timer_ref())
    return reply()


@endpoint()
def disable_timer(call: Call) -> Response:
    services().timers.disable(*call.timer_ref())
    return reply()


@endpoint()
def get_timer(call: Call) -> Response:
    app, timer_id = call.timer_ref()
    parts = services()
    timer = parts.timers.get(app, timer_id)
    schedule = schedule_of(timer)
    counts, newest = parts.tasks.recent(timer_id, app)  # one Query: the counts and the newest task
    return reply(replies.TimerDetail(
        **dict(views.timer_view(timer)),
        description=schedule.describe(),
        nextFireTimes=[] if timer.status == STATUS_COMPLETED else
        [rfc3339(t) for t in schedule.next_fires(int(parts.clock()) + 1, 5)],
        recent=replies.RecentCounts(**counts),
        lastFire=None if newest is None else views.last_fire_view(newest),
    ))


@endpoint()
def get_app_timers(call: Call) -> Response:
    query = call.parse(AppTimersQuery)
    app, name = query.app, query.name
    after = pagination.decode("timers", query.pageToken)
    store = services().timers
    page = store.list(app, page_size=query.pageSize, after_id=after, name_contains=name)
    data = replies.TimerPage(timers=[views.timer_view(t) for t in page.timers])
    if page.next_id is not None:
        data.nextPageToken = pagination.encode("timers", page.next_id)
    if name is None:
        data.total = store.count(app)
    return reply(data)


@endpoint()
def update_timer(call: Call) -> Response:
    request = call.parse(UpdateTimerRequest, call.json())
    timer = services().timers.update(request.app, request.id, request.changes(), request.version)
    return reply(views.timer_view(timer))


@endpoint()
def delete_timer(call: Call) -> Response:
    services().timers.delete(*call.timer_ref())
    return reply()


@endpoint()
def get_tasks(call: Call) -> Response:
    query = call.parse(TasksQuery)
    app, timer_id = query.app, query.id
    before = pagination.decode("tasks", query.pageToken)
    parts = services()
    # Whose timer this is, whatever the token: another app's is not found, at once (the time of
    # a tasks query would tell it exists). A deleted timer's records stay until they expire, for
    # its own app only.
    owner = parts.timers.owner(timer_id)
    if owner is None:
        owner = parts.tasks.owner(timer_id)
    if owner != app:
        raise TimerNotFound(timer_id, app)
    items, next_ms = parts.tasks.history(timer_id, app, page_size=query.pageSize, before_ms=before,
                                          status=query.status)
    data = replies.TaskPage(tasks=[views.task_view(t) for t in items])
    if next_ms is not None:
        data.nextPageToken = pagination.encode("tasks", next_ms)
    return reply(data)


@endpoint()
def get_app_activity(call: Call) -> Response:
    """The console's last-hour view of an app: fires, failures and lateness, from its task records."""
    query = call.parse(AppActivityQuery)
    now_ms = int(services().clock() * 1000)
    return reply(views.activity_view(app_activity(query.app, now_ms, query.minutes)))


@endpoint()
def trigger_timer(call: Call) -> Response:
    fire = services().timers.trigger(*call.timer_ref())
    return reply(replies.Triggered(timerId=fire.timer_id, fireTime=rfc3339_ms(fire.fire_ms),
                                   idempotencyKey=fire.idempotency_key))


@endpoint()
def preview_cron(call: Call) -> Response:
    request = validation.parse(PreviewCronRequest, call.json())
    now = int(services().clock()) + 1
    try:
        check_options(request.cron, request.options(), now)
    except OptionError as exc:
        raise InvalidField(exc.field, str(exc)) from None
    schedule, count = request.schedule(now), request.count
    return reply(replies.CronPreview(
        cron=schedule.cron,
        timezone=schedule.timezone,
        description=schedule.describe(),
        nextFireTimes=[rfc3339(t) for t in schedule.next_fires(now, count)],
    ))


@endpoint()
def get_signing_secret(call: Call) -> Response:
    app = call.app()
    item = services().signing.load(app)
    data = replies.SigningSecret(app=app, signingSecret=item.signing_secret)
    if item.previous_secret and (item.previous_until or 0) > services().clock():
        data.previousSecret = item.previous_secret
        data.previousUntil = rfc3339(int(item.previous_until))
    return reply(data)


@endpoint(public=True)
def openapi_document(call: Call) -> Response:
    return Response(body=openapi.document(), status_code=200, headers={"Content-Type": "application/json"})


def report(value: Any) -> dict[str, Any]:
    """A dataclass report as plain JSON-able data (the scheduled handlers' return value)."""
    return json.loads(json.dumps(dataclasses.asdict(value), default=str))

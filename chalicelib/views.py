"""Timers and tasks as the API shows them (camelCase, RFC 3339 times)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pynamodb.attributes import MapAttribute

from chalicelib.models import TaskModel, TimerModel
from chalicelib.tasks import STATUS_NAMES


def rfc3339_ms(epoch_ms: int | float | None) -> str | None:
    """`2026-11-25T08:00:00.123Z`; whole seconds are written without a fraction."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(int(epoch_ms) / 1000, timezone.utc)
    if int(epoch_ms) % 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch_ms) % 1000:03d}Z"


def rfc3339(epoch_s: int) -> str:
    return rfc3339_ms(epoch_s * 1000)  # type: ignore[return-value]


def headers_of(timer: TimerModel) -> dict[str, str]:
    header = timer.notify.header
    return dict(header.attribute_values) if isinstance(header, MapAttribute) else dict(header or {})


def timer_view(timer: TimerModel) -> dict[str, Any]:
    return {
        "timerId": int(timer.id),
        "app": timer.app,
        "name": timer.name,
        "cron": timer.cron,
        "timezone": timer.timezone,
        "status": int(timer.status),
        "version": int(timer.version),
        "notifyHTTPParam": {
            "url": timer.notify.url,
            "method": timer.notify.method,
            "header": headers_of(timer),
            "body": timer.notify.body,
        },
        "createdAt": rfc3339_ms(timer.created_at),
        "updatedAt": rfc3339_ms(timer.updated_at),
    }


def task_view(task: TaskModel) -> dict[str, Any]:
    return {
        "timerId": int(task.timer_id),
        "fireTime": rfc3339_ms(task.fire_ms),
        "fireMs": int(task.fire_ms),
        "status": int(task.status),
        "statusName": STATUS_NAMES.get(int(task.status), "unknown"),
        "attempts": int(task.attempts or 0),
        "httpStatus": None if task.http_status is None else int(task.http_status),
        "durationMs": None if task.duration_ms is None else int(task.duration_ms),
        "error": task.error,
        "responseBody": task.response_body,
        "manual": bool(task.manual),
        "startedAt": rfc3339_ms(task.started_at),
        "finishedAt": rfc3339_ms(task.finished_at),
    }

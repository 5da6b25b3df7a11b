"""Timers and tasks as the API shows them (camelCase, RFC 3339 times): the reply models of
chalicelib.api.replies, filled from the stored items."""
from __future__ import annotations

from chalicelib.api import replies
from chalicelib.api.replies import Callback, FailureCallbackOutcome, LastFire, RetryPolicy, Task, Timer
from chalicelib.clock import rfc3339, rfc3339_ms
from chalicelib.fires.tasks import STATUS_NAMES
from chalicelib.storage.models import TaskModel, TimerModel, headers_of
from chalicelib.timers import activity
from chalicelib.timers.delivery_options import delivery_of


def timer_view(timer: TimerModel) -> Timer:
    delivery = delivery_of(timer)
    given = {"maxAttempts": delivery.max_attempts, "maxAgeSeconds": delivery.max_age_seconds,
             "minBackoffSeconds": delivery.min_backoff_seconds, "maxBackoffSeconds": delivery.max_backoff_seconds,
             "retryOn": None if delivery.retry_on is None else list(delivery.retry_on)}
    retry = RetryPolicy(**{name: value for name, value in given.items() if value is not None})  # only what is set
    failure = delivery.failure_callback
    return Timer(
        timerId=int(timer.id),
        app=timer.app,
        name=timer.name,
        cron=timer.cron,
        timezone=timer.timezone,
        status=int(timer.status),
        version=int(timer.version),
        notifyHTTPParam=Callback(url=timer.notify.url, method=timer.notify.method, header=headers_of(timer),
                                 body=timer.notify.body),
        createdAt=rfc3339_ms(timer.created_at),
        updatedAt=rfc3339_ms(timer.updated_at),
        startAt=None if timer.start_at is None else rfc3339(int(timer.start_at)),
        endAt=None if timer.end_at is None else rfc3339(int(timer.end_at)),
        maxFires=None if timer.max_fires is None else int(timer.max_fires),
        jitterSeconds=None if timer.jitter_seconds is None else int(timer.jitter_seconds),
        deleteAfterCompletion=bool(timer.delete_after_completion),
        misfirePolicy=timer.misfire_policy,
        catchUpSeconds=None if timer.catch_up_seconds is None else int(timer.catch_up_seconds),
        overlapPolicy=timer.overlap_policy,
        retryPolicy=retry if retry.model_fields_set else None,
        timeoutSeconds=delivery.timeout_seconds,
        failureCallback=None if failure is None else Callback(**failure),
        pauseAfterFailures=delivery.pause_after_failures,
        consecutiveFailures=int(timer.consecutive_failures or 0),
        statusReason=timer.status_reason,
        pausedAt=None if timer.paused_at is None else rfc3339_ms(timer.paused_at),
    )


def task_view(task: TaskModel) -> Task:
    return Task(
        timerId=int(task.timer_id),
        fireTime=rfc3339_ms(task.fire_ms),
        fireMs=int(task.fire_ms),
        status=int(task.status),
        statusName=STATUS_NAMES.get(int(task.status), "unknown"),
        attempts=int(task.attempts or 0),
        httpStatus=None if task.http_status is None else int(task.http_status),
        durationMs=None if task.duration_ms is None else int(task.duration_ms),
        error=task.error,
        responseBody=task.response_body,
        manual=bool(task.manual),
        startedAt=rfc3339_ms(task.started_at),
        finishedAt=rfc3339_ms(task.finished_at),
        overlapPolicy=task.overlap_policy,
        scheduledAt=rfc3339_ms(task.fire_ms),
        sentAt=rfc3339_ms(task.sent_at),
        latenessMs=None if task.sent_at is None else int(task.sent_at) - int(task.fire_ms),
        failureCallback=_failure_callback_view(task),
    )


def _counts(counts: activity.Counts) -> dict[str, int]:
    return {"fires": counts.fires, "succeeded": counts.succeeded, "failed": counts.failed, "missed": counts.missed,
            "skipped": counts.skipped, "underWay": counts.under_way}


def _lateness(values: list[int]) -> replies.Lateness:
    return replies.Lateness(count=len(values), p50Ms=activity.percentile(values, 50),
                            p95Ms=activity.percentile(values, 95), p99Ms=activity.percentile(values, 99),
                            maxMs=values[-1] if values else None)


def activity_view(found: activity.AppActivity) -> replies.AppActivity:
    return replies.AppActivity(
        app=found.app, since=rfc3339_ms(found.since_ms), until=rfc3339_ms(found.until_ms),
        totals=replies.ActivityCounts(**_counts(found.totals)), lateness=_lateness(found.lateness_ms),
        minutes=[replies.ActivityMinute(start=rfc3339_ms(start), **_counts(counts)) for start, counts in found.minutes],
        timers=[replies.TimerActivity(timerId=t.timer_id, name=t.name, lateness=_lateness(t.lateness_ms),
                                      **_counts(t.counts)) for t in found.timers],
        timersRead=found.timers_read, partial=found.partial)


def _failure_callback_view(task: TaskModel) -> FailureCallbackOutcome | None:
    stored = task.failure_callback
    if stored is None:
        return None
    values = stored.as_dict() if hasattr(stored, "as_dict") else dict(stored)

    def number(name: str) -> int | None:
        return None if values.get(name) is None else int(values[name])

    return FailureCallbackOutcome(sentAt=rfc3339_ms(number("sent_at")), httpStatus=number("http_status"),
                                  error=values.get("error"), durationMs=number("duration_ms"))


def last_fire_view(task: TaskModel) -> LastFire:
    return LastFire(fireTime=rfc3339_ms(task.fire_ms), status=int(task.status),
                    statusName=STATUS_NAMES.get(int(task.status), "unknown"),
                    httpStatus=None if task.http_status is None else int(task.http_status),
                    attempts=int(task.attempts or 0), error=task.error, finishedAt=rfc3339_ms(task.finished_at))

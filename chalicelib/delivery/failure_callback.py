"""What follows a fire failed for good (issue 16): the timer's run of failures is counted, the
timer paused once it reaches pauseAfterFailures, and its failureCallback, if it has one, called.

The failure callback is made once, right after the fire was marked failed (only by the worker
whose give-up marked it, so a redelivered message does not call it twice), with the same SSRF
checks and signatures as the timer's own callback (chalicelib.delivery.notifier), and a JSON
body of FailureReport's shape. It is never retried, and its own failure is only recorded on the
fire's task record (`failureCallback`): nothing can loop. A worker that dies between marking the
fire failed and calling makes no call (at most once).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.apps.secrets import SigningSecrets
from chalicelib.clock import Clock, rfc3339_ms, to_ms
from chalicelib.delivery.notifier import Callback, Delivery, Notifier
from chalicelib.delivery.redaction import credential_values, redact_outcome
from chalicelib.fires.fire import Fire
from chalicelib.fires.tasks import TaskRecords
from chalicelib.storage.models import TaskModel, TimerModel
from chalicelib.timers import failures
from chalicelib.timers.delivery_options import FAILURE_CALLBACK_TIMEOUT_SECONDS, delivery_of

log = logging.getLogger(__name__)

EVENT = "xtimer.fire.failed"


def report(timer: TimerModel, fire: Fire, task: TaskModel | None, reason: str, consecutive: int,
           paused: bool, body: str | None) -> dict[str, Any]:
    """The failure callback's JSON body (docs/api.md, "Failure callbacks")."""
    last = None
    if task is not None and int(task.attempts or 0):
        last = {"attempt": int(task.attempts), "httpStatus": None if task.http_status is None else int(task.http_status),
                "error": task.error, "durationMs": None if task.duration_ms is None else int(task.duration_ms),
                "sentAt": rfc3339_ms(task.sent_at), "responseBody": task.response_body}
    document: dict[str, Any] = {
        "event": EVENT,
        "reason": reason,
        "timer": {"timerId": int(timer.id), "app": timer.app, "name": timer.name, "url": timer.notify.url,
                  "method": timer.notify.method},
        "fire": {"fireTime": rfc3339_ms(fire.fire_ms), "fireMs": fire.fire_ms, "idempotencyKey": fire.idempotency_key,
                 "manual": fire.manual},
        "attempts": 0 if task is None else int(task.attempts or 0),
        "lastAttempt": last,
        "consecutiveFailures": consecutive,
        "paused": paused,
        "statusReason": getattr(timer, "status_reason", None) if paused else None,
    }
    if body is not None:
        document["body"] = body
    return document


class AfterFailure:
    """Run by the worker for each fire it marked failed for good."""

    def __init__(self, notifier: Notifier, tasks: TaskRecords, signing: SigningSecrets, clock: Clock) -> None:
        self._notifier, self._tasks, self._signing, self._clock = notifier, tasks, signing, clock

    def fire_failed(self, fire: Fire, reason: str, timer: TimerModel | None) -> None:
        try:
            self._fire_failed(fire, reason, timer)
        except Exception:  # noqa: BLE001 - the fire is failed and dead-lettered either way
            log.exception("after fire %s failed for good: counting, pausing or its failure callback broke",
                          fire.idempotency_key)

    def _fire_failed(self, fire: Fire, reason: str, timer: TimerModel | None) -> None:
        if timer is None:
            timer = TimerModel.get(fire.timer_id, consistent_read=True)
        options = delivery_of(timer)
        task = self._tasks.get(fire.timer_id, fire.fire_ms)
        consecutive = failures.count_failure(fire.timer_id)
        paused = failures.pause_if_due(fire.timer_id, fire.app, consecutive, options.pause_after_failures,
                                       None if task is None else task.error, clock=self._clock)
        if options.failure_callback is None:
            return
        if paused:
            timer = TimerModel.get(fire.timer_id, consistent_read=True)  # its status reason
        spec = options.failure_callback
        headers = dict(spec.get("header") or {})
        document = report(timer, fire, task, reason, consecutive, paused, spec.get("body"))
        secrets = self._signing.for_app(fire.app)
        callback = Callback(url=spec["url"], method=spec["method"], headers=headers,
                            body=json.dumps(document, separators=(",", ":")))
        sent_ms = to_ms(self._clock())
        outcome = self._notifier.notify(
            callback,
            Delivery(timer_id=fire.timer_id, fire_time=int(fire.fire_time), attempt=1,
                     idempotency_key=f"{fire.idempotency_key}-failed", signing_secrets=secrets),
            timeout=FAILURE_CALLBACK_TIMEOUT_SECONDS)
        outcome = redact_outcome(outcome, credential_values(headers, secrets))
        self._tasks.record_failure_callback(fire, outcome, sent_ms)
        log.info("failure callback of fire %s: %s", fire.idempotency_key,
                 "ok" if outcome.ok else outcome.error)

"""Structured logs: one JSON object per line, through aws-lambda-powertools' formatter.

`use_json_logs()` puts the formatter on the root logger's handlers (Lambda's own handler when
deployed), so every `logging.getLogger(__name__)` of the service writes JSON with its level,
location, timestamp and the invocation's request id. `fire_outcome()` is the one line per fire
outcome an on-call engineer searches for. Neither carries a header value, a request or response
body, or a secret: only the fields named below, and the error text, which the worker has already
redacted (chalicelib.delivery.redaction).
"""
from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.clock import rfc3339_ms

_request_id: str | None = None
"""The Lambda invocation (or API request) being handled: Lambda runs one at a time per process."""


def set_request_id(request_id: str | None) -> None:
    global _request_id
    _request_id = request_id


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id
        return True


def json_formatter() -> logging.Formatter:
    return LambdaPowertoolsFormatter(service="xtimer", utc=True, use_rfc3339=True)


def use_json_logs(logger: logging.Logger | None = None) -> None:
    """JSON lines on `logger`'s handlers (default: the root logger's; none there: nothing to do)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        handler.setFormatter(json_formatter())
        if not any(isinstance(f, _RequestId) for f in handler.filters):
            handler.addFilter(_RequestId())


fire_log = logging.getLogger("chalicelib.observability.fires")


def fire_outcome(*, outcome: str, timer_id: int, app: str, fire_ms: int, attempt: int, idempotency_key: str,
                 http_status: int | None, lateness_ms: int | None, duration_ms: int, error: str | None) -> None:
    """One line per fire outcome: `delivered`, `retry` or `failed`."""
    fields: dict[str, Any] = {
        "event": "fire_outcome", "outcome": outcome, "timer_id": timer_id, "app": app,
        "fire_time": rfc3339_ms(fire_ms), "attempt": attempt, "idempotency_key": idempotency_key,
        "http_status": http_status, "lateness_ms": lateness_ms, "duration_ms": duration_ms, "error": error,
    }
    level = logging.INFO if outcome == "delivered" else logging.WARNING
    fire_log.log(level, "fire %s %s (attempt %s)", idempotency_key, outcome, attempt, extra=fields)

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
import sys
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


def use_json_logs(*loggers: logging.Logger) -> None:
    """JSON lines on the handlers of `loggers` (default: the root logger, given a stdout handler if
    it has none: Lambda's runtime installs one, a bare Python process does not)."""
    if not loggers:
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.StreamHandler(sys.stdout))
        loggers = (root,)
    for handler in (h for logger in loggers for h in logger.handlers):
        handler.setFormatter(json_formatter())
        if not any(isinstance(f, _RequestId) for f in handler.filters):
            handler.addFilter(_RequestId())


fire_log = logging.getLogger("chalicelib.observability.fires")


def fire_outcome(*, outcome: str, timer_id: int, app: str, fire_ms: int, attempt: int, idempotency_key: str,
                 http_status: int | None, lateness_ms: int, duration_ms: int, error: str | None,
                 retry_in_s: int | None = None) -> None:
    """One line per attempt's outcome: `delivered`, `retry` (in `retry_in_s`) or `failed` (for good)."""
    fields: dict[str, Any] = {
        "event": "fire_outcome", "outcome": outcome, "timer_id": timer_id, "app": app,
        "fire_time": rfc3339_ms(fire_ms), "attempt": attempt, "idempotency_key": idempotency_key,
        "http_status": http_status, "lateness_ms": lateness_ms, "duration_ms": duration_ms, "error": error,
    }
    if retry_in_s is not None:
        fields["retry_in_s"] = retry_in_s
    level = logging.INFO if outcome == "delivered" else logging.WARNING
    fire_log.log(level, "fire %s %s (attempt %s)", idempotency_key, outcome, attempt, extra=fields)

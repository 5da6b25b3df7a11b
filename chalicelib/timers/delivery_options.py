"""A timer's delivery policy as the caller set it (issue 16): retryPolicy, timeoutSeconds,
failureCallback, pauseAfterFailures. Every field is optional: unset, the service's own setting
applies (chalicelib.delivery.policy resolves the two). Its limits live here, beside the values,
so the API's checks, /openapi.json and the worker read the same numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_ATTEMPTS = 20
MIN_AGE_SECONDS, MAX_AGE_SECONDS = 60, 86400  # as EventBridge Scheduler's maximum event age
MAX_BACKOFF_SECONDS = 3600  # a Retry-After is clamped to this too (chalicelib.delivery.notifier)
MAX_TIMEOUT_SECONDS = 15
"""An attempt's whole budget at most: the worker Lambda runs for 30 s (.chalice/config.json), of
which a fire may wait up to 7 s for its second (worker.MAX_EARLY_SECONDS) and a failure callback
may take FAILURE_CALLBACK_TIMEOUT_SECONDS after the last attempt; the rest is DynamoDB's."""
FAILURE_CALLBACK_TIMEOUT_SECONDS = 5
MAX_PAUSE_AFTER_FAILURES = 1000
FAILURE_CALLBACK_METHODS = ("POST", "PUT", "PATCH")  # it carries a JSON body

RETRY_CLASSES = ("connection", "timeout", "3xx", "4xx", "5xx")
DEFAULT_RETRY_ON = ("connection", "timeout", "408", "429", "5xx")
"""What is retried unless a timer says otherwise: a 4xx other than 408 and 429 fails at once."""


def retry_on_entry(value: str) -> str | None:
    """An entry of retryOn, normalised ("5XX" -> "5xx"), or None when it is not one: an outcome
    class of RETRY_CLASSES or an exact HTTP status from 300 to 599."""
    text = value.strip().lower()
    if text in RETRY_CLASSES:
        return text
    if re.fullmatch(r"[345]\d\d", text):
        return text
    return None


@dataclass(frozen=True)
class DeliveryOptions:
    max_attempts: int | None = None
    max_age_seconds: int | None = None
    min_backoff_seconds: int | None = None
    max_backoff_seconds: int | None = None
    retry_on: tuple[str, ...] | None = None  # None: DEFAULT_RETRY_ON; () retries nothing
    timeout_seconds: int | None = None
    failure_callback: dict[str, Any] | None = field(default=None, hash=False)  # url, method, header, body
    pause_after_failures: int | None = None

    def to_attributes(self) -> dict[str, Any]:
        """As stored on the timer item (None removes an attribute)."""
        return {"retry_max_attempts": self.max_attempts, "retry_max_age": self.max_age_seconds,
                "retry_min_backoff": self.min_backoff_seconds, "retry_max_backoff": self.max_backoff_seconds,
                "retry_on": None if self.retry_on is None else ",".join(self.retry_on) or "-",
                "timeout_seconds": self.timeout_seconds, "failure_callback": self.failure_callback,
                "pause_after_failures": self.pause_after_failures}


RETRY_FIELDS = {"maxAttempts": "max_attempts", "maxAgeSeconds": "max_age_seconds",
                "minBackoffSeconds": "min_backoff_seconds", "maxBackoffSeconds": "max_backoff_seconds",
                "retryOn": "retry_on"}


def delivery_of(timer: Any) -> DeliveryOptions:
    """A stored timer's delivery options (attributes absent on timers made before they existed)."""
    def number(name: str) -> int | None:
        value = getattr(timer, name, None)
        return None if value is None else int(value)

    stored_on = getattr(timer, "retry_on", None)
    retry_on = None if stored_on is None else tuple(e for e in str(stored_on).split(",") if e and e != "-")
    callback = getattr(timer, "failure_callback", None)
    if callback is not None:
        header = callback.header
        callback = {"url": callback.url, "method": callback.method,
                    "header": dict(getattr(header, "attribute_values", header) or {}), "body": callback.body}
    return DeliveryOptions(max_attempts=number("retry_max_attempts"), max_age_seconds=number("retry_max_age"),
                           min_backoff_seconds=number("retry_min_backoff"),
                           max_backoff_seconds=number("retry_max_backoff"), retry_on=retry_on,
                           timeout_seconds=number("timeout_seconds"), failure_callback=callback,
                           pause_after_failures=number("pause_after_failures"))

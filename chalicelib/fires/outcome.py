"""What one attempt at a callback got: the notifier makes it, the task record keeps it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What one attempt got.

    `error` says why an attempt failed. On an ok attempt it is None, unless the answer's body could
    not be read in full (it was cut off at the deadline, or the connection broke): then it says so.
    A failure that is not `retryable` is final at once (the worker does not try again).
    """

    ok: bool                      # True iff a 2xx answer arrived
    http_status: int | None       # None if no answer arrived (timeout, refused, DNS, ...)
    response_body: str            # at most RESPONSE_BODY_LIMIT bytes as UTF-8
    duration_ms: int
    error: str | None             # "HTTP 500", "timed out after 10.0 s (read)", "connection refused", ...
    retry_after: float | None     # seconds, from Retry-After on a 429 or 503; None otherwise
    retryable: bool = True        # False when trying again cannot help: the destination is refused or invalid

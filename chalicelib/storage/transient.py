"""Which AWS failures are passing: throttling, a 5xx, a timeout, a lost connection.

The SDK already retries these (storage/aws.py: standard mode, 5 attempts); one that is still
failing after that means AWS is briefly unavailable to us, not that the request was wrong, so
the API answers it with 503 "retry" instead of 500. botocore's own retry checkers decide what
is throttling or transient, so the classification is the one the retries use.
"""
from __future__ import annotations

from typing import Iterator

from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

_CHECKERS = (ThrottledRetryableChecker(), TransientRetryableChecker())

TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
"""TransactWriteItems cancellation reasons that a retry can clear (DynamoDB API reference,
TransactWriteItems, "TransactionCanceledException")."""


def is_transient(exc: BaseException) -> bool:
    """True if `exc`, or an exception it was raised from (PynamoDB wraps botocore's), is a
    failure of AWS that a later retry can clear."""
    return any(_transient(err) for err in _chain(exc))


def _transient(err: BaseException) -> bool:
    if isinstance(err, ClientError):
        response = err.response or {}
        if int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500:
            return True
        codes = {r.get("Code") for r in response.get("CancellationReasons") or [] if isinstance(r, dict)}
        codes |= {getattr(r, "code", None) for r in getattr(err, "cancellation_reasons", None) or []}
        if codes & TRANSIENT_CANCELLATIONS:
            return True
        context = RetryContext(attempt_number=1, parsed_response=response)
    else:
        context = RetryContext(attempt_number=1, caught_exception=err)  # type: ignore[arg-type]
    return any(checker.is_retryable(context) for checker in _CHECKERS)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from (`raise ... from`, PynamoDB's `cause`); not the exception
    that was being handled, which may be unrelated."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 20:
        err = pending.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        cause = getattr(err, "cause", None)
        pending += [err.__cause__, cause if isinstance(cause, BaseException) else None]

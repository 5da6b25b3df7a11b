"""Make moto's DynamoDB answer one request at a time, as DynamoDB's conditional writes are atomic.

moto evaluates a write's condition and applies it in two steps without a lock, so two threads
sending the same conditional write can both see "not there yet" and both succeed: exactly the
race a conditional write exists to rule out (on AWS it cannot happen). The worker's claim on a
fire relies on that atomicity, so the local stack and the tests apply this before using moto.
"""
from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.RLock()
_applied = False


def apply() -> bool:
    """Serialise moto's DynamoDB request handling (idempotent); raises UnsupportedMoto if the
    method it wraps is not there as expected."""
    global _applied
    if _applied:
        return True
    from moto.dynamodb.responses import DynamoHandler

    from xtimer_local.moto_internals import require

    require(DynamoHandler, "call_action", ("self",))
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied = True
    return True

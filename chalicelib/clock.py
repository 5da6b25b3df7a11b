"""Time as the service reads it: epoch seconds from an injectable clock."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], float]
"""Returns the current time in epoch seconds (float), like time.time."""

system_clock: Clock = time.time


def to_ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def minute_floor(seconds: float) -> int:
    return int(seconds) // 60 * 60


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

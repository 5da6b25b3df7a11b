"""Time as the service reads it: epoch seconds from an injectable clock."""
from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], float]
"""Returns the current time in epoch seconds (float), like time.time."""

system_clock: Clock = time.time


def to_ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def minute_floor(seconds: float) -> int:
    return int(seconds) // 60 * 60

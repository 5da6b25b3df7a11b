"""A second's callbacks go out before its outcomes are written.

When a second's herd comes due (300 fires at 00:00:00), every one of the worker process's units
has callbacks to send at once, and the first of them soon have outcomes to write. Each
BatchWriteItem costs the worker botocore's serialising and parsing (and the local stack's moto
its work, on the same two cores): written at once, they take the CPU the remaining callbacks of
the second are waiting for, and make those late. So a unit holds its outcome writes while a
callback of the process is due and not yet answered (a call started may still be building and
sending its request) and its second began less than FRESH_SECONDS
ago, up to HOLD_SECONDS after the first outcome waited: writes are not urgent (a fire's claim
already stops a second call), callbacks on their second are. Callbacks already late are a
backlog, not a herd: holding writes for them only slowed a saturated worker.

One `Burst` per worker process (chalicelib.delivery.worker), shared by its units.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

from chalicelib.clock import Clock, system_clock

HOLD_SECONDS = 1.0
"""The longest a unit's outcome writes wait for the process's due callbacks to be sent. It bounds
the delay of a record under a load that never pauses, and keeps a fire's claim lease (far
longer) from running out before its outcome is written."""

FRESH_SECONDS = 1.0
"""Only callbacks due at most this long ago hold writes back. Holding for every due callback
made the 1,000-timer series (200 fires due a second, beyond the local stack) deliver 82.6
callbacks/s instead of 115.2: a saturated worker always has late callbacks waiting, so every
write waited its full second."""


class Ticket:
    """One due callback; `sent()` marks it sent (or not to be sent at all), at most once counted."""

    __slots__ = ("_burst", "_second", "_open")

    def __init__(self, burst: Burst, second: int) -> None:
        self._burst, self._second, self._open = burst, second, True

    def sent(self) -> None:
        if self._open:
            self._open = False
            self._burst._sent(self._second)


class Burst:
    """The process's callbacks due and not yet sent, by their second; writers wait for the fresh ones."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._due: Counter[int] = Counter()  # second (epoch) -> callbacks of it due and unsent

    def due(self, second: float) -> Ticket:
        """The fire of `second` (epoch seconds) is due: its callback is to be sent now."""
        key = int(second)
        with self._cond:
            self._due[key] += 1
        return Ticket(self, key)

    def _sent(self, second: int) -> None:
        with self._cond:
            self._due[second] -= 1
            if self._due[second] <= 0:
                del self._due[second]
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        with self._cond:
            return sum(self._due.values())

    def _fresh(self) -> bool:
        oldest = self._clock() - FRESH_SECONDS
        return any(second >= oldest for second in self._due)

    def wait_sent(self, until: float) -> None:
        """Return once no callback due in the last FRESH_SECONDS is unsent, or at `until`
        (time.monotonic()) at the latest."""
        with self._cond:
            while self._fresh():
                left = until - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.05))  # a ticket also stops counting by growing old

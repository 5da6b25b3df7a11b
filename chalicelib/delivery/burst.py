"""A second's callbacks go out before its outcomes are written.

When a second's herd comes due (300 fires at 00:00:00), every one of the worker process's units
has callbacks to send at once, and the first of them soon have outcomes to write. Each
BatchWriteItem costs the worker botocore's serialising and parsing (and the local stack's moto
its work, on the same two cores): written at once, they take the CPU the remaining callbacks of
the second are waiting for, and make those late. So a unit holds its outcome writes while any
callback of the process is due and not yet sent, up to HOLD_SECONDS after the first outcome
waited: writes are not urgent (a fire's claim already stops a second call), callbacks are.

One `Burst` per worker process (chalicelib.delivery.worker), shared by its units.
"""
from __future__ import annotations

import threading
import time

HOLD_SECONDS = 1.0
"""The longest a unit's outcome writes wait for the process's due callbacks to be sent. It bounds
the delay of a record under a load that never pauses, and keeps a fire's claim lease (far
longer) from running out before its outcome is written."""


class Ticket:
    """One due callback; `sent()` marks it sent (or not to be sent at all), at most once counted."""

    __slots__ = ("_burst", "_open")

    def __init__(self, burst: Burst) -> None:
        self._burst, self._open = burst, True

    def sent(self) -> None:
        if self._open:
            self._open = False
            self._burst._sent()


class Burst:
    """How many of the process's callbacks are due and not yet sent; writers wait for none."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due = 0

    def due(self) -> Ticket:
        """A fire's second has come: its callback is to be sent now."""
        with self._cond:
            self._due += 1
        return Ticket(self)

    def _sent(self) -> None:
        with self._cond:
            self._due -= 1
            if self._due <= 0:
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        with self._cond:
            return self._due

    def wait_sent(self, until: float) -> None:
        """Return once no callback is due and unsent, or at `until` (time.monotonic()) at the latest."""
        with self._cond:
            while self._due > 0:
                left = until - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

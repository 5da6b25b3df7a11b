"""How the local stack's worker learns that the stack is stopping, in the middle of a wait.

The worker waits, on its own thread, until each fire's second (up to several seconds); with
`time.sleep` a Ctrl-C had to wait for every one of those waits to end, and the fires they held
were then made against a moto already gone. The stack hands the worker `StoppableSleep`
instead (through `wiring.build(sleep=...)`): it waits on the stack's stop event and, once that
is set, raises `Stopping`. That is a BaseException, so it passes the worker's and the poller's
`except Exception` (nothing is logged as a failure) and leaves the message unfinished: the stack
then hands it back to the queue, and it is made after the next start.
"""
from __future__ import annotations

import threading


class Stopping(BaseException):
    """The local stack is stopping: leave the work unfinished (it goes back to the queue)."""


class StoppableSleep:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def __call__(self, seconds: float) -> None:
        if self._stop.is_set() or self._stop.wait(max(0.0, seconds)):
            raise Stopping()

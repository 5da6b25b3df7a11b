"""The worker's side of the local stack in one process: Lambda's SQS pollers, its concurrency
and the messages held by running invocations, started together and stopped in order.

The stack's own process runs one (xtimer_local.stack); each extra worker process runs another
(xtimer_local.worker_child), as Lambda runs a herd's batches in several containers at once.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from xtimer_local.poller import Held, Invocations, Poller

log = logging.getLogger("xtimer.local")

Handler = Callable[[dict[str, Any], Any], Any]


class WorkerPool:
    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, handler: Handler, stop: threading.Event, *,
                 pollers: int, concurrency: int, name: str = "worker") -> None:
        self._sqs, self._queue_url = sqs, queue_url
        self.invocations = Invocations(concurrency)
        self.held = Held()
        self.pollers = [Poller(sqs, queue_url, queue_arn, handler, stop, name=f"{name}-{number}",
                               invocations=self.invocations, held=self.held) for number in range(pollers)]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def join_pollers(self, deadline: float) -> None:
        """Wait for the pollers to end their long polls (the stop event is set)."""
        for poller in self.pollers:
            poller.join(timeout=max(0.1, deadline - time.monotonic()))

    def finish(self, deadline: float) -> int:
        """Let running invocations end (their waits for a fire second end at once: StoppableSleep),
        then hand the messages still held back to the queue; returns how many were handed back."""
        if not self.invocations.wait_idle(max(0.1, deadline - time.monotonic())):
            log.warning("callbacks still running at the stop deadline; their fires are handed back too")
        self.invocations.shutdown(wait=False)
        if not len(self.held):
            return 0
        try:
            handed = self.held.hand_back(self._sqs, self._queue_url)
            log.info("%s held fire messages handed back to the queue; they are made after the next start", handed)
            return handed
        except Exception as exc:  # moto gone already (it should not be): the visibility timeout does it
            log.warning("could not hand the held messages back (%s); they show up again after the "
                        "queue's visibility timeout", exc)
            return 0

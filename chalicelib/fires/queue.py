"""The fire queue (SQS): each fire becomes visible about a second before it is due.

SQS delays are whole seconds up to 15 minutes, so a fire is sent with DelaySeconds =
(whole seconds until due) - XTIMER_EARLY_SECONDS (default 1) and the worker waits out the
remainder; lateness is then set by the worker's clock, not by the queue's polling. A smaller
value costs less Lambda time (the worker waits less) and leaves less room for the queue to be
slow to hand a message over.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from chalicelib import config
from chalicelib.storage import aws
from chalicelib.clock import Clock, system_clock
from chalicelib.fires.fire import Fire

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900
BATCH_SIZE = 10  # SendMessageBatch's limit


class QueueSendError(RuntimeError):
    """Some fires could not be sent after retries; the caller must not advance past them."""


def delay_for(fire: Fire, now: float, max_delay: int = MAX_DELAY_SECONDS, early: int | None = None) -> int:
    """Whole seconds to hide a fire so that it shows up `early` (XTIMER_EARLY_SECONDS) to
    `early` + 1 seconds before it is due; the worker waits out the rest."""
    early = config.early_seconds() if early is None else early
    return max(0, min(max_delay, int(fire.fire_time - now) - early))


class FireQueue:
    def __init__(
        self,
        client: Callable[[], Any] = aws.sqs,
        queue_name: Callable[[], str] = config.fire_queue,
        dead_letter_name: Callable[[], str] = config.dead_letter_queue,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        send_attempts: int = 5,
        max_delay_seconds: int = MAX_DELAY_SECONDS,
    ) -> None:
        """`max_delay_seconds` caps every delay this queue applies, to new fires and to retries;
        0 makes everything visible at once (tests with an injected clock: the worker still waits
        for each fire time on that clock). `retry_delays` keeps the last retry delays asked for."""
        self._client = client
        self._queue_name = queue_name
        self._dead_letter_name = dead_letter_name
        self._clock = clock
        self._sleep = sleep
        self._send_attempts = send_attempts
        self._max_delay = max_delay_seconds
        self.retry_delays: deque[int] = deque(maxlen=100)
        self._urls: dict[tuple[int, str], str] = {}

    def url(self, name: str | None = None) -> str:
        name = name or self._queue_name()
        key = (id(self._client()), name)
        if key not in self._urls:
            self._urls[key] = self._client().get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[key]

    def send(self, fires: Iterable[Fire], *, threads: int = 8) -> int:
        """Send fires in batches of ten, concurrently; raises QueueSendError if any is left unsent."""
        fires = list(fires)
        batches = [fires[i:i + BATCH_SIZE] for i in range(0, len(fires), BATCH_SIZE)]
        if not batches:
            return 0
        url = self.url()
        if len(batches) == 1 or threads <= 1:
            for batch in batches:
                self._send_batch(url, batch)
        else:
            with ThreadPoolExecutor(max_workers=min(threads, len(batches))) as pool:
                list(pool.map(lambda b: self._send_batch(url, b), batches))
        return len(fires)

    def _send_batch(self, url: str, batch: list[Fire]) -> None:
        pending = {str(i): fire for i, fire in enumerate(batch)}
        last_error = ""
        for attempt in range(self._send_attempts):
            if attempt:
                self._sleep(min(0.1 * 2 ** attempt, 2.0))
            now = self._clock()
            entries = [
                {"Id": key, "MessageBody": fire.to_message(), "DelaySeconds": delay_for(fire, now, self._max_delay)}
                for key, fire in pending.items()
            ]
            try:
                reply = self._client().send_message_batch(QueueUrl=url, Entries=entries)
            except Exception as exc:  # botocore already retried throttling; try the whole batch again
                last_error = repr(exc)
                continue
            for failed in reply.get("Failed", []):
                last_error = f"{failed.get('Code')}: {failed.get('Message')}"
            for ok in reply.get("Successful", []):
                pending.pop(ok["Id"], None)
            if not pending:
                return
        raise QueueSendError(f"{len(pending)} fires not enqueued after {self._send_attempts} tries: {last_error}")

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again after `delay_seconds` (the retry backoff)."""
        delay = max(0, min(int(delay_seconds), 43_200))
        self.retry_delays.append(delay)
        self._client().change_message_visibility(
            QueueUrl=self.url(), ReceiptHandle=receipt_handle, VisibilityTimeout=min(delay, self._max_delay),
        )

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message for a person to look at (and `redrive` later)."""
        self._client().send_message(
            QueueUrl=self.url(self._dead_letter_name()),
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}},
        )

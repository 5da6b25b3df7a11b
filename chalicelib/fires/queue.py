"""The fire queue (SQS): the fires of one second travel together and show up about a second early.

Fires due in the same second are sent as buckets of at most BUCKET_SIZE fires (one message
each); a fire alone in its second, a manual run and every retry travel as a single-fire message
(chalicelib.fires.fire). SQS delays are whole seconds up to 15 minutes, so a message is sent with
DelaySeconds = (whole seconds until due) - XTIMER_EARLY_SECONDS (default 1) and the worker waits
out the remainder; lateness is then set by the worker's clock, not by the queue's polling.

BUCKET_SIZE = 25: one bucket is one BatchGetItem (limit 100 keys) and one BatchWriteItem (limit
25 items) in the worker; ten buckets, one Lambda batch, are 250 first attempts, which the
worker's 256 callback threads make all at once, so even if every receiver hangs the invocation
ends after one callback budget (13 s) plus the wait for the second, inside the worker's 30 s
timeout; the message stays near 1.5 KB, far below SQS's 256 KiB.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from chalicelib import config
from chalicelib.storage import aws
from chalicelib.clock import Clock, system_clock
from chalicelib.fires.fire import Fire, bucket_message

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
MAX_VISIBILITY_SECONDS = 43_200  # SQS's longest visibility timeout (12 h)
BATCH_SIZE = 10  # SendMessageBatch's limit
BUCKET_SIZE = 25  # fires per bucket message (see the module's docstring)
SEND_THREADS = 8

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def send_pool() -> ThreadPoolExecutor:
    """The process's one pool for concurrent sends (a pool per call cost a thread start per batch)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="send")
    return _pool


class QueueSendError(RuntimeError):
    """Some fires could not be sent after retries; the caller must not advance past them."""


@dataclass(frozen=True)
class Message:
    body: str
    due: Fire  # the fire whose due time sets the delay (every fire of a bucket has the same)
    fires: int = 1


def delay_for(fire: Fire, now: float, max_delay: int = MAX_DELAY_SECONDS, early: int | None = None) -> int:
    """Whole seconds to hide a fire so that it shows up `early` (XTIMER_EARLY_SECONDS) to
    `early` + 1 seconds before it is due; the worker waits out the rest."""
    early = config.early_seconds() if early is None else early
    return max(0, min(max_delay, int(fire.due_time - now) - early))


def messages_for(fires: Iterable[Fire]) -> list[Message]:
    """First attempts of the same second grouped into buckets, in timer order; anything else alone."""
    by_second: dict[int, list[Fire]] = {}
    alone: list[Message] = []
    for fire in fires:
        if fire.not_before_ms or fire.fire_ms % 1000:
            alone.append(Message(fire.to_message(), fire))  # a retry, or a manual run
        else:
            by_second.setdefault(fire.fire_ms, []).append(fire)
    found: list[Message] = []
    for fire_ms in sorted(by_second):
        second = sorted(set(by_second[fire_ms]), key=lambda f: f.timer_id)
        for start in range(0, len(second), BUCKET_SIZE):
            bucket = second[start:start + BUCKET_SIZE]
            body = bucket[0].to_message() if len(bucket) == 1 else bucket_message(bucket)
            found.append(Message(body, bucket[0], len(bucket)))
    return found + alone


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

    def send(self, fires: Iterable[Fire], *, threads: int = SEND_THREADS) -> int:
        """Send fires as bucket messages, ten messages per call, concurrently; returns the fires
        sent. Raises QueueSendError if any is left unsent (some others may have gone out)."""
        return self._send_messages(messages_for(fires), threads)

    def send_each(self, fires: Iterable[Fire]) -> int:
        """Send each fire as a message of its own (retries: each keeps its own backoff and count)."""
        fires = list(fires)
        self._send_messages([Message(f.to_message(), f) for f in fires], SEND_THREADS)
        return len(fires)

    def retry_each(self, retries: list[tuple[Fire, int]]) -> None:
        """Send each (fire, delay in seconds) as a retry of its own, held back that long."""
        now_ms = int(self._clock() * 1000)
        for _, delay in retries:
            self.retry_delays.append(delay)
        self.send_each(Fire(f.timer_id, f.app, f.fire_ms, f.generation, f.manual, now_ms + delay * 1000)
                       for f, delay in retries)

    def _send_messages(self, messages: list[Message], threads: int) -> int:
        batches = [messages[i:i + BATCH_SIZE] for i in range(0, len(messages), BATCH_SIZE)]
        if not batches:
            return 0
        try:
            url = self.url()
        except Exception as exc:  # the queue is missing or SQS unreachable: nothing was sent
            raise QueueSendError(f"{sum(m.fires for m in messages)} fires not enqueued: the fire queue's "
                                 f"URL could not be read: {exc!r}") from exc
        if len(batches) == 1 or threads <= 1:
            for batch in batches:
                self._send_batch(url, batch)
        else:
            for future in [send_pool().submit(self._send_batch, url, b) for b in batches]:
                future.result()
        return sum(m.fires for m in messages)

    def _send_batch(self, url: str, batch: list[Message]) -> None:
        pending = {str(i): message for i, message in enumerate(batch)}
        last_error = ""
        for attempt in range(self._send_attempts):
            if attempt:
                self._sleep(min(0.1 * 2 ** attempt, 2.0))
            now = self._clock()
            entries = [
                {"Id": key, "MessageBody": m.body, "DelaySeconds": delay_for(m.due, now, self._max_delay)}
                for key, m in pending.items()
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
        raise QueueSendError(f"{sum(m.fires for m in pending.values())} fires not enqueued after "
                             f"{self._send_attempts} tries: {last_error}")

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again after `delay_seconds` (the retry backoff), up to
        SQS's 12-hour visibility limit (a Retry-After of an hour is kept: a message's visibility is
        not bound by the 15-minute DelaySeconds limit of a new message)."""
        delay = max(0, min(int(delay_seconds), MAX_VISIBILITY_SECONDS))
        self.retry_delays.append(delay)
        self._client().change_message_visibility(
            QueueUrl=self.url(), ReceiptHandle=receipt_handle, VisibilityTimeout=delay if self._max_delay else 0,
        )

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message for a person to look at (and `redrive` later)."""
        self._client().send_message(
            QueueUrl=self.url(self._dead_letter_name()),
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}},
        )

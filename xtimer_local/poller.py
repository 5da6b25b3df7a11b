"""What Lambda's SQS event source mapping does, done locally: receive a batch, hand it to the
worker's handler as a Lambda SQS event, delete what the handler did not report as failed."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "us-east-1",
        }
        for m in messages
    ]}


def receive(sqs: Any, queue_url: str, *, wait_seconds: int = 1, max_messages: int = 10) -> list[dict[str, Any]]:
    reply = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"], MessageAttributeNames=["All"],
    )
    return reply.get("Messages", [])


class Held:
    """The messages received and not finished with: what a stopping stack hands back to the queue.

    A batch is held from its receive until its handler returns (or raises an Exception, after
    which the queue delivers it again on its own); a batch whose handler was stopped mid-way
    (xtimer_local.stopping.Stopping) stays held until `hand_back`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receipts: dict[str, str] = {}  # receipt handle -> message id

    def add(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._receipts.update((m["ReceiptHandle"], m["MessageId"]) for m in messages)

    def done(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            for m in messages:
                self._receipts.pop(m["ReceiptHandle"], None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._receipts)

    def hand_back(self, sqs: Any, queue_url: str) -> int:
        """Make every held message visible again at once (visibility 0); returns how many."""
        with self._lock:
            receipts, self._receipts = list(self._receipts), {}
        for start in range(0, len(receipts), 10):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                for i, r in enumerate(receipts[start:start + 10])])
        return len(receipts)


def handle_batch(sqs: Any, queue_url: str, queue_arn: str, handler: Handler, messages: list[dict[str, Any]],
                 held: Held | None = None) -> None:
    """One Lambda invocation: hand the batch to the handler, delete what it did not report as failed."""
    if held is not None:
        held.add(messages)
    try:
        result = handler(lambda_event(messages, queue_arn), None) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    except Exception:  # as on Lambda: an exception fails the whole batch
        log.exception("worker handler raised; the batch will be delivered again")
        if held is not None:
            held.done(messages)
        return
    # (a BaseException such as Stopping leaves the batch held, for the stopping stack to hand back)
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])
        ])
    if held is not None:
        held.done(messages)


def poll_once(sqs: Any, queue_url: str, queue_arn: str, handler: Handler, *, wait_seconds: int = 1,
              max_messages: int = 10) -> int:
    """One receive -> handle -> delete round; returns how many messages were received."""
    messages = receive(sqs, queue_url, wait_seconds=wait_seconds, max_messages=max_messages)
    if messages:
        handle_batch(sqs, queue_url, queue_arn, handler, messages)
    return len(messages)


def drain(sqs: Any, queue_url: str, queue_arn: str, handler: Handler, *, max_rounds: int = 1000) -> int:
    """Poll without waiting until the queue shows nothing; returns the messages handled (tests)."""
    total = 0
    for _ in range(max_rounds):
        received = poll_once(sqs, queue_url, queue_arn, handler, wait_seconds=0)
        if not received:
            return total
        total += received
    raise RuntimeError(f"queue still not empty after {max_rounds} rounds")


SLOW_AFTER_SECONDS = 8.0
"""A batch still running after this long gives its slot back (xtimer_local.poller.Invocations):
longer than any batch waits for its fires' second (the worker sends back a message seen more
than MAX_EARLY_SECONDS, 7 s, early), so only a batch held by a slow callback moves."""


class Invocations:
    """Lambda's concurrency, locally: at most `limit` batches are started and running at once.

    The worker holds each message until its fire second (it shows up about a second early) and
    returns only when the last callback of its batch is made, so a poller that waited for its
    batch would stop receiving for that long: with a few pollers, fires pile up in the queue
    once more than pollers x 10 of them are due within a second. Lambda runs many invocations
    at once; so does this.

    A batch still running after `slow_after` seconds (a callback of it hangs, up to the
    notifier's 13 s budget) gives its slot back and runs on as one of at most `overflow` long
    invocations, as Lambda starts more invocations while some run long; so batches held by one
    app's hanging receiver do not stop the pollers from receiving everyone else's fires. With
    the overflow used up, a long batch keeps its slot.
    """

    def __init__(self, limit: int, *, overflow: int | None = None, slow_after: float = SLOW_AFTER_SECONDS) -> None:
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = limit
        self.overflow = limit if overflow is None else max(0, overflow)
        self._slow_after = slow_after
        self._slots = threading.BoundedSemaphore(limit)
        self._long = threading.BoundedSemaphore(self.overflow) if self.overflow else None
        self._pool = ThreadPoolExecutor(max_workers=limit + self.overflow, thread_name_prefix="invocation")
        self._running = 0
        self._idle = threading.Condition()
        self._started: dict[int, float] = {}  # invocation number -> time.monotonic() at its start, holding a slot
        self._numbers = itertools.count()
        self._watch: threading.Thread | None = None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no invocation runs; False if some still do after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def reserve(self, timeout: float) -> bool:
        """Wait for a free slot; the caller gives it back through run() or release()."""
        return self._slots.acquire(timeout=timeout)

    def release(self) -> None:
        self._slots.release()

    def run(self, function: Callable[[], None]) -> None:
        """Run `function` on a reserved slot, freeing the slot when it returns (or, if it runs
        long, once it moved to the overflow)."""
        number = next(self._numbers)

        def invoke() -> None:
            try:
                function()
            except Exception:
                log.exception("invocation failed")
            finally:
                with self._idle:
                    held_slot = self._started.pop(number, None) is not None
                    self._running -= 1
                    self._idle.notify_all()
                if held_slot:
                    self._slots.release()
                elif self._long is not None:
                    self._long.release()
        with self._idle:
            self._running += 1
            self._started[number] = time.monotonic()
            if self._long is not None and self._watch is None:
                self._watch = threading.Thread(target=self._move_long_ones, name="invocations-watch", daemon=True)
                self._watch.start()
        self._pool.submit(invoke)

    def _move_long_ones(self) -> None:
        """Every quarter of `slow_after`: the batches running longer than it give their slots back."""
        overflow = self._long
        if overflow is None:
            return
        while True:
            time.sleep(self._slow_after / 4)
            now = time.monotonic()
            with self._idle:
                for number, started in sorted(self._started.items(), key=lambda item: item[1]):
                    if now - started < self._slow_after or not overflow.acquire(blocking=False):
                        break
                    del self._started[number]
                    self._slots.release()

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class Poller(threading.Thread):
    """A long-polling loop, as one of Lambda's SQS pollers: it receives a batch whenever an
    invocation slot is free and hands it over without waiting for it (see Invocations)."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, handler: Handler, stop: threading.Event,
                 name: str = "poller", invocations: Invocations | None = None, held: Held | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._sqs, self._url, self._arn, self._handler = sqs, queue_url, queue_arn, handler
        self._stop_event = stop
        self._invocations = invocations
        self._held = held

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                if self._invocations is None:
                    poll_once(self._sqs, self._url, self._arn, self._handler, wait_seconds=1)
                    continue
                if not self._invocations.reserve(timeout=1):
                    continue
                try:
                    messages = receive(self._sqs, self._url, wait_seconds=1)
                except BaseException:
                    self._invocations.release()
                    raise
                if not messages:
                    self._invocations.release()
                    continue
                if self._stop_event.is_set() and self._held is not None:  # received while stopping
                    self._held.add(messages)
                    self._invocations.release()
                    break
                self._invocations.run(lambda batch=messages: handle_batch(
                    self._sqs, self._url, self._arn, self._handler, batch, self._held))
            except Exception:
                log.exception("polling failed; retrying in a second")
                self._stop_event.wait(1)

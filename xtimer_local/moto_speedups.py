"""Make the embedded moto's SQS cost what SQS costs: O(1) per message, not O(messages queued).

moto 5.2's SQS does several full scans of the queue for every message sent and received, and
each scan asks the time through two datetime conversions per queued message:

- SendMessage(Batch) reads `queue.attributes` once per message (to look up
  ContentBasedDeduplication), which counts the visible, in-flight and delayed messages;
- ReceiveMessage checks each message it hands out against the retention period by reading the
  queue's attributes three times (all nine counts again), and lists the visible messages by
  scanning all of them;
- DeleteMessage(Batch) scans the queue twice per receipt handle.

xtimer keeps every fire of the next one to three minutes in the fire queue (the tick enqueues
`XTIMER_ENQUEUE_AHEAD_SECONDS` ahead), so the queue holds thousands of delayed messages and
these scans, not the service, set the local stack's lateness: with 200 timers firing every
1-5 s the stack spent its whole core in them and callbacks came seconds late (see
docs/benchmarks.md). Real SQS has no such cost.

`apply()` replaces those spots with equivalents that give the same answers: one clock read per
scan (`time.time()`, which is what moto's `unix_time()` computes the slow way), the retention
period read from the queue's own field, the three counts skipped where nobody reads them, and a
delete that finds its message among the in-flight ones first (and, unlike moto's, cannot drop
a message sent while it rebuilds the list). The local stack applies it to its embedded moto
and the tests alike (xtimer_local/patches.py).
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from functools import wraps
from typing import Any, Callable, Iterator

log = logging.getLogger("xtimer.local")

_applied = False
_counts_unused = threading.local()  # set while moto reads queue attributes only for a flag


def _fast_unix_time(original: Callable[..., float]) -> Callable[..., float]:
    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original(dt)
    return unix_time


def _fast_unix_time_millis(original: Callable[..., float]) -> Callable[..., float]:
    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)
    return unix_time_millis


@contextmanager
def _without_counts() -> Iterator[None]:
    previous = getattr(_counts_unused, "on", False)
    _counts_unused.on = True
    try:
        yield
    finally:
        _counts_unused.on = previous


def _counts_skipped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run `method` with the approximate message counts reported as 0 (it does not read them)."""
    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _without_counts():
            return method(*args, **kwargs)
    return wrapper


def apply() -> bool:
    """Patch moto's SQS classes in this process; raises UnsupportedMoto (nothing changed) if the
    internals it touches are not as expected."""
    global _applied
    if _applied:
        return True
    import moto
    from moto.sqs import models as sqs

    from xtimer_local.moto_internals import require

    version = moto.__version__
    for owner, name, parameters in [
        (sqs.Queue, "messages", None), (sqs.Queue, "delete_message", ("self", "receipt_handle")),
        (sqs.Queue, "add_message", ("self", "message")),
        (sqs.Queue, "approximate_number_of_messages", None),
        (sqs.Queue, "approximate_number_of_messages_delayed", None),
        (sqs.Queue, "approximate_number_of_messages_not_visible", None),
        (sqs.SQSBackend, "send_message", ("self", "queue_name", "message_body", "message_attributes",
                                          "delay_seconds", "deduplication_id", "group_id", "system_attributes",
                                          "validate_group_id")),
        (sqs.SQSBackend, "_validate_message", ("self", "queue", "message_body", "delay_seconds",
                                               "deduplication_id", "group_id", "validate_group_id")),
        (sqs.SQSBackend, "is_message_valid_based_on_retention_period", ("self", "queue_name", "message")),
        (sqs.Message, "had_receipt_handle", ("self", "receipt_handle")),
        (sqs, "unix_time", ("dt",)), (sqs, "unix_time_millis", ("dt",)),
    ]:
        require(owner, name, parameters)

    # One clock read is time.time(): moto's unix_time() builds two datetimes to compute the same.
    sqs.unix_time = _fast_unix_time(sqs.unix_time)
    sqs.unix_time_millis = _fast_unix_time_millis(sqs.unix_time_millis)

    def messages(self: Any) -> list[Any]:
        """The visible messages (not in flight, not delayed): one clock read for the whole scan."""
        now = time.time() * 1000.0
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def count(predicate: Callable[[Any, float], bool]) -> property:
        def counted(self: Any) -> int:
            if getattr(_counts_unused, "on", False):
                return 0
            now = time.time() * 1000.0
            return sum(1 for m in self._messages if predicate(m, now))
        return property(counted)

    sqs.Queue.messages = property(messages)
    sqs.Queue.approximate_number_of_messages = count(
        lambda m, now: now > m.visible_at and not now < m.delayed_until)
    sqs.Queue.approximate_number_of_messages_not_visible = count(lambda m, now: not now > m.visible_at)
    sqs.Queue.approximate_number_of_messages_delayed = count(lambda m, now: now < m.delayed_until)

    # These read queue.attributes for ContentBasedDeduplication only.
    sqs.SQSBackend.send_message = _counts_skipped(sqs.SQSBackend.send_message)
    sqs.SQSBackend._validate_message = _counts_skipped(sqs.SQSBackend._validate_message)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()

    sqs.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    original_delete = sqs.Queue.delete_message

    def delete_message(self: Any, receipt_handle: str) -> None:
        """A receipt handle belongs to a received message, which is in flight: look there first."""
        if receipt_handle in self.deleted_messages:
            return
        # Under the lock add_message appends with: moto's own delete rebuilds the list without it,
        # and a message sent meanwhile could be lost.
        with self._messages_lock:
            for message in list(self.pending_messages):
                if message.had_receipt_handle(receipt_handle):
                    self.pending_messages.discard(message)
                    self.deleted_messages.update(message.all_receipt_handles)
                    self._messages = [m for m in self._messages if m is not message]
                    return
            original_delete(self, receipt_handle)  # visible again or never received: moto's own way

    sqs.Queue.delete_message = delete_message

    sqs.Queue.add_message = _counts_skipped(sqs.Queue.add_message)
    _applied = True
    log.info("moto %s: SQS speed-ups applied (O(1) per message sent, received and deleted)", version)
    return True

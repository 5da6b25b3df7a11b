"""The process's count of due, unsent callbacks, which outcome writes wait on (chalicelib.delivery.burst)."""
from __future__ import annotations

import threading
import time

from chalicelib.delivery.burst import Burst


def test_with_nothing_due_a_writer_does_not_wait() -> None:
    burst = Burst()
    began = time.monotonic()
    burst.wait_sent(until=began + 30)
    assert time.monotonic() - began < 5  # it returned at once, not at its bound


def test_a_writer_waits_until_every_due_callback_is_sent_each_counted_once() -> None:
    burst = Burst()
    first, second = burst.due(), burst.due()
    first.sent()
    first.sent()  # a second mark of the same callback does not count for the other one
    assert burst.waiting == 1
    released = threading.Event()

    def writer() -> None:
        burst.wait_sent(until=time.monotonic() + 30)
        released.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not released.wait(0.2)
    second.sent()
    assert released.wait(5)
    thread.join()
    assert burst.waiting == 0


def test_a_writer_waits_no_longer_than_its_bound() -> None:
    burst = Burst()
    burst.due()  # never sent: a receiver's lane that never drains, a crashed call
    began = time.monotonic()
    burst.wait_sent(until=began + 0.05)
    assert burst.waiting == 1

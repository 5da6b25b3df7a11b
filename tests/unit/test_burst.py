"""The process's due, unsent callbacks, which outcome writes wait on (chalicelib.delivery.burst)."""
from __future__ import annotations

import threading
import time

from chalicelib.delivery.burst import FRESH_SECONDS, Burst
from tests.support.fake_clock import FakeClock, at

NOW = at("2026-03-01T12:00:00")


def test_with_nothing_due_a_writer_does_not_wait() -> None:
    burst = Burst(FakeClock(NOW))
    began = time.monotonic()
    burst.wait_sent(until=began + 30)
    assert time.monotonic() - began < 5  # it returned at once, not at its bound


def test_a_writer_waits_until_every_callback_due_now_is_sent_each_counted_once() -> None:
    burst = Burst(FakeClock(NOW))
    first, second = burst.due(NOW), burst.due(NOW)
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


def test_callbacks_already_late_hold_no_write_back() -> None:
    """A saturated worker's backlog is not a herd: writes do not wait for it."""
    clock = FakeClock(NOW)
    burst = Burst(clock)
    assert FRESH_SECONDS < 5
    burst.due(NOW - 5)  # its second began 5 s ago, still not sent
    began = time.monotonic()
    burst.wait_sent(until=began + 30)
    assert time.monotonic() - began < 5
    assert burst.waiting == 1


def test_a_writer_waits_no_longer_than_its_bound() -> None:
    burst = Burst(FakeClock(NOW))
    burst.due(NOW)  # never sent: a receiver's lane that never drains, a crashed call
    began = time.monotonic()
    burst.wait_sent(until=began + 0.05)
    assert burst.waiting == 1

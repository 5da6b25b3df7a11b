"""The local stack's invocation slots (xtimer_local.poller.Invocations): a batch held by a hanging
callback gives its slot back, so the pollers keep receiving everyone else's fires."""
from __future__ import annotations

import threading

from xtimer_local.poller import Invocations


def hang_on(event: threading.Event, started: threading.Event) -> None:
    started.set()
    event.wait(30)


def test_a_long_batch_gives_its_slot_back_and_a_second_one_keeps_it_once_the_overflow_is_used() -> None:
    invocations = Invocations(1, overflow=1, slow_after=0.1)
    release = threading.Event()
    try:
        for _ in range(2):
            started = threading.Event()
            assert invocations.reserve(timeout=10)  # the first: free; the second: given back by the long first
            invocations.run(lambda: hang_on(release, started))
            assert started.wait(10)
        assert not invocations.reserve(timeout=0.5)  # the overflow (1) is used: the second keeps its slot
        release.set()
        assert invocations.wait_idle(10)
        assert invocations.reserve(timeout=10)  # everything given back once they end
        invocations.release()
    finally:
        release.set()
        invocations.shutdown()


def test_without_overflow_a_long_batch_keeps_its_slot() -> None:
    invocations = Invocations(1, overflow=0, slow_after=0.1)
    release, started = threading.Event(), threading.Event()
    try:
        assert invocations.reserve(timeout=1)
        invocations.run(lambda: hang_on(release, started))
        assert started.wait(10)
        assert not invocations.reserve(timeout=0.5)
    finally:
        release.set()
        invocations.shutdown()

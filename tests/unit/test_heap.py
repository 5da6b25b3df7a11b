"""chalicelib.heap: a process's start-up leaves the collector's sight, its garbage does not stay."""
from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from chalicelib import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_start_up_garbage_is_collected_and_what_is_alive_is_frozen(unfrozen: None) -> None:
    kept, dropped = Node(), Node()
    gone = weakref.ref(dropped)
    del dropped

    frozen = heap.freeze_startup()

    assert gone() is None  # collected first, not frozen for the life of the process
    assert frozen == gc.get_freeze_count() > 0
    assert kept.me is kept  # alive still
    assert not any(obj is kept for obj in gc.get_objects())  # but no collection walks it any more

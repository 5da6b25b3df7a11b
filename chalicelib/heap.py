"""The garbage collector's view of a long-lived process (the local stack and its moto child).

A full (generation 2) collection walks every object alive, and most of a started process's
objects are its start-up: modules, botocore's service models, the clients built from them. None
of them is ever garbage, yet a herd's allocations set off full collections that walked them all:
70-108 ms each in the local stack's processes (gc.callbacks timings, 300 timers due at one
second), and one that falls among a second's callbacks holds them all up for as long (the GIL).
Frozen, the stack's took 33 ms. Lambda does not call it: its init would pay the collection, and
that was not measured.
"""
from __future__ import annotations

import gc


def freeze_startup() -> int:
    """Collect what start-up left as garbage, then move every object alive now out of the
    collector's sight (gc.freeze): later collections walk only what was made after. Call it
    once, when the process has built what it keeps; returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

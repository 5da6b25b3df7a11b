"""The garbage collector's view of a long-lived process (a Lambda container, the local stack).

A full (generation 2) collection walks every object alive, and most of a started process's
objects are its start-up: modules, botocore's service models, the clients built from them. None
of them is ever garbage, yet in a herd the second's allocations set off full collections that
walked them all: 70-108 ms each in the local stack's processes (gc.callbacks timings, 300
timers due at one second), every callback of the second held up for as long.
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

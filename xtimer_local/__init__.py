"""The local stack: the whole service on one machine, on an embedded moto (see `python -m xtimer_local`)."""

"""The one entry point for every local-stack patch to moto, used wherever moto starts.

The moto child of `make run` (xtimer_local/moto_server.py), the in-process moto of
`--no-moto-process`, the tests' fixtures (tests/conftest.py) and the benchmarks all call
`apply_all()`, so they all run the same moto:

- moto_atomic: one DynamoDB request at a time, so conditional writes are atomic (correctness);
- moto_transactions: TransactWriteItems saves the items it names, not whole tables (correctness
  under concurrent writes, and speed);
- moto_speedups: SQS at O(1) per message (speed only; `sqs_speedups=False` leaves it out);
- moto_dynamodb_speedups: DynamoDB's expression work done once per expression text, not once
  per request (speed only; `dynamodb_speedups=False` leaves it out).

It refuses (`UnsupportedMoto`) on any moto but the pinned one, and each patch checks the
internals it touches before it changes anything (xtimer_local/moto_internals.py).
"""
from __future__ import annotations

from xtimer_local import moto_atomic, moto_dynamodb_speedups, moto_speedups, moto_transactions
from xtimer_local.moto_internals import MOTO_VERSION, UnsupportedMoto, require_version

__all__ = ["apply_all", "MOTO_VERSION", "UnsupportedMoto"]


def apply_all(*, sqs_speedups: bool = True, dynamodb_speedups: bool = True) -> list[str]:
    """Apply the patches to moto in this process (idempotent); returns the names applied."""
    require_version()
    moto_atomic.apply()
    moto_transactions.apply()
    applied = ["atomic", "transactions"]
    if sqs_speedups:
        moto_speedups.apply()
        applied.append("sqs_speedups")
    if dynamodb_speedups:
        moto_dynamodb_speedups.apply()
        applied.append("dynamodb_speedups")
    return applied

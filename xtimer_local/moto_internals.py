"""The moto the local-stack patches were written against, and a check that its internals are there.

Every patch (moto_atomic, moto_transactions, moto_speedups, moto_dynamodb_speedups) replaces or
wraps something inside moto. They were written and tested against one moto release, the one requirements-dev.txt pins;
on any other release they refuse to apply (`UnsupportedMoto`) rather than half-patch a moto whose
internals may have moved. Before changing anything, each patch checks that every function it
touches exists and takes the arguments it expects (`require`).
"""
from __future__ import annotations

import inspect
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto release the patches were written for: the pin in requirements-dev.txt (a test checks)."""


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the one the local-stack patches were written against."""


def installed_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "unknown"))


def require_version(version: str | None = None) -> None:
    version = installed_version() if version is None else version
    if version != MOTO_VERSION:
        raise UnsupportedMoto(
            f"moto {version} is installed, but xtimer_local's moto patches (atomic conditional writes, "
            f"transactions, SQS and DynamoDB speed-ups) were written against moto {MOTO_VERSION}, the version "
            f"requirements-dev.txt pins. Install it: .venv/bin/pip install 'moto[server]=={MOTO_VERSION}'")


def require(owner: Any, name: str, parameters: tuple[str, ...] | None = None) -> None:
    """`owner.name` exists and, if `parameters` is given, is a callable taking exactly those."""
    where = f"{getattr(owner, '__module__', '')}.{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}"
    if not hasattr(owner, name):
        raise UnsupportedMoto(f"moto {installed_version()}: {where}.{name} is gone; the local-stack patch "
                              f"that needs it cannot apply")
    if parameters is None:
        return
    found = tuple(inspect.signature(getattr(owner, name)).parameters)
    if found != parameters:
        raise UnsupportedMoto(f"moto {installed_version()}: {where}.{name} takes {found}, the local-stack "
                              f"patch expects {parameters}")

"""Every AWS call the test session makes, with the IAM permissions it needs and who made it.

Installed once per session (tests/conftest.py) as a botocore handler on every client and every
PynamoDB connection created afterwards, so it sees the calls moto serves in every test without
any test doing anything. Each call is attributed to the innermost project file on the stack:

- "service":      app.py and chalicelib/ (what the Lambda functions do: the policy must allow it)
- "trigger":      xtimer_local/poller.py (plays Lambda's SQS trigger, which uses the functions' role)
- "provisioning": chalicelib/storage/resources.py (the deployer's permissions, not the functions')
- "operator":     anything called from an operator's tool (xtimer_admin/, xtimer_cli/,
                  xtimer_deploy/, bench/), even through chalicelib, and the chalicelib
                  functions only those tools call (OPERATOR_ENTRY_POINTS) when no function's
                  entry point (FUNCTION_ENTRY_FILES) is on the stack: the operator's
                  permissions, not the functions'
- "harness":      tests, the local stack's start-up
"""
from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from xtimer_deploy.iam import Permission, permissions_for

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Call:
    origin: str
    where: str  # path:line of the project frame that made it
    service: str
    operation: str
    permissions: tuple[Permission, ...]


@lru_cache(maxsize=None)
def _project_file(path: str) -> str | None:
    """The file's path in the project, or None for libraries (.venv, the standard library)."""
    if not path.startswith("/"):
        return None  # <frozen ...>, <string>
    try:
        relative = Path(path).resolve().relative_to(PROJECT)
    except ValueError:
        return None
    if relative.parts[0].startswith(".") or "site-packages" in relative.parts:
        return None
    return relative.as_posix()


OPERATOR_TOOLS = ("xtimer_admin/", "xtimer_cli/", "xtimer_deploy/", "bench/")
OPERATOR_ENTRY_POINTS = {
    ("chalicelib/apps/keys.py", "issue"), ("chalicelib/apps/keys.py", "list"), ("chalicelib/apps/keys.py", "revoke"),
    ("chalicelib/apps/secrets.py", "rotate"), ("chalicelib/delivery/redrive.py", "redrive_dead_letters"),
}
"""chalicelib functions that only `python -m xtimer_admin` calls (keys, secret rotation, moving
dead letters back); the tests call them directly. Reached from a function's code, they count as
the service."""
FUNCTION_ENTRY_FILES = ("app.py", "chalicelib/api/handlers.py", "chalicelib/scheduling/tick.py", "chalicelib/delivery/worker.py")


def _origin(relative: str) -> str:
    if relative == "chalicelib/storage/resources.py":
        return "provisioning"
    if relative == "app.py" or relative.startswith("chalicelib/"):
        return "service"
    if relative == "xtimer_local/poller.py":
        return "trigger"
    return "harness"


class CallLog:
    """Thread-safe: the worker and the tick call AWS from thread pools."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[Call] = Counter()

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore 'before-parameter-build' handler: `params` are the call's arguments."""
        origin, where = "harness", "?"
        operator_entry = in_function = False
        frame = sys._getframe(1)
        while frame is not None:
            relative = _project_file(frame.f_code.co_filename)
            if relative is not None:
                if where == "?":
                    origin, where = _origin(relative), f"{relative}:{frame.f_lineno}"
                if relative.startswith(OPERATOR_TOOLS):
                    origin = "operator"
                    break
                operator_entry |= (relative, frame.f_code.co_name) in OPERATOR_ENTRY_POINTS
                in_function |= relative in FUNCTION_ENTRY_FILES
            frame = frame.f_back
        if origin == "service" and operator_entry and not in_function:
            origin = "operator"
        service = model.service_model.service_name
        call = Call(origin, where, service, model.name, tuple(permissions_for(service, model.name, params)))
        with self._lock:
            self._calls[call] += 1

    def calls(self, *origins: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if not origins or c.origin in origins]

    def count(self, operation: str, *origins: str) -> int:
        """How many `operation` calls (e.g. "Query") the session has made so far."""
        with self._lock:
            return sum(n for c, n in self._calls.items()
                       if c.operation == operation and (not origins or c.origin in origins))

    def permissions(self, *origins: str) -> dict[Permission, list[str]]:
        """Each permission needed, with where it was needed from."""
        found: dict[Permission, list[str]] = {}
        for call in self.calls(*origins):
            for permission in call.permissions:
                found.setdefault(permission, []).append(call.where)
        return found


CALLS = CallLog()
"""The session's log (installed by tests/conftest.py)."""

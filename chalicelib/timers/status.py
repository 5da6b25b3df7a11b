"""A timer's statuses, and the HTTP methods a callback may use: facts of the domain that the API,
the timer store and the worker share."""
from __future__ import annotations

STATUS_DISABLED = 1
STATUS_ENABLED = 2
STATUS_COMPLETED = 3  # no fires left (one-shot done, endAt passed, maxFires reached): never fires again
TIMER_STATUS_NAMES = {STATUS_DISABLED: "disabled", STATUS_ENABLED: "enabled", STATUS_COMPLETED: "completed"}

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

"""A timer's statuses, and the HTTP methods a callback may use: facts of the domain that the API,
the timer store and the worker share."""
from __future__ import annotations

STATUS_DISABLED = 1
STATUS_ENABLED = 2

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

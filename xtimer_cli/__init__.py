"""The xtimer command-line client (`xtimer --help`) and a thin client of the HTTP API (`XtimerClient`)."""
from xtimer_cli.client import ApiError, ServiceUnreachable, XtimerClient

__all__ = ["ApiError", "ServiceUnreachable", "XtimerClient"]

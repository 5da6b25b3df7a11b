"""The API's limits on requests, in one place: the request fields (chalicelib.api.fields) enforce
them and /openapi.json publishes them, both from these numbers.

They are documented in docs/api.md ("Limits"); change both together.
"""
from __future__ import annotations

from chalicelib.timers.schedule import MAX_CRON_LENGTH  # noqa: F401  (the parser holds it; re-exported)

MAX_REQUEST_BYTES = 256 * 1024
MAX_APP_LENGTH = 128
MAX_NAME_LENGTH = 128
MAX_TIMEZONE_LENGTH = 64
MAX_URL_LENGTH = 2048
MAX_METHOD_LENGTH = 10
MAX_HEADERS = 50
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 4096
MAX_BODY_BYTES = 16 * 1024
MAX_TIMER_ID = 2**53 - 1
MAX_VERSION = 2**53 - 1

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_PREVIEW_COUNT = 50
MAX_ACTIVITY_MINUTES = 60  # getAppActivity: the console's last-hour view
DEFAULT_PREVIEW_COUNT = 5

__all__ = [name for name in dir() if name.isupper()]

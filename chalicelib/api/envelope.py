"""The reply envelope of the original xtimer API: `{code, message, data}`."""
from __future__ import annotations

from typing import Any

from chalicelib.errors import ErrorCode, XtimerError


def ok(data: Any = None) -> dict[str, Any]:
    """A success reply; `data` is left out when there is none, as the spec's EnableTimerReply does."""
    body: dict[str, Any] = {"code": int(ErrorCode.OK), "message": "ok"}
    if data is not None:
        body["data"] = data
    return body


def error(err: XtimerError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": int(err.code), "message": err.message}
    if err.field:
        body["data"] = {"field": err.field}
    return body

"""API keys: who may call, and for which app.

Each app has one or more keys (`xtk_...`), issued and revoked by an operator
(`python -m xtimer_admin keys ...`). A key travels in the `X-Xtimer-Key` header and is stored
only as its SHA-256. When XTIMER_AUTH=required (every deployed stage), every call except
/health, /openapi.json and the console's static files needs a valid key, and the `app` a call
names must be the key's app. A Lambda remembers a key's app for a minute, so a revocation takes
effect within a minute.
"""
from __future__ import annotations

from typing import Mapping

from chalicelib import config
from chalicelib.apps.keys import ApiKeys
from chalicelib.errors import ErrorCode, XtimerError

KEY_HEADER = "X-Xtimer-Key"


def authenticate(headers: Mapping[str, str], keys: ApiKeys) -> str | None:
    """The app of the caller's key, or None when authentication is off."""
    if not config.auth_required():
        return None
    key = _header(headers, KEY_HEADER)
    if not key:
        raise XtimerError(ErrorCode.UNAUTHORIZED,
                          f"missing {KEY_HEADER} header: send your app's API key (ask the operator for one)")
    app = keys.app_of(key.strip()) if len(key) <= 200 else None
    if app is None:
        raise XtimerError(ErrorCode.UNAUTHORIZED, f"the {KEY_HEADER} key is not valid: it is unknown or revoked")
    return app


def authorize(caller: str | None, app: str) -> None:
    """The app a call names must be the key's app."""
    if caller is not None and caller != app:
        raise XtimerError(ErrorCode.FORBIDDEN,
                          f"this API key belongs to app {caller!r}; it cannot act for app {app!r}",
                          field="app")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None  # Chalice's headers are case-insensitive already
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value

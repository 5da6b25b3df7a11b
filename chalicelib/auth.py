"""API keys: who may call, and for which app.

Each app has one or more keys (`xtk_...`), issued and revoked by an operator
(`python -m xtimer_admin keys ...`). A key travels in the `X-Xtimer-Key` header and is stored
only as its SHA-256. When XTIMER_AUTH=required (every deployed stage), every call except
/health, /openapi.json and the console's static files needs a valid key, and the `app` a call
names must be the key's app. A Lambda remembers a key's app for a minute, so a revocation takes
effect within a minute.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Mapping

from pynamodb.exceptions import DoesNotExist

from chalicelib import config, models
from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.errors import ErrorCode, XtimerError
from chalicelib.models import ApiKeyModel

KEY_HEADER = "X-Xtimer-Key"
KEY_PREFIX = "xtk_"
CACHE_SECONDS = 60.0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    app: str
    created_at: int
    revoked_at: int | None


class ApiKeys:
    def __init__(self, clock: Clock = system_clock, monotonic=time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def issue(self, app: str) -> tuple[str, KeyInfo]:
        """A new key for `app`; the key itself is shown once and never stored."""
        models.bind()
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        item = ApiKeyModel(key_hash(key), app=app, key_id=key[:12], created_at=to_ms(self._clock()))
        item.save(condition=ApiKeyModel.key_hash.does_not_exist())
        return key, KeyInfo(item.key_id, app, item.created_at, None)

    def list(self, app: str) -> list[KeyInfo]:
        models.bind()
        return [KeyInfo(k.key_id, app, int(k.created_at), None if k.revoked_at is None else int(k.revoked_at))
                for k in ApiKeyModel.by_app.query(app)]

    def revoke(self, app: str, key_id: str) -> bool:
        """Revoke the app's key whose id is `key_id`; False if there is none."""
        models.bind()
        for found in ApiKeyModel.by_app.query(app, filter_condition=ApiKeyModel.key_id == key_id):
            ApiKeyModel(found.key_hash).update(actions=[ApiKeyModel.revoked_at.set(to_ms(self._clock()))])
            with self._lock:
                self._cache.pop(found.key_hash, None)
            return True
        return False

    def app_of(self, key: str) -> str | None:
        """The app a live key belongs to, or None for an unknown or revoked key."""
        digest = key_hash(key)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        models.bind()
        try:
            item = ApiKeyModel.get(digest)
            app = None if item.revoked_at is not None else item.app
        except DoesNotExist:
            app = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + CACHE_SECONDS, app)
        return app


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

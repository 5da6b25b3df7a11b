"""API keys: each app's keys (`xtk_...`), issued and revoked by an operator
(`python -m xtimer_admin keys ...`) and stored only as their SHA-256. A process remembers a key's
app for a minute, so a revocation takes effect within a minute.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from chalicelib.clock import Clock, system_clock, to_ms
from chalicelib.storage.models import ApiKeyModel

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
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        item = ApiKeyModel(key_hash(key), app=app, key_id=key[:12], created_at=to_ms(self._clock()))
        item.save(condition=ApiKeyModel.key_hash.does_not_exist())
        return key, KeyInfo(item.key_id, app, item.created_at, None)

    def list(self, app: str) -> list[KeyInfo]:
        return [KeyInfo(k.key_id, app, int(k.created_at), None if k.revoked_at is None else int(k.revoked_at))
                for k in ApiKeyModel.by_app.query(app)]

    def revoke(self, app: str, key_id: str) -> bool:
        """Revoke the app's key whose id is `key_id`; False if there is none."""
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

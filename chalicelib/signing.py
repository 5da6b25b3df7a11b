"""Signed callbacks: each callback carries an HMAC-SHA256 of its timestamp and body, keyed with a
secret of the timer's app, so a receiver can check that it came from this service and is fresh.

    X-Xtimer-Timestamp: 1795593495
    X-Xtimer-Signature: v1=5257a869...   (one v1= per valid secret, comma-separated, during a rotation)

The signed bytes are `<timestamp>.<body>` (an empty body for requests without one). `verify` is
the reference check; the README shows the same in a few lines.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Iterable

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib import models
from chalicelib.clock import Clock, system_clock
from chalicelib.models import AppModel

SECRET_PREFIX = "xts_"
TOLERANCE_SECONDS = 300
CACHE_SECONDS = 60.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(secrets_: Iterable[str], timestamp: int, body: bytes) -> dict[str, str]:
    signatures = ",".join(f"v1={sign(s, timestamp, body)}" for s in secrets_)
    return {"X-Xtimer-Timestamp": str(timestamp), "X-Xtimer-Signature": signatures} if signatures else {}


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True if one of the header's v1 signatures is `secret`'s and the timestamp is fresh."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, part.strip()[3:])
               for part in signature_header.split(",") if part.strip().startswith("v1="))


class SigningSecrets:
    """Each app's signing secrets, created on first use, remembered for a minute per process."""

    def __init__(self, clock: Clock = system_clock, monotonic=time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def for_app(self, app: str) -> tuple[str, ...]:
        """The secrets to sign `app`'s callbacks with: the current one, and the previous one
        while a rotation's grace period lasts."""
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(app)
        if cached and cached[0] > now:
            return cached[1]
        item = self.load(app)
        found = (item.signing_secret,)
        if item.previous_secret and (item.previous_until or 0) > self._clock():
            found += (item.previous_secret,)
        with self._lock:
            self._cache[app] = (now + CACHE_SECONDS, found)
        return found

    def load(self, app: str) -> AppModel:
        """The app's item, created with a new secret if it has none yet (two racing creators agree)."""
        models.bind()
        try:
            return AppModel.get(app, consistent_read=True)
        except DoesNotExist:
            pass
        item = AppModel(app, signing_secret=_new_secret(), created_at=int(self._clock()))
        try:
            item.save(condition=AppModel.app.does_not_exist())
            return item
        except PutError:
            return AppModel.get(app, consistent_read=True)

    def rotate(self, app: str, grace_seconds: int = 86_400) -> AppModel:
        """A new secret; the old one keeps signing alongside it for `grace_seconds`."""
        item = self.load(app)
        now = int(self._clock())
        item.update(actions=[
            AppModel.previous_secret.set(item.signing_secret),
            AppModel.previous_until.set(now + grace_seconds),
            AppModel.signing_secret.set(_new_secret()),
            AppModel.rotated_at.set(now),
        ])
        with self._lock:
            self._cache.pop(app, None)
        return item


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)

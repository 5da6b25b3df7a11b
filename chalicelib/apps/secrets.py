"""Each app's callback signing secrets: made on first use, rotated by an operator with a grace
period during which the previous secret signs alongside the new one.

Workers remember an app's secrets for a minute. So that a rotation, even one with no grace
period, is seen by receivers at once, each app also has its *next* secret, known only to the
service: callbacks are signed with it too (a receiver ignores a signature it has no secret for),
and a rotation makes it current. A worker whose cache predates the rotation therefore already
signs with the new secret. (Two rotations within a minute: the second one's secret reaches a
stale worker within CACHE_SECONDS.)"""
from __future__ import annotations

import secrets
import threading
import time

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.clock import Clock, system_clock
from chalicelib.storage.models import AppModel

SECRET_PREFIX = "xts_"
CACHE_SECONDS = 60.0


class SigningSecrets:
    """Each app's signing secrets, created on first use, remembered for a minute per process."""

    def __init__(self, clock: Clock = system_clock, monotonic=time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def for_app(self, app: str) -> tuple[str, ...]:
        """The secrets to sign `app`'s callbacks with: the current one, the previous one while a
        rotation's grace period lasts, and the next one (see the module's doc)."""
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(app)
        if cached and cached[0] > now:
            return cached[1]
        item = self.load(app)
        found = (item.signing_secret,)
        if item.previous_secret and (item.previous_until or 0) > self._clock():
            found += (item.previous_secret,)
        found += (item.next_secret,)
        with self._lock:
            self._cache[app] = (now + CACHE_SECONDS, found)
        return found

    def load(self, app: str) -> AppModel:
        """The app's item, created with new secrets if it has none yet (two racing creators agree),
        given a next secret if it predates them."""
        try:
            item = AppModel.get(app, consistent_read=True)
        except DoesNotExist:
            item = AppModel(app, signing_secret=_new_secret(), next_secret=_new_secret(),
                            created_at=int(self._clock()))
            try:
                item.save(condition=AppModel.app.does_not_exist())
                return item
            except PutError:
                item = AppModel.get(app, consistent_read=True)
        if not item.next_secret:
            try:
                item.update(actions=[AppModel.next_secret.set(_new_secret())],
                            condition=AppModel.next_secret.does_not_exist())
            except UpdateError:
                item = AppModel.get(app, consistent_read=True)
        return item

    def rotate(self, app: str, grace_seconds: int = 86_400) -> AppModel:
        """The next secret becomes current (a fresh one is next); the old one keeps signing
        alongside it for `grace_seconds`."""
        item = self.load(app)
        now = int(self._clock())
        item.update(actions=[
            AppModel.previous_secret.set(item.signing_secret),
            AppModel.previous_until.set(now + grace_seconds),
            AppModel.signing_secret.set(item.next_secret or _new_secret()),
            AppModel.next_secret.set(_new_secret()),
            AppModel.rotated_at.set(now),
        ])
        with self._lock:
            self._cache.pop(app, None)
        return item


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)

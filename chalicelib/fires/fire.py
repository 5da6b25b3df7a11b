"""A fire: one due execution of a timer, as it travels from the tick through the queue to the worker.

Two message shapes travel on the fire queue:

- a single fire, `{"timerId", "app", "fireMs", "generation"[, "manual"][, "notBeforeMs"]}`: the
  original shape, still written for a fire alone in its second, for manual runs, and for every
  retry (each retry travels on its own, with its backoff); `notBeforeMs` holds a retry back past
  SQS's 15-minute DelaySeconds limit;
- a bucket, `{"v": 2, "fireMs", "fires": [{"t": timerId, "a": app, "g": generation[, "m": 1]}, ...]}`:
  up to BUCKET_SIZE fires due in the same second (chalicelib.fires.queue explains the size).

`parse_message` reads both, so a queue that still holds single-fire messages during an upgrade
is drained as before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class MalformedFire(ValueError):
    """A queue message that is not a fire this service wrote."""


@dataclass(frozen=True)
class Fire:
    timer_id: int
    app: str
    fire_ms: int  # when it is due, epoch ms (whole seconds for scheduled fires)
    generation: int  # the timer's schedule generation when the fire was made
    manual: bool = False  # a run-now outside the schedule: made even if the timer is disabled
    not_before_ms: int = 0  # a retry: not to be called before this (epoch ms); 0 for a first attempt

    @property
    def fire_time(self) -> float:
        return self.fire_ms / 1000

    @property
    def due_time(self) -> float:
        """When it may be called: its fire time, or later for a retry held back."""
        return max(self.fire_ms, self.not_before_ms) / 1000

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt and every redelivery of this fire."""
        return f"{self.timer_id}-{self.fire_ms}"

    def to_message(self) -> str:
        body: dict[str, Any] = {
            "timerId": self.timer_id, "app": self.app, "fireMs": self.fire_ms, "generation": self.generation,
        }
        if self.manual:
            body["manual"] = True
        if self.not_before_ms:
            body["notBeforeMs"] = self.not_before_ms
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_message(cls, text: str) -> Fire:
        """A single-fire message (a bucket is refused: see parse_message)."""
        fires = parse_message(text)
        if len(fires) != 1 or is_bucket(text):
            raise MalformedFire(f"not a single-fire message: {text[:200]!r}")
        return fires[0]


def bucket_message(fires: list[Fire]) -> str:
    """The message of a bucket: fires due at the same fire_ms, first attempts (no not_before)."""
    fire_ms = fires[0].fire_ms
    if any(f.fire_ms != fire_ms or f.not_before_ms for f in fires):
        raise ValueError("a bucket holds first attempts of one fire time only")
    entries = [{"t": f.timer_id, "a": f.app, "g": f.generation, **({"m": 1} if f.manual else {})} for f in fires]
    return json.dumps({"v": 2, "fireMs": fire_ms, "fires": entries}, separators=(",", ":"))


def is_bucket(text: str) -> bool:
    """Whether a (well-formed) message is a bucket rather than a single fire."""
    return text.startswith('{"v":2,')


def parse_message(text: str) -> list[Fire]:
    """The fires of a message of either shape; MalformedFire if it is neither."""
    try:
        body = json.loads(text)
        if not isinstance(body, dict):
            raise TypeError("not an object")
        if body.get("v") == 2:
            fire_ms = int(body["fireMs"])
            fires = [Fire(timer_id=int(e["t"]), app=str(e["a"]), fire_ms=fire_ms, generation=int(e["g"]),
                          manual=bool(e.get("m", False))) for e in body["fires"]]
            if not fires:
                raise ValueError("an empty bucket")
            return fires
        return [Fire(
            timer_id=int(body["timerId"]),
            app=str(body["app"]),
            fire_ms=int(body["fireMs"]),
            generation=int(body["generation"]),
            manual=bool(body.get("manual", False)),
            not_before_ms=int(body.get("notBeforeMs", 0)),
        )]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedFire(f"not a fire message ({exc}): {text[:200]!r}") from None

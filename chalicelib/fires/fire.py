"""A fire: one due execution of a timer, as it travels from the tick through the queue to the worker."""
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

    @property
    def fire_time(self) -> float:
        return self.fire_ms / 1000

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
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_message(cls, text: str) -> Fire:
        try:
            body = json.loads(text)
            fire = cls(
                timer_id=int(body["timerId"]),
                app=str(body["app"]),
                fire_ms=int(body["fireMs"]),
                generation=int(body["generation"]),
                manual=bool(body.get("manual", False)),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedFire(f"not a fire message ({exc}): {text[:200]!r}") from None
        return fire

"""A timer's delivery policy, resolved, and the decision after a failed attempt: retry (after how
long) or give up (why).

The timer's own settings (chalicelib.timers.delivery_options) win; what it leaves unset is the
service's: XTIMER_MAX_ATTEMPTS, the notifier's timeouts, backoff from 1 s doubling up to 300 s,
no maximum age, and DEFAULT_RETRY_ON.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from chalicelib import config
from chalicelib.delivery.notifier import backoff_delay
from chalicelib.fires.outcome import Outcome
from chalicelib.timers.delivery_options import DEFAULT_RETRY_ON, DeliveryOptions, delivery_of
from chalicelib.storage.models import TimerModel

DEFAULT_MIN_BACKOFF_SECONDS = 1
DEFAULT_MAX_BACKOFF_SECONDS = 300


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    max_age_seconds: int | None
    min_backoff_seconds: int
    max_backoff_seconds: int
    retry_on: frozenset[str]
    timeout_seconds: float | None  # None: the notifier's own (connect + read timeout)

    def retries(self, outcome: Outcome) -> bool:
        """Whether retryOn covers this failed outcome."""
        return bool(outcome_classes(outcome) & self.retry_on)

    def describe_retry_on(self) -> str:
        return ", ".join(sorted(self.retry_on)) or "nothing"


def resolve(options: DeliveryOptions) -> Policy:
    min_backoff = options.min_backoff_seconds or DEFAULT_MIN_BACKOFF_SECONDS
    return Policy(
        max_attempts=options.max_attempts or config.max_attempts(),
        max_age_seconds=options.max_age_seconds,
        min_backoff_seconds=min_backoff,
        max_backoff_seconds=options.max_backoff_seconds or max(DEFAULT_MAX_BACKOFF_SECONDS, min_backoff),
        retry_on=frozenset(DEFAULT_RETRY_ON if options.retry_on is None else options.retry_on),
        timeout_seconds=None if options.timeout_seconds is None else float(options.timeout_seconds),
    )


def policy_of(timer: TimerModel) -> Policy:
    return resolve(delivery_of(timer))


def outcome_classes(outcome: Outcome) -> frozenset[str]:
    """The retryOn entries that name a failed outcome: its status and class ("503", "5xx"), or
    "timeout" / "connection" when no answer arrived."""
    status = outcome.http_status
    if status is None:
        return frozenset({"timeout" if (outcome.error or "").startswith("timed out") else "connection"})
    return frozenset({str(status), f"{status // 100}xx"})


@dataclass(frozen=True)
class Retry:
    delay_seconds: int


@dataclass(frozen=True)
class GiveUp:
    reason: str
    explains: bool = False  # the reason becomes the task's error: the attempt's own does not say why it stopped


def decide(policy: Policy, attempt: int, outcome: Outcome, *, fire_ms: int, now_ms: int,
           rng: random.Random) -> Retry | GiveUp:
    """What to do after failed attempt number `attempt` (1-based) of a fire due at `fire_ms`."""
    what = f"attempt {attempt}: {outcome.error or 'failed'}"
    if not outcome.retryable:  # a refused destination stays refused
        return GiveUp(what)
    if not policy.retries(outcome):
        return GiveUp(f"{what} (not retried: retryOn is {policy.describe_retry_on()})", explains=True)
    if attempt >= policy.max_attempts:
        return GiveUp(f"{what} (the last of maxAttempts {policy.max_attempts})")
    if outcome.retry_after is not None:  # the receiver said when: honoured, but not sooner than the minimum
        delay = max(policy.min_backoff_seconds, math.ceil(outcome.retry_after))
    else:
        delay = max(policy.min_backoff_seconds,
                    backoff_delay(attempt, cap=float(policy.max_backoff_seconds), rng=rng))
    delay = max(1, delay)
    if policy.max_age_seconds is not None and now_ms + delay * 1000 - fire_ms > policy.max_age_seconds * 1000:
        return GiveUp(f"{what} (no retry: the next one, in {delay} s, would be more than maxAgeSeconds "
                      f"{policy.max_age_seconds} after the fire time)", explains=True)
    return Retry(delay)

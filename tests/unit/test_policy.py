"""chalicelib.delivery.policy: a timer's settings over the service's defaults, and the decision
after a failed attempt (the pipeline tests in tests/component/test_delivery_policy.py make the
same decisions happen against a receiver)."""
from __future__ import annotations

import random

import pytest

from chalicelib.delivery import policy
from chalicelib.fires.outcome import Outcome
from chalicelib.timers.delivery_options import DeliveryOptions

FIRE_MS = 1_772_366_460_000


def failed(status: int | None = None, error: str | None = None, retry_after: float | None = None) -> Outcome:
    return Outcome(ok=False, http_status=status, response_body="", duration_ms=5,
                   error=error or (f"HTTP {status}" if status else "connection refused"), retry_after=retry_after)


def decide(options: DeliveryOptions, outcome: Outcome, attempt: int = 1, after_ms: int = 0) -> object:
    return policy.decide(policy.resolve(options), attempt, outcome, fire_ms=FIRE_MS, now_ms=FIRE_MS + after_ms,
                         rng=random.Random(7))


def test_unset_fields_are_the_services_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "4")
    resolved = policy.resolve(DeliveryOptions())
    assert (resolved.max_attempts, resolved.max_age_seconds, resolved.min_backoff_seconds,
            resolved.max_backoff_seconds, resolved.timeout_seconds) == (4, None, 1, 300, None)
    assert resolved.retry_on == {"connection", "timeout", "408", "429", "5xx"}


@pytest.mark.parametrize(("outcome", "classes"), [
    (failed(503), {"503", "5xx"}),
    (failed(404), {"404", "4xx"}),
    (failed(None, "timed out after 1.0 s (read)"), {"timeout"}),
    (failed(None, "DNS lookup failed for example.invalid"), {"connection"}),
])
def test_each_failed_outcome_has_the_retry_on_entries_that_name_it(outcome: Outcome, classes: set[str]) -> None:
    assert policy.outcome_classes(outcome) == classes


def test_by_default_a_404_gives_up_and_a_429_or_a_503_retries() -> None:
    assert isinstance(decide(DeliveryOptions(), failed(404)), policy.GiveUp)
    assert isinstance(decide(DeliveryOptions(), failed(429)), policy.Retry)
    assert isinstance(decide(DeliveryOptions(), failed(503)), policy.Retry)
    assert isinstance(decide(DeliveryOptions(retry_on=()), failed(503)), policy.GiveUp)


def test_a_refused_destination_is_never_retried_whatever_retry_on_says() -> None:
    refused = Outcome(ok=False, http_status=None, response_body="", duration_ms=0, error="refused", retry_after=None,
                      retryable=False)
    assert isinstance(decide(DeliveryOptions(retry_on=("connection",)), refused), policy.GiveUp)


def test_the_backoff_stays_between_the_minimum_and_the_maximum() -> None:
    options = DeliveryOptions(max_attempts=20, min_backoff_seconds=10, max_backoff_seconds=12)
    delays = {decide(options, failed(500), attempt=n).delay_seconds for n in range(1, 20)}  # type: ignore[attr-defined]
    assert delays <= {10, 11, 12}


def test_retry_after_is_honoured_but_not_sooner_than_the_minimum() -> None:
    assert decide(DeliveryOptions(), failed(429, retry_after=42.2)) == policy.Retry(43)
    assert decide(DeliveryOptions(min_backoff_seconds=60), failed(429, retry_after=5)) == policy.Retry(60)


def test_no_retry_would_leave_later_than_the_max_age() -> None:
    options = DeliveryOptions(max_age_seconds=60, min_backoff_seconds=30, max_backoff_seconds=30)
    assert decide(options, failed(500), after_ms=30_000) == policy.Retry(30)  # leaves at +60 s: allowed
    given_up = decide(options, failed(500), after_ms=30_001)
    assert isinstance(given_up, policy.GiveUp) and given_up.explains and "maxAgeSeconds 60" in given_up.reason

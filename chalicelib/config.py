"""Settings of the running service, read from the environment each time they are asked for.

Nothing here is cached at import time: the Chalice test client applies a stage's environment
variables only during a call, and the local stack sets them after some modules are imported.
Every name has a default derived from the stage, so two stages can share one AWS account.
"""
from __future__ import annotations

import os

DEFAULT_STAGE = "dev"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from None


def deployed() -> bool:
    """True inside AWS Lambda (the runtime sets AWS_LAMBDA_FUNCTION_NAME), false locally."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def stage() -> str:
    return _env("XTIMER_STAGE", DEFAULT_STAGE)


def resource_prefix() -> str:
    """Prefix of every table and queue name: `xtimer-<stage>` unless overridden."""
    return _env("XTIMER_RESOURCE_PREFIX", f"xtimer-{stage()}")


def timers_table() -> str:
    return _env("XTIMER_TIMERS_TABLE", f"{resource_prefix()}-timers")


def timer_names_table() -> str:
    return _env("XTIMER_TIMER_NAMES_TABLE", f"{resource_prefix()}-timer-names")


def tasks_table() -> str:
    return _env("XTIMER_TASKS_TABLE", f"{resource_prefix()}-tasks")


def api_keys_table() -> str:
    return _env("XTIMER_API_KEYS_TABLE", f"{resource_prefix()}-api-keys")


def apps_table() -> str:
    return _env("XTIMER_APPS_TABLE", f"{resource_prefix()}-apps")


def fire_queue() -> str:
    return _env("XTIMER_FIRE_QUEUE", f"{resource_prefix()}-fires")


def dead_letter_queue() -> str:
    return _env("XTIMER_DEAD_LETTER_QUEUE", f"{resource_prefix()}-fires-dlq")


def region() -> str:
    return _env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1"))


def endpoint_url() -> str | None:
    """An AWS endpoint to use instead of the real one (moto, LocalStack); None on AWS."""
    return os.environ.get("AWS_ENDPOINT_URL", "").strip() or None


def allow_loopback_callbacks() -> bool:
    """Only the local stack turns this on; deployed stages never set it."""
    return _env("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "false").lower() in {"1", "true", "yes"}


def enqueue_ahead_seconds() -> int:
    """How far past the current minute a due timer's fires are enqueued (>= 120 so a late tick
    loses nothing, <= 840 to stay within SQS's 900 s delay). Further ahead, a timer's cursor is
    written less often: once per window rather than once a minute (chalicelib.scheduling.tick); the local
    stack keeps its moto queue short."""
    default = 600 if deployed() else 120
    return min(max(_env_int("XTIMER_ENQUEUE_AHEAD_SECONDS", default), 120), 840)


def early_seconds() -> int:
    """A fire shows up in the queue this many (to one more) seconds before it is due: 1 in
    Lambda; 3 locally, where moto takes several ms of CPU per claim, one claim at a time, and a
    herd of a few hundred fires needs the extra seconds to be claimed before its second."""
    return min(max(_env_int("XTIMER_EARLY_SECONDS", 1 if deployed() else 3), 0), 5)


def catch_up_seconds() -> int:
    """Fires missed by at most this much are made late, once; older ones are recorded as missed."""
    return max(_env_int("XTIMER_CATCH_UP_SECONDS", 300), 0)


def task_retention_days() -> int:
    return max(_env_int("XTIMER_TASK_RETENTION_DAYS", 7), 1)


FIRE_QUEUE_MAX_RECEIVES = 20
"""The fire queue's redrive policy (maxReceiveCount): after this many receives SQS itself moves
a message to the dead-letter queue (the worker parks it first, with a reason, at that receive)."""

RECEIVE_MARGIN = 5
"""Receives kept free of attempts: an early bounce, a claim found busy or a passing AWS error
count as receives too, so attempts may use at most FIRE_QUEUE_MAX_RECEIVES - RECEIVE_MARGIN."""


def max_attempts() -> int:
    """Callback attempts per fire before it is marked failed and sent to the dead-letter queue
    (1-15: see RECEIVE_MARGIN)."""
    return min(max(_env_int("XTIMER_MAX_ATTEMPTS", 5), 1), FIRE_QUEUE_MAX_RECEIVES - RECEIVE_MARGIN)


def auth_required() -> bool:
    """Whether every call but /health needs an app's API key (X-Xtimer-Key).

    XTIMER_AUTH=required or off decides; unset, it is required in every deployed stage and off
    locally (the local stack and the tests), so no stage can be deployed open by omission.
    """
    value = _env("XTIMER_AUTH", "required" if deployed() else "off").lower()
    return value in {"required", "on", "true", "1"}


def allowed_hosts() -> frozenset[str]:
    """Host names (without port) an unauthenticated stage answers besides loopback ones
    (XTIMER_ALLOWED_HOSTS, comma-separated); see chalicelib.api.cross_site."""
    return frozenset(h.strip().lower() for h in _env("XTIMER_ALLOWED_HOSTS", "").split(",") if h.strip())


def max_timers_per_app() -> int:
    return max(_env_int("XTIMER_MAX_TIMERS_PER_APP", 10_000), 1)


def max_fires_per_minute_per_app() -> int:
    """The sum of the enabled timers' fire rates an app may have (a timer every second is 60)."""
    return max(_env_int("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", 6_000), 1)


def max_manual_runs_per_minute_per_app() -> int:
    """triggerTimer runs an app may start per calendar minute (UTC), whatever its timers' rates."""
    return max(_env_int("XTIMER_MAX_MANUAL_RUNS_PER_MINUTE_PER_APP", 60), 1)


METRICS_SINKS = ("emf", "prometheus", "off")


def metrics_sink() -> str:
    """Where metrics go (chalicelib.observability): `emf` (CloudWatch, every deployed stage's
    default), `prometheus` (GET /metrics; the local stack sets it) or `off` (the tests' default)."""
    value = _env("XTIMER_METRICS", "emf" if deployed() else "off").lower()
    if value not in METRICS_SINKS:
        raise RuntimeError(f"environment variable XTIMER_METRICS must be one of {', '.join(METRICS_SINKS)}, "
                           f"got {value!r}")
    return value


def max_inflight_per_app() -> int:
    """Callbacks of one app in flight at once in one worker process (chalicelib.delivery.fairness).
    32 is an eighth of the worker's 256 call threads: an app whose receiver hangs holds at most
    that share, and a second's bucket of 25 first attempts still goes out at once."""
    return max(_env_int("XTIMER_MAX_INFLIGHT_PER_APP", 32), 1)


def max_inflight_per_host() -> int:
    """Callbacks to one receiver (host and port) in flight at once in one worker process: a
    quarter of the call threads, more than one app's share since apps may share a receiver."""
    return max(_env_int("XTIMER_MAX_INFLIGHT_PER_HOST", 64), 1)


def max_inflight_retries() -> int:
    """Retries (attempt 2 and later) in flight at once in one worker process, all apps together:
    a quarter of the call threads, so a storm of retries leaves the rest to first attempts."""
    return max(_env_int("XTIMER_MAX_INFLIGHT_RETRIES", 64), 1)


def lane_wait_ms() -> int:
    """How long a callback over its app's, host's or the retries' cap waits in its lane for room
    before its fire is handed back to the queue (0: at once)."""
    return min(max(_env_int("XTIMER_LANE_WAIT_MS", 1000), 0), 10_000)


def breaker_failures() -> int:
    """Timeouts or connection failures in a row that open a receiver host's circuit."""
    return max(_env_int("XTIMER_BREAKER_FAILURES", 5), 1)


def breaker_open_seconds() -> int:
    """How long an open circuit refuses calls before it lets one probe through."""
    return max(_env_int("XTIMER_BREAKER_OPEN_SECONDS", 30), 1)

"""Every metric the service emits, named once.

The code emits only metrics of this table (chalicelib.observability.meter refuses any other),
and the packaged template's alarms and dashboard (xtimer_deploy.monitoring) are generated from
it, so renaming a metric here renames it everywhere, and a name that exists only in an alarm
cannot be written.

Dimensions are the stage and the emitting function only (`DIMENSIONS`): a stage with 10,000
apps has the same fourteen metric streams as one with a single app. Per-app figures are in the
task records and the API (getTasks), not in CloudWatch dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

NAMESPACE = "xtimer"
DIMENSIONS = ("Stage", "Function")


class Kind(Enum):
    COUNTER = "counter"      # how many; CloudWatch Sum, Prometheus counter
    TIMING = "timing"        # milliseconds; CloudWatch percentiles, Prometheus histogram


class Function(Enum):
    """The Lambda function that emits a metric: the value of its Function dimension."""

    WORKER = "worker"
    TICK = "tick"


@dataclass(frozen=True)
class Metric:
    name: str                # the CloudWatch metric name (EMF)
    kind: Kind
    function: Function
    help: str

    @property
    def unit(self) -> str:
        """The CloudWatch unit."""
        return "Count" if self.kind is Kind.COUNTER else "Milliseconds"

    @property
    def prometheus_name(self) -> str:
        """xtimer_fires_delivered_total, xtimer_callback_lateness_ms, ..."""
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name).lstrip("_")
        return f"{NAMESPACE}_{snake}" + ("" if self.kind is Kind.COUNTER else "_ms")


_W, _T = Function.WORKER, Function.TICK
_C, _MS = Kind.COUNTER, Kind.TIMING

FIRES_DELIVERED = Metric("FiresDelivered", _C, _W, "Fires whose callback got a 2xx answer.")
FIRES_FAILED = Metric("FiresFailed", _C, _W, "Fires that failed for good: their last attempt failed.")
FIRES_RETRIED = Metric("FiresRetried", _C, _W, "Failed attempts that will be tried again after a backoff.")
FIRES_DEAD_LETTERED = Metric("FiresDeadLettered", _C, _W,
                             "Messages parked on the dead-letter queue (failed fires, malformed messages).")
FIRES_DROPPED = Metric("FiresDropped", _C, _W,
                       "Fires not made: the timer was deleted, disabled or rescheduled since they were sent.")
FIRES_SKIPPED = Metric("FiresSkipped", _C, _W,
                       "Fires not made: the timer's previous fire was not done yet (overlapPolicy skip/buffer_one).")
CLAIM_CONFLICTS = Metric("ClaimConflicts", _C, _W,
                         "Messages of a fire already done or being called by another worker (duplicates).")
FIRES_DEFERRED = Metric("FiresDeferred", _C, _W,
                        "Fires handed back to the queue, claim released, because their app's, receiver's or the "
                        "retries' in-flight cap stayed full (chalicelib.delivery.fairness).")
CALLBACKS_SHORT_CIRCUITED = Metric("CallbacksShortCircuited", _C, _W,
                                   "Attempts failed at once, with no network call, because their receiver host's "
                                   "circuit was open after repeated timeouts or connection failures.")
CALLBACK_LATENESS = Metric("CallbackLateness", _MS, _W,
                           "How long after its fire time a callback left, in ms (p50/p99 in CloudWatch).")
CALLBACK_DURATION = Metric("CallbackDuration", _MS, _W, "How long one callback attempt took, in ms.")
FIRES_MISSED = Metric("FiresMissed", _C, _T,
                      "Fires skipped: due longer ago than the catch-up window (XTIMER_CATCH_UP_SECONDS).")
TICK_DURATION = Metric("TickDuration", _MS, _T, "How long one tick took, in ms; one value per tick.")
TICK_TIMERS_READ = Metric("TickTimersRead", _C, _T, "Due timers one tick read.")
TICK_FIRES_ENQUEUED = Metric("TickFiresEnqueued", _C, _T, "Fires one tick sent to the fire queue.")

METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    FIRES_DELIVERED, FIRES_FAILED, FIRES_RETRIED, FIRES_DEAD_LETTERED, FIRES_DROPPED, CLAIM_CONFLICTS,
    FIRES_DEFERRED, CALLBACKS_SHORT_CIRCUITED, CALLBACK_LATENESS, CALLBACK_DURATION, FIRES_MISSED, TICK_DURATION,
    TICK_TIMERS_READ, TICK_FIRES_ENQUEUED, FIRES_SKIPPED,
)}


def metric(name: str) -> Metric:
    """The metric called `name`; KeyError names the known ones (a renamed metric fails here)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"no metric {name!r} in chalicelib.observability.catalog; known: {sorted(METRICS)}") from None

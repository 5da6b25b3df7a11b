"""The one way the service records a metric; where it goes is the sink's business.

The worker and the tick call `meter.count(...)` / `meter.time_ms(...)` and `meter.flush()` at the
end of an invocation. Deployed, the sink writes CloudWatch Embedded Metric Format lines
(chalicelib.observability.emf); locally it keeps Prometheus counters and histograms for
`GET /metrics` (chalicelib.observability.prometheus). The calls are the same either way.
"""
from __future__ import annotations

from typing import Protocol

from chalicelib.observability.catalog import METRICS, Kind, Metric


class Sink(Protocol):
    def record(self, metric: Metric, value: float) -> None: ...
    def flush(self) -> None: ...


class NullSink:
    """Records nothing (XTIMER_METRICS=off)."""

    def record(self, metric: Metric, value: float) -> None:
        pass

    def flush(self) -> None:
        pass


class Meter:
    """Checks each value against the catalog, then hands it to the sink. Thread-safe if the sink is."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink: Sink = sink if sink is not None else NullSink()

    def count(self, metric: Metric, n: int = 1) -> None:
        self._record(metric, Kind.COUNTER, n)

    def time_ms(self, metric: Metric, ms: float) -> None:
        self._record(metric, Kind.TIMING, max(0.0, ms))

    def flush(self) -> None:
        """Write out what was recorded (deployed: one EMF line per function); never raises."""
        try:
            self.sink.flush()
        except Exception:  # noqa: BLE001 - a metrics failure must not fail the fires
            import logging
            logging.getLogger(__name__).exception("metrics could not be flushed")

    def _record(self, metric: Metric, kind: Kind, value: float) -> None:
        if METRICS.get(metric.name) is not metric or metric.kind is not kind:
            raise ValueError(f"{metric.name} is not a {kind.value} of chalicelib.observability.catalog")
        self.sink.record(metric, value)

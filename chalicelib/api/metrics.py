"""GET /metrics: the local stack's counters and histograms in Prometheus' text format.

Only a sink that keeps its figures in the process can be scraped (the local stack's, XTIMER_METRICS=
prometheus). A deployed stage's metrics are in CloudWatch, across every Lambda container: there the
route answers a 404 envelope that says where to look.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from chalice import Response

from chalicelib import config
from chalicelib.api.handlers import Call, endpoint
from chalicelib.errors import ErrorCode, XtimerError
from chalicelib.wiring import services

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@runtime_checkable
class Scrapable(Protocol):
    def exposition(self) -> str: ...


@endpoint(public=True)
def metrics(call: Call) -> Response:
    sink = services().meter.sink
    if not isinstance(sink, Scrapable):
        raise XtimerError(ErrorCode.ROUTE_NOT_FOUND, (
            f"this stage keeps no metrics to scrape (XTIMER_METRICS={config.metrics_sink()}): a deployed "
            f"stage's metrics are in CloudWatch, namespace xtimer, dashboard xtimer-{config.stage()}; "
            "locally, `make run` serves them here (docs/operations.md)"))
    return Response(body=sink.exposition(), status_code=200, headers={"Content-Type": PROMETHEUS_TEXT})

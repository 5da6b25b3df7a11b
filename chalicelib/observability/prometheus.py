"""The local stack's sink: counters and histograms in a prometheus_client registry, which
`GET /metrics` renders in Prometheus' text format (what the original xtimer exported).

A local stack with several worker processes (`--worker-processes`) sets PROMETHEUS_MULTIPROC_DIR
before anything imports prometheus_client: every process then keeps its figures in files there
(prometheus_client's multiprocess mode), and the scrape adds them up across the processes.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chalicelib.observability.catalog import METRICS, Kind, Metric

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
CONTENT_TYPE = CONTENT_TYPE_LATEST

disable_created_metrics()  # no *_created series: the counters' start times are noise here


class PrometheusSink:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[str, Counter | Histogram] = {}
        for metric in METRICS.values():
            if metric.kind is Kind.COUNTER:
                # prometheus_client adds the _total suffix itself
                self._series[metric.name] = Counter(metric.prometheus_name, metric.help, registry=self.registry)
            else:
                self._series[metric.name] = Histogram(metric.prometheus_name, metric.help, buckets=BUCKETS_MS,
                                                      registry=self.registry)

    def record(self, metric: Metric, value: float) -> None:
        series = self._series[metric.name]
        if isinstance(series, Counter):
            series.inc(value)
        else:
            series.observe(value)

    def flush(self) -> None:
        pass  # scraped, not pushed

    def exposition(self) -> str:
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not shared:
            return generate_latest(self.registry).decode("utf-8")
        every_process = CollectorRegistry()
        MultiProcessCollector(every_process, path=shared)
        return generate_latest(every_process).decode("utf-8")

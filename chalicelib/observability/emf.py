"""Deployed stages' sink: CloudWatch Embedded Metric Format lines on stdout, through
aws-lambda-powertools. Lambda sends stdout to CloudWatch Logs, which turns each line into metric
values: no PutMetricData calls, no IAM grant beyond writing logs.

One provider per function, each with the fixed dimensions Stage and Function (catalog.DIMENSIONS),
so every metric's stream is (stage, function, name), whatever the number of apps.
"""
from __future__ import annotations

import threading

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chalicelib.observability.catalog import NAMESPACE, Function, Metric


class EmfSink:
    def __init__(self, stage: str) -> None:
        self._lock = threading.Lock()  # the worker records from many threads
        self._providers = {
            function: AmazonCloudWatchEMFProvider(
                namespace=NAMESPACE, metric_set={}, dimension_set={}, metadata_set={},
                default_dimensions={"Stage": stage, "Function": function.value},
            )
            for function in Function
        }
        for provider in self._providers.values():
            provider.service = None  # no `service` dimension, even if POWERTOOLS_SERVICE_NAME is set

    def record(self, metric: Metric, value: float) -> None:
        with self._lock:
            # powertools prints a line by itself once a metric has 100 values (EMF's limit)
            self._providers[metric.function].add_metric(name=metric.name, unit=metric.unit, value=value)

    def flush(self) -> None:
        with self._lock:
            for provider in self._providers.values():
                if provider.metric_set:
                    provider.flush_metrics()

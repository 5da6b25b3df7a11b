"""Builds the service's parts and hands them to each other, once per process.

app.py asks for `services()`; tests and the local stack install their own with `use(...)`,
for example with an injected clock. Building is also where the models are bound to this stage's
tables and endpoint: once, before any thread uses them (PynamoDB reads `Meta` when it connects).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from chalicelib import config
from chalicelib.apps.keys import ApiKeys
from chalicelib.apps.manual_runs import ManualRunLimit
from chalicelib.clock import Clock, system_clock
from chalicelib.fires.queue import FireQueue
from chalicelib.delivery.notifier import Notifier
from chalicelib.observability.meter import Meter, NullSink, Sink
from chalicelib.apps.secrets import SigningSecrets
from chalicelib.fires.tasks import TaskRecords
from chalicelib.scheduling.tick import Tick
from chalicelib.storage import models
from chalicelib.timers import schedule
from chalicelib.timers.store import TimerStore
from chalicelib.delivery.worker import MAX_EARLY_SECONDS, Worker


@dataclass
class Services:
    clock: Clock
    keys: ApiKeys
    signing: SigningSecrets
    queue: FireQueue
    tasks: TaskRecords
    tick: Tick
    timers: TimerStore
    worker: Worker
    meter: Meter


def build(
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    notifier: Notifier | None = None,
    queue: FireQueue | None = None,
    max_early_seconds: float = MAX_EARLY_SECONDS,
    tasks: TaskRecords | None = None,
    meter: Meter | None = None,
) -> Services:
    models.bind()
    schedule.use_clock(clock)  # what "now" is when a new schedule is checked (an at() in the past)
    meter = meter or Meter(metrics_sink())
    queue = queue or FireQueue(clock=clock, sleep=sleep)
    tasks = tasks or TaskRecords()
    tick = Tick(queue=queue, tasks=tasks, clock=clock, meter=meter)
    signing = SigningSecrets(clock=clock)
    return Services(
        clock=clock,
        keys=ApiKeys(clock=clock),
        signing=signing,
        queue=queue,
        tasks=tasks,
        tick=tick,
        timers=TimerStore(clock=clock, scheduler=tick, queue=queue, run_limit=ManualRunLimit(clock=clock)),
        worker=Worker(notifier=notifier, tasks=tasks, queue=queue, clock=clock, sleep=sleep,
                      max_early_seconds=max_early_seconds, signing=signing, meter=meter),
        meter=meter,
    )


def metrics_sink() -> Sink:
    """The sink XTIMER_METRICS names; each is imported only when chosen (prometheus_client is a
    development dependency, for the local stack)."""
    choice = config.metrics_sink()
    if choice == "emf":
        from chalicelib.observability.emf import EmfSink
        return EmfSink(stage=config.stage())
    if choice == "prometheus":
        from chalicelib.observability.prometheus import PrometheusSink
        return PrometheusSink()
    return NullSink()


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build()
    return _services


def use(replacement: Services | None) -> None:
    """Install `replacement` (None: go back to the defaults on next use)."""
    global _services
    with _lock:
        _services = replacement

"""`curl 127.0.0.1:8000/metrics` against `make run`: the counters and the lateness histogram move
as timers fire. The stack runs as a subprocess (tests/support/stack_process.py); the callbacks go
to a receiver on 127.0.0.1."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.receiver import Receiver
from tests.support.stack_process import StackProcess
from xtimer_cli.client import XtimerClient


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def scrape(stack: StackProcess) -> dict[str, float]:
    response = requests.get(stack.url + "/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {sample.name: sample.value for family in text_string_to_metric_families(response.text)
            for sample in family.samples if "le" not in sample.labels}


def test_make_run_serves_metrics_that_move_as_timers_fire(tmp_path: Path, receiver: Receiver) -> None:
    stack = StackProcess(tmp_path / "stack.log", "--ephemeral").start()
    try:
        before = scrape(stack)
        assert before["xtimer_fires_delivered_total"] == 0
        api = XtimerClient(stack.url, session=requests.Session())
        timer_id = int(api.create_timer("demo", "metered", "* * * * * *",
                                        {"url": receiver.url("/hook"), "method": "POST"})["timerId"])
        api.enable_timer("demo", timer_id)
        deadline = time.monotonic() + 60
        while len(receiver.received("/hook")) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.received("/hook")) >= 3, stack.output()
        api.disable_timer("demo", timer_id)
        after = scrape(stack)
    finally:
        stack.stop()
    assert after["xtimer_fires_delivered_total"] >= 3
    assert after["xtimer_tick_duration_ms_count"] >= 1  # the tick ran at start
    assert after["xtimer_callback_lateness_ms_count"] >= 3
    assert after["xtimer_callback_lateness_ms_sum"] >= 0
    assert after["xtimer_callback_duration_ms_count"] >= after["xtimer_fires_delivered_total"]
    assert "metrics on http://127.0.0.1:" in stack.output()


def test_metrics_add_up_every_worker_processs_fires(tmp_path: Path, receiver: Receiver) -> None:
    # Two worker processes take fires from one queue; /metrics must count the other one's too.
    stack = StackProcess(tmp_path / "stack.log", "--ephemeral", "--worker-processes", "2").start()
    try:
        api = XtimerClient(stack.url, session=requests.Session())
        timers = []
        for n in range(6):
            timers.append(int(api.create_timer("demo", f"metered-{n}", "* * * * * *",
                                               {"url": receiver.url(f"/hook/{n}"), "method": "POST"})["timerId"]))
            api.enable_timer("demo", timers[-1])
        deadline = time.monotonic() + 60
        while len(receiver.received()) < 24 and time.monotonic() < deadline:
            time.sleep(0.2)
        for timer_id in timers:
            api.disable_timer("demo", timer_id)
        time.sleep(2)  # fires already received finish recording; queued ones are dropped (disabled)
        made = len(receiver.received())
        after = scrape(stack)
    finally:
        stack.stop()
    assert made >= 24, stack.output()
    assert after["xtimer_fires_delivered_total"] == made
    assert after["xtimer_callback_lateness_ms_count"] == made

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

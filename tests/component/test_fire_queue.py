"""The fire queue hides each fire until about a second before it is due."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.storage import aws
from chalicelib.fires.queue import FireQueue, delay_for
from chalicelib.fires.fire import Fire


def fire_at(seconds: float) -> Fire:
    return Fire(timer_id=1, app="a", fire_ms=int(seconds * 1000), generation=1)


@pytest.mark.parametrize(("due_in", "early", "delay"), [
    (30.7, 1, 29),   # shows up 1.7 s early
    (30.0, 1, 29),   # 1 s early
    (1.5, 1, 0),     # due too soon to hide
    (-3, 1, 0),      # late already: at once
    (30.7, 0, 30),   # 0.7 s early
    (5000, 1, 900),  # SQS's longest delay
])
def test_a_fire_is_hidden_until_just_before_it_is_due(due_in: float, early: int, delay: int) -> None:
    assert delay_for(fire_at(1000 + due_in), now=1000, early=early) == delay


def test_the_early_margin_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_EARLY_SECONDS", "3")
    assert delay_for(fire_at(1030.5), now=1000) == 27


class Recording:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(aws.sqs(), name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.batches.append(Entries)
        return aws.sqs().send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_fires_are_sent_in_batches_of_ten_each_with_its_own_delay(provisioned: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_EARLY_SECONDS", "1")
    recording = Recording()
    queue = FireQueue(client=lambda: recording, clock=lambda: 1000.0)
    assert queue.send([fire_at(1000 + n) for n in range(25)]) == 25
    assert [len(b) for b in recording.batches] == [10, 10, 5]
    delays = sorted(e["DelaySeconds"] for batch in recording.batches for e in batch)
    assert delays == sorted(max(0, n - 1) for n in range(25))


def test_deployed_functions_queue_ten_minutes_ahead_and_the_local_stack_two(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import config
    monkeypatch.delenv("XTIMER_ENQUEUE_AHEAD_SECONDS", raising=False)
    assert config.enqueue_ahead_seconds() == 120
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "xtimer-prod-tick")
    assert config.enqueue_ahead_seconds() == 600
    monkeypatch.setenv("XTIMER_ENQUEUE_AHEAD_SECONDS", "5000")
    assert config.enqueue_ahead_seconds() == 840


def test_fires_of_the_same_second_share_a_message_of_at_most_25(provisioned: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_EARLY_SECONDS", "1")
    from chalicelib.fires.fire import parse_message
    recording = Recording()
    queue = FireQueue(client=lambda: recording, clock=lambda: 1000.0)
    fires = [Fire(timer_id=n, app="a", fire_ms=1030_000, generation=1) for n in range(60)]
    fires += [Fire(timer_id=n, app="a", fire_ms=1031_000, generation=1) for n in range(3)]
    assert queue.send(fires) == 63
    [batch] = recording.batches
    assert [len(parse_message(e["MessageBody"])) for e in batch] == [25, 25, 10, 3]
    assert [e["DelaySeconds"] for e in batch] == [29, 29, 29, 30]
    assert sorted(f.timer_id for e in batch[:3] for f in parse_message(e["MessageBody"])) == list(range(60))


def test_fires_show_up_a_second_early_in_lambda_and_three_on_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XTIMER_EARLY_SECONDS", raising=False)
    assert delay_for(fire_at(1030), now=1000) == 27  # moto's claims need the room
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "xtimer-prod-worker")
    assert delay_for(fire_at(1030), now=1000) == 29

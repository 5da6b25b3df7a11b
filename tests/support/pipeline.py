"""Drive the pipeline by hand in tests: tick, then deliver what the queue holds to the worker
Lambda's own handler (app.worker), the way Lambda's SQS trigger would."""
from __future__ import annotations

from typing import Any

import app as chalice_app
from chalicelib.storage import aws
from chalicelib.storage.models import TaskModel
from chalicelib.timers.schedule import parse_schedule
from chalicelib.timers.spec import NotifyParams, TimerSpec
from chalicelib.wiring import Services
from tests.support.receiver import Receiver
from xtimer_local.poller import drain

LEASE_MS = 15 * 60 * 1000
"""The claim lease the `service` fixture uses: longer than any test's span (see tests/conftest.py)."""


def queue_arn(url: str) -> str:
    return aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def deliver(services: Services) -> int:
    """Hand every visible fire to the worker handler until the queue is empty."""
    url = services.queue.url()
    return drain(aws.sqs(), url, queue_arn(url), chalice_app.worker)


def queued(services: Services, dead_letter: bool = False) -> int:
    from chalicelib import config
    url = services.queue.url(config.dead_letter_queue() if dead_letter else None)
    attrs = aws.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return sum(int(v) for v in attrs.values())


def dead_letters(services: Services) -> list[dict[str, Any]]:
    from chalicelib import config
    url = services.queue.url(config.dead_letter_queue())
    reply = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return reply.get("Messages", [])


def make_timer(services: Services, receiver: Receiver, cron: str, *, name: str = "t", tz: str = "UTC",
               path: str = "/hook", method: str = "POST", enable: bool = True) -> int:
    spec = TimerSpec(
        app="shop", name=name, schedule=parse_schedule(cron, tz),
        notify=NotifyParams(url=receiver.url(path), method=method, header={"X-Token": "abc"}, body='{"k": 1}'),
    )
    timer = services.timers.create(spec)
    if enable:
        services.timers.enable("shop", timer.id)
    return int(timer.id)


def fire_times(receiver: Receiver, path: str = "/hook") -> list[str]:
    """The fire times called, in order (fires of one batch are called concurrently)."""
    return sorted(r.header("X-Xtimer-Fire-Time") for r in receiver.received(path))


def records(timer_id: int) -> list[TaskModel]:
    return list(TaskModel.query(timer_id))

"""Drive the pipeline by hand in tests: tick, then deliver what the queue holds to the worker
Lambda's own handler (app.worker), the way Lambda's SQS trigger would."""
from __future__ import annotations

from typing import Any

import app as chalice_app
from chalicelib.fires.fire import parse_message
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
               path: str = "/hook", method: str = "POST", enable: bool = True, app: str = "shop") -> int:
    spec = TimerSpec(
        app=app, name=name, schedule=parse_schedule(cron, tz),
        notify=NotifyParams(url=receiver.url(path), method=method, header={"X-Token": "abc"}, body='{"k": 1}'),
    )
    timer = services.timers.create(spec)
    if enable:
        services.timers.enable(app, timer.id)
    return int(timer.id)


def messages(services: Services) -> list[dict[str, Any]]:
    """Every visible message of the fire queue, received (so in flight afterwards), as Lambda SQS records."""
    found = []
    while True:
        reply = aws.sqs().receive_message(QueueUrl=services.queue.url(), MaxNumberOfMessages=10,
                                          AttributeNames=["All"]).get("Messages", [])
        if not reply:
            return found
        found += [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                   "attributes": m.get("Attributes", {})} for m in reply]


def fire_times(receiver: Receiver, path: str = "/hook") -> list[str]:
    """The fire times called, in order (fires of one batch are called concurrently)."""
    return sorted(r.header("X-Xtimer-Fire-Time") for r in receiver.received(path))


def records(timer_id: int) -> list[TaskModel]:
    return list(TaskModel.query(timer_id))


def deliver_fire(services: Services, fire_ms: int) -> None:
    """Hand the worker the one message that holds the fire of `fire_ms` (the earliest such, if a
    retry and a first attempt are both queued), and give every other message back to the queue:
    a test decides which fire comes while another is still being retried."""
    from xtimer_local.poller import handle_batch, receive
    url = services.queue.url()
    sqs = aws.sqs()
    seen: list[dict[str, Any]] = []
    try:
        while True:
            batch = receive(sqs, url, wait_seconds=0)
            if not batch:
                raise AssertionError(f"no message holds the fire of {fire_ms}")
            seen += batch
            wanted = [m for m in seen if any(f.fire_ms == fire_ms for f in parse_message(m["Body"]))]
            if wanted:
                seen.remove(wanted[0])
                handle_batch(sqs, url, queue_arn(url), chalice_app.worker, wanted[:1])
                return
    finally:
        for message in seen:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def deliver_in_order(services: Services) -> None:
    """Like `deliver`, one message at a time, the one due first first (as the queue's delays would)."""
    from xtimer_local.poller import handle_batch, receive
    url = services.queue.url()
    sqs = aws.sqs()
    while True:
        messages: list[dict[str, Any]] = []
        while batch := receive(sqs, url, wait_seconds=0):
            messages += batch
        if not messages:
            return
        messages.sort(key=lambda m: max(f.due_time for f in parse_message(m["Body"])))
        handle_batch(sqs, url, queue_arn(url), chalice_app.worker, messages[:1])
        for message in messages[1:]:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

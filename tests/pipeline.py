"""Drive the pipeline by hand in tests: tick, then deliver what the queue holds to the worker
Lambda's own handler (app.worker), the way Lambda's SQS trigger would."""
from __future__ import annotations

from typing import Any

import app as chalice_app
from chalicelib.storage import aws
from chalicelib.wiring import Services
from xtimer_local.poller import drain


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

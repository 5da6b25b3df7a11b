"""What Lambda's SQS event source mapping does, done locally: receive a batch, hand it to the
worker's handler as a Lambda SQS event, delete what the handler did not report as failed."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "us-east-1",
        }
        for m in messages
    ]}


def poll_once(sqs: Any, queue_url: str, queue_arn: str, handler: Handler, *, wait_seconds: int = 1,
              max_messages: int = 10) -> int:
    """One receive -> handle -> delete round; returns how many messages were received."""
    reply = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"], MessageAttributeNames=["All"],
    )
    messages = reply.get("Messages", [])
    if not messages:
        return 0
    try:
        result = handler(lambda_event(messages, queue_arn), None) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    except Exception:  # as on Lambda: an exception fails the whole batch
        log.exception("worker handler raised; the batch will be delivered again")
        return len(messages)
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])
        ])
    return len(messages)


def drain(sqs: Any, queue_url: str, queue_arn: str, handler: Handler, *, max_rounds: int = 1000) -> int:
    """Poll without waiting until the queue shows nothing; returns the messages handled (tests)."""
    total = 0
    for _ in range(max_rounds):
        received = poll_once(sqs, queue_url, queue_arn, handler, wait_seconds=0)
        if not received:
            return total
        total += received
    raise RuntimeError(f"queue still not empty after {max_rounds} rounds")


class Poller(threading.Thread):
    """A long-polling loop, as one concurrent Lambda poller."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, handler: Handler, stop: threading.Event,
                 name: str = "poller") -> None:
        super().__init__(name=name, daemon=True)
        self._args = (sqs, queue_url, queue_arn, handler)
        self._stop_event = stop

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                poll_once(*self._args, wait_seconds=1)
            except Exception:
                log.exception("polling failed; retrying in a second")
                self._stop_event.wait(1)

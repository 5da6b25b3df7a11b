"""Redrive: move dead-lettered fires back to the fire queue once their receiver is fixed.

Each fire's task goes from failed back to not run (attempts start again from zero), and the
fire is sent again, due at once. Moving is idempotent: a fire sent twice is still made once
(the worker's claim), and a fire of a timer disabled or deleted since is dropped by the worker.
Messages that are not fires stay in the dead-letter queue for a person to look at.

An empty answer from SQS does not mean an empty queue: a receive samples some of SQS's
servers, so it can answer nothing while messages remain. So the run ends when the queue's own
counts (waiting and in flight, re-read before every receive) show no message besides the ones
this run keeps, not at the first empty answer; receives are long polls, and after
`max_empty_polls` empty answers in a row it stops anyway and reports what the counts still show
(`remaining`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chalicelib import config
from chalicelib.storage import aws
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.fire import Fire, MalformedFire
from chalicelib.fires.tasks import TaskRecords

log = logging.getLogger(__name__)

RECEIVE_VISIBILITY_SECONDS = 120  # a message kept or not moved is not received twice in a run
COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


@dataclass
class RedriveReport:
    moved: int = 0
    left: int = 0  # not fires: kept in the dead-letter queue
    failed: int = 0  # could not be moved now; still in the dead-letter queue
    remaining: int = 0  # not reached (the limit, or SQS kept answering empty): run again

    @property
    def handled(self) -> int:
        return self.moved + self.left + self.failed

    def summary(self) -> str:
        text = f"moved {self.moved} dead-lettered fire(s) back to the fire queue"
        if self.left:
            text += f"; kept {self.left} message(s) that are not fires"
        if self.failed:
            text += f"; {self.failed} could not be moved (see the log) and stay dead-lettered"
        if self.remaining:
            text += f"; the dead-letter queue still shows {self.remaining} message(s): run redrive again"
        return text


def redrive_dead_letters(limit: int = 10_000, queue: FireQueue | None = None,
                         tasks: TaskRecords | None = None, *, client: Any = None,
                         wait_seconds: int = 2, max_empty_polls: int = 5) -> RedriveReport:
    """Move up to `limit` dead letters back; `client` is the SQS client (boto3's by default)."""
    queue = queue or FireQueue()
    tasks = tasks or TaskRecords()
    sqs = client or aws.sqs()
    url = queue.url(config.dead_letter_queue())
    report = RedriveReport()
    seen: set[str] = set()
    empty_polls = 0
    while True:
        report.remaining = max(0, _still_queued(sqs, url) - report.left - report.failed)
        if report.remaining == 0 or report.handled >= limit:
            return report
        if empty_polls >= max_empty_polls:
            log.warning("the dead-letter queue still shows %d message(s) after %d empty receives; stopping",
                        report.remaining, empty_polls)
            return report
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - report.handled),
                                       WaitTimeSeconds=wait_seconds,
                                       VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        empty_polls = 0 if fresh else empty_polls + 1
        for message in fresh:
            seen.add(message["MessageId"])
            _move(sqs, url, message, queue, tasks, report)


def _move(sqs: Any, url: str, message: dict[str, Any], queue: FireQueue, tasks: TaskRecords,
          report: RedriveReport) -> None:
    try:
        fire = Fire.from_message(message["Body"])
    except MalformedFire:
        report.left += 1
        return
    try:
        tasks.reset_for_redrive(fire)
        queue.send([fire])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        report.moved += 1
    except Exception:
        log.exception("could not redrive %s; it stays in the dead-letter queue", fire.idempotency_key)
        report.failed += 1


def _still_queued(sqs: Any, url: str) -> int:
    """Messages in the queue by its own counts: waiting, and received but not deleted."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in COUNTS)

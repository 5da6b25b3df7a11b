"""Redrive: move dead-lettered fires back to the fire queue once their receiver is fixed.

Each fire's task goes from failed back to not run (attempts start again from zero), and the
fire is sent again, due at once. Moving is idempotent: a fire sent twice is still made once
(the worker's claim), and a fire of a timer disabled or deleted since is dropped by the worker.
Messages that are not fires stay in the dead-letter queue for a person to look at.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib import config
from chalicelib.storage import aws
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.fire import Fire, MalformedFire
from chalicelib.fires.tasks import TaskRecords

log = logging.getLogger(__name__)


@dataclass
class RedriveReport:
    moved: int = 0
    left: int = 0  # not fires: kept in the dead-letter queue
    failed: int = 0  # could not be moved now; still in the dead-letter queue


def redrive_dead_letters(limit: int = 10_000, queue: FireQueue | None = None,
                         tasks: TaskRecords | None = None) -> RedriveReport:
    queue = queue or FireQueue()
    tasks = tasks or TaskRecords()
    sqs = aws.sqs()
    url = queue.url(config.dead_letter_queue())
    report = RedriveReport()
    seen: set[str] = set()
    while report.moved + report.left + report.failed < limit:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=120).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                fire = Fire.from_message(message["Body"])
            except MalformedFire:
                report.left += 1
                continue
            try:
                tasks.reset_for_redrive(fire)
                queue.send([fire])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                report.moved += 1
            except Exception:
                log.exception("could not redrive %s; it stays in the dead-letter queue", fire.idempotency_key)
                report.failed += 1
    return report

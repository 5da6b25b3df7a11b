"""Many timers read at once, for the worker's buckets: BatchGetItem, strongly consistent.

A strongly consistent read is what lets the worker drop the fires of a timer disabled, deleted
or rescheduled a moment ago. UnprocessedKeys (DynamoDB's answer when it is busy) are asked for
again with a backoff, as AWS advises.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from chalicelib.storage.models import TimerModel

log = logging.getLogger(__name__)

BATCH_GET_LIMIT = 100  # BatchGetItem's keys per call
TRIES = 8


class TimersUnread(RuntimeError):
    """DynamoDB kept some keys unprocessed through every try."""


def read_timers(ids: Iterable[int], sleep: Callable[[float], None] = time.sleep) -> dict[int, TimerModel]:
    """The timers that exist among `ids`, by id (a deleted one is simply absent)."""
    wanted = sorted(set(int(i) for i in ids))
    found: dict[int, TimerModel] = {}
    connection = TimerModel._get_connection()
    table = TimerModel.Meta.table_name
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [{"id": {"N": str(i)}} for i in wanted[start:start + BATCH_GET_LIMIT]]
        for attempt in range(TRIES):
            if attempt:
                sleep(min(0.05 * 2 ** attempt, 1.0))
            reply = connection.batch_get_item(keys, consistent_read=True)
            for item in reply.get("Responses", {}).get(table, []):
                timer = TimerModel.from_raw_data(item)
                found[int(timer.id)] = timer
            keys = reply.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys:
                break
            log.info("%s timers unprocessed by BatchGetItem; asking again", len(keys))
        else:
            raise TimersUnread(f"{len(keys)} timers not read after {TRIES} tries")
    return found

"""Task records: the claim that makes each fire's call happen once, and the record of the call.

A task goes through the statuses of the original system:
    0 NOT_RUN (waiting for a retry)  1 RUNNING  2 SUCCEEDED  3 FAILED
plus 4 MISSED (older than the catch-up window when the scheduler came back; never called),
5 SKIPPED (came while the timer's previous fire was still running or being retried, and its
overlapPolicy said skip; never called) and 6 HELD (buffered by overlapPolicy buffer_one until the
previous fire is done; then made). chalicelib.delivery.overlap writes the last two.

A worker *claims* a fire with one conditional write before it calls: the write succeeds only
if nobody has the fire, it is waiting for a retry, or its last claim's lease ran out (the
worker died). A second delivery of the same message therefore finds the claim and does not call.
A fire of a bucket is a first attempt, whose record does not exist yet: its claim is first a
conditional PutItem (`attribute_not_exists`), which writes the very item the UpdateItem would
create, costs DynamoDB the same write unit, and costs the local stack's moto well under half
the CPU (it parses and validates no update expression). Only when a record is there already (a
bucket delivered again, a raced tick) does the claim go on to the UpdateItem and its full
condition, so either write's condition decides, atomically, and exactly one claim wins.

Outcomes are written in batches (BatchWriteItem, `record_many`), which take no condition. That
is safe because a claim can only be taken over once its lease has run out: an outcome written
by the claim's holder while its lease has more than LEASE_MARGIN_MS left cannot overwrite a
newer claim. Past that point an outcome falls back to the conditional UpdateItem (`record`).
"""
from __future__ import annotations

import enum
import time
import uuid
import logging
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from typing import Callable

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib import config
from chalicelib.storage import models, paging
from chalicelib.fires.fire import Fire
from chalicelib.storage.models import TaskModel
from chalicelib.fires.outcome import Outcome

log = logging.getLogger(__name__)

NOT_RUN, RUNNING, SUCCEEDED, FAILED, MISSED, SKIPPED, HELD = 0, 1, 2, 3, 4, 5, 6
STATUS_NAMES = {NOT_RUN: "not run", RUNNING: "running", SUCCEEDED: "succeeded", FAILED: "failed",
                MISSED: "missed", SKIPPED: "skipped", HELD: "held"}


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"
    DONE = "done"  # succeeded, failed for good, missed or skipped: nothing left to do
    BUSY = "busy"  # another worker holds a live claim


LEASE_MARGIN_MS = 30_000
"""An outcome is written without a condition only while its claim's lease has more than this
left: more than one DynamoDB request can take (botocore's read timeout, 25 s) plus the clock
difference between two workers (NTP-synchronised hosts: milliseconds)."""

BATCH_WRITE_LIMIT = 25  # BatchWriteItem's items per call
BATCH_WRITE_TRIES = 8


@dataclass(frozen=True)
class Claim:
    result: ClaimResult
    attempt: int = 0
    lease_until_ms: int = 0
    started_ms: int = 0
    overlap_policy: str | None = None  # recorded on the task again with the outcome (a batch put replaces it)


@dataclass(frozen=True)
class Result:
    """The outcome of one claimed attempt, to be recorded."""
    fire: Fire
    claim: Claim
    outcome: Outcome
    status: int
    now_ms: int
    sent_ms: int | None = None  # when the attempt's request left (epoch ms)


def _expires_at(fire_ms: int) -> datetime:
    """When DynamoDB's TTL may delete the record: the retention period after the fire."""
    return datetime.fromtimestamp(fire_ms // 1000, timezone.utc) + timedelta(days=config.task_retention_days())


class TaskRecords:
    def __init__(self, lease_ms: int = 60_000, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lease_ms = lease_ms
        self._sleep = sleep

    def claim(self, fire: Fire, now_ms: int, *, overlap_policy: str | None = None,
              first_attempt: bool = False) -> Claim:
        """`overlap_policy`, when the timer has one other than allow, is recorded on the task.
        `first_attempt`: the fire has most likely no record yet (a bucket's): try the insert first."""
        lease_until = now_ms + self._lease_ms
        token = uuid.uuid4().hex
        if first_attempt and self._insert_claim(fire, now_ms, lease_until, token, overlap_policy):
            return Claim(ClaimResult.CLAIMED, 1, lease_until, now_ms, overlap_policy)
        task = TaskModel(fire.timer_id, fire.fire_ms)
        condition = (
            TaskModel.timer_id.does_not_exist()
            | (TaskModel.status == NOT_RUN)
            | ((TaskModel.status == RUNNING) & (TaskModel.lease_until < now_ms))
        )
        actions = [
            TaskModel.app.set(fire.app),
            TaskModel.claim_token.set(token),
            TaskModel.status.set(RUNNING),
            TaskModel.attempts.add(1),
            TaskModel.lease_until.set(lease_until),
            TaskModel.started_at.set(now_ms),
            TaskModel.expires_at.set(_expires_at(fire.fire_ms)),
        ]
        if fire.manual:
            # Only a run-now says so: an absent `manual` reads as 0 (the attribute's default), so a
            # scheduled fire's claim has one update action fewer, and each action costs moto's
            # validator a pass (xtimer_local/moto_dynamodb_speedups.py). The outcome writes it too.
            actions.append(TaskModel.manual.set(1))
        if overlap_policy:
            actions.append(TaskModel.overlap_policy.set(overlap_policy))
        try:
            task.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise
            current = self.get(fire.timer_id, fire.fire_ms)
            if current is not None and current.status == RUNNING and current.claim_token == token:
                # Our own write went through and its answer was lost; the SDK's retry found it done.
                return Claim(ClaimResult.CLAIMED, int(current.attempts), int(current.lease_until or 0),
                             overlap_policy=overlap_policy)
            if current is not None and current.status == RUNNING:
                return Claim(ClaimResult.BUSY, current.attempts, int(current.lease_until or 0))
            return Claim(ClaimResult.DONE, current.attempts if current else 0)
        return Claim(ClaimResult.CLAIMED, int(task.attempts), lease_until, now_ms, overlap_policy)

    @staticmethod
    def _insert_claim(fire: Fire, now_ms: int, lease_until: int, token: str, overlap_policy: str | None) -> bool:
        """The claim of a fire that has no record: the item claim()'s UpdateItem would create
        from nothing (and `manual` 0 written out, as every outcome writes it), put only if there
        is none. False if there is a record already."""
        task = TaskModel(fire.timer_id, fire.fire_ms, app=fire.app, claim_token=token, status=RUNNING, attempts=1,
                         lease_until=lease_until, started_at=now_ms, expires_at=_expires_at(fire.fire_ms),
                         overlap_policy=overlap_policy or None)
        if fire.manual:
            task.manual = 1
        try:
            task.save(condition=TaskModel.timer_id.does_not_exist())
        except PutError as exc:
            if not models.condition_failed(exc):
                raise
            return False  # claim() goes on with the update, whose condition judges the record there
        return True

    def record_many(self, results: list[Result], now_ms: Callable[[], int]) -> list[bool]:
        """Write many outcomes: in BatchWriteItem calls while their leases have time left, one
        conditional write each otherwise. Per result, False if its claim was taken over."""
        late: list[Result] = []
        deadline = now_ms() + LEASE_MARGIN_MS
        batch = [r for r in results if r.claim.lease_until_ms > deadline]
        late = [r for r in results if r.claim.lease_until_ms <= deadline]
        for start in range(0, len(batch), BATCH_WRITE_LIMIT):
            late += self._batch_put(batch[start:start + BATCH_WRITE_LIMIT], now_ms)
        taken_over = {self._key(r) for r in late
                      if not self.record(r.fire, r.claim.attempt, r.outcome, status=r.status, now_ms=r.now_ms,
                                         sent_ms=r.sent_ms)}
        return [self._key(r) not in taken_over for r in results]

    def _batch_put(self, results: list[Result], now_ms: Callable[[], int]) -> list[Result]:
        """Put the records (at most 25); UnprocessedItems are sent again with backoff while their
        leases allow. Returns those left for conditional writes."""
        pending = {self._key(r): r for r in results}
        items = {key: self._item(r).serialize() for key, r in pending.items()}
        for attempt in range(BATCH_WRITE_TRIES):
            if attempt:
                self._sleep(min(0.05 * 2 ** attempt, 1.0))
                deadline = now_ms() + LEASE_MARGIN_MS
                if any(r.claim.lease_until_ms <= deadline for r in pending.values()):
                    break  # too close to a lease's end for a write without a condition
            reply = TaskModel._get_connection().batch_write_item(put_items=[items[k] for k in pending])
            left = (reply or {}).get("UnprocessedItems", {}).get(TaskModel.Meta.table_name, [])
            unprocessed = {self._key_of(request["PutRequest"]["Item"]) for request in left}
            pending = {k: r for k, r in pending.items() if k in unprocessed}
            if not pending:
                return []
            log.info("%s task records unprocessed by BatchWriteItem; sending them again", len(pending))
        return list(pending.values())

    @staticmethod
    def _key(result: Result) -> tuple[int, int]:
        return result.fire.timer_id, result.fire.fire_ms

    @staticmethod
    def _key_of(item: dict) -> tuple[int, int]:
        return int(item["timer_id"]["N"]), int(item["fire_ms"]["N"])

    @staticmethod
    def _item(result: Result) -> TaskModel:
        fire, outcome = result.fire, result.outcome
        return TaskModel(
            fire.timer_id, fire.fire_ms, app=fire.app, status=result.status, attempts=result.claim.attempt,
            http_status=outcome.http_status, response_body=outcome.response_body or None,
            duration_ms=outcome.duration_ms, error=outcome.error or None, started_at=result.claim.started_ms,
            finished_at=result.now_ms, manual=1 if fire.manual else 0, expires_at=_expires_at(fire.fire_ms),
            overlap_policy=result.claim.overlap_policy,
            sent_at=result.sent_ms,
        )

    def give_up(self, fire: Fire, now_ms: int, *, reason: str | None = None, claim: Claim | None = None) -> bool:
        """Mark a fire failed for good (it is in the dead-letter queue by now); `reason`, if
        given, becomes its error (else the last attempt's error stays).

        With `claim` (ours), the attempt it counted was never made: the record goes back to the
        attempts actually made. Without, only a fire nobody is working on is marked: no record,
        waiting for a retry, or an abandoned claim; a done fire or a live claim is left alone.
        False when nothing was changed."""
        actions = [TaskModel.app.set(fire.app), TaskModel.status.set(FAILED), TaskModel.finished_at.set(now_ms),
                   TaskModel.lease_until.remove(), TaskModel.expires_at.set(_expires_at(fire.fire_ms))]
        if reason:
            actions.append(TaskModel.error.set(reason[:1000]))
        if claim is not None:
            actions.append(TaskModel.attempts.set(max(claim.attempt - 1, 0)))
            condition = (TaskModel.status == RUNNING) & (TaskModel.attempts == claim.attempt)
        else:
            actions.append(TaskModel.attempts.add(0))  # a fire never claimed gets its record, 0 attempts
            condition = (TaskModel.timer_id.does_not_exist() | (TaskModel.status == NOT_RUN)
                         | ((TaskModel.status == RUNNING) & (TaskModel.lease_until < now_ms)))
        try:
            TaskModel(fire.timer_id, fire.fire_ms).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise
            return False
        return True

    def note_waiting(self, fire: Fire, *, reason: str) -> bool:
        """Say why a fire that nobody works on is not called yet (its receiver's circuit is open:
        chalicelib.delivery.fairness), without claiming it: the record keeps its attempts (0 if
        it had none) and waits. A fire done or claimed is left alone; False when nothing changed."""
        try:
            TaskModel(fire.timer_id, fire.fire_ms).update(
                actions=[TaskModel.app.set(fire.app), TaskModel.status.set(NOT_RUN), TaskModel.attempts.add(0),
                         TaskModel.error.set(reason[:1000]), TaskModel.expires_at.set(_expires_at(fire.fire_ms))],
                condition=TaskModel.timer_id.does_not_exist() | (TaskModel.status == NOT_RUN),
            )
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise
            return False
        return True

    def release(self, fire: Fire, claim: Claim, *, reason: str) -> bool:
        """Give back our claim on a fire whose attempt was never made (its lane was full:
        chalicelib.delivery.fairness): waiting again, with the attempts actually made and
        `reason` as its error. Conditional on the claim still being ours; False if it is not."""
        try:
            TaskModel(fire.timer_id, fire.fire_ms).update(
                actions=[TaskModel.status.set(NOT_RUN), TaskModel.attempts.set(max(claim.attempt - 1, 0)),
                         TaskModel.lease_until.remove(), TaskModel.error.set(reason[:1000])],
                condition=(TaskModel.status == RUNNING) & (TaskModel.attempts == claim.attempt)
                & (TaskModel.lease_until == claim.lease_until_ms),
            )
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise
            return False
        return True

    def record(self, fire: Fire, attempt: int, outcome: Outcome, *, status: int, now_ms: int,
               sent_ms: int | None = None) -> bool:
        """Write the outcome of `attempt`; False if our claim was taken over meanwhile (not an error)."""
        task = TaskModel(fire.timer_id, fire.fire_ms)
        try:
            task.update(
                actions=[
                    TaskModel.status.set(status),
                    TaskModel.http_status.set(outcome.http_status) if outcome.http_status is not None
                    else TaskModel.http_status.remove(),
                    TaskModel.response_body.set(outcome.response_body or None),
                    TaskModel.duration_ms.set(outcome.duration_ms),
                    TaskModel.error.set(outcome.error) if outcome.error else TaskModel.error.remove(),
                    TaskModel.finished_at.set(now_ms),
                    TaskModel.sent_at.set(sent_ms) if sent_ms is not None else TaskModel.sent_at.remove(),
                    TaskModel.lease_until.remove(),
                ],
                condition=(TaskModel.status == RUNNING) & (TaskModel.attempts == attempt),
            )
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise
            log.warning("task %s attempt %s was taken over before its outcome was recorded",
                        fire.idempotency_key, attempt)
            return False
        return True

    def record_failure_callback(self, fire: Fire, outcome: Outcome, sent_ms: int) -> None:
        """Keep what the timer's failure callback got on the failed fire's record (it is made once,
        never retried: chalicelib.delivery.failure_callback)."""
        TaskModel(fire.timer_id, fire.fire_ms).update(actions=[TaskModel.failure_callback.set({
            "sent_at": sent_ms, "http_status": outcome.http_status, "error": outcome.error,
            "duration_ms": outcome.duration_ms})])

    def record_missed(self, fires: list[Fire], now_ms: int) -> None:
        """Record fires the scheduler skipped; never overwrites a task that exists."""
        for fire in fires:
            task = TaskModel(
                fire.timer_id, fire.fire_ms, app=fire.app, status=MISSED, attempts=0,
                error="missed: the scheduler was not running at this fire time "
                      f"(older than the {config.catch_up_seconds()} s catch-up window)",
                finished_at=now_ms, expires_at=_expires_at(fire.fire_ms),
            )
            try:
                task.save(condition=TaskModel.timer_id.does_not_exist())
            except PutError as exc:
                if not models.condition_failed(exc):
                    raise

    def get(self, timer_id: int, fire_ms: int) -> TaskModel | None:
        try:
            return TaskModel.get(timer_id, fire_ms, consistent_read=True)
        except DoesNotExist:
            return None

    def history(self, timer_id: int, app: str, *, page_size: int, before_ms: int | None = None,
                status: int | None = None) -> tuple[list[TaskModel], int | None]:
        """One page of a timer's tasks, newest first, and where the next page starts (exclusive);
        a status filter examines at most paging.MAX_EXAMINED records per call."""
        start = None if before_ms is None else {"timer_id": {"N": str(timer_id)}, "fire_ms": {"N": str(before_ms)}}
        query = TaskModel.query(timer_id, scan_index_forward=False, page_size=paging.read_page_size(page_size),
                                last_evaluated_key=start)
        items, last = paging.filtered_page(
            query, lambda t: t.app == app and (status is None or int(t.status) == status), page_size)
        return items, None if last is None else int(last.fire_ms)

    def owner(self, timer_id: int) -> str | None:
        """The app the timer's newest task record belongs to (one read), None if it has none."""
        for task in TaskModel.query(timer_id, scan_index_forward=False, limit=1):
            return str(task.app)
        return None

    def recent(self, timer_id: int, app: str, last: int = 100) -> tuple[dict[str, int], TaskModel | None]:
        """Outcomes of the timer's `last` tasks, and the newest of them (its last fire), from one read."""
        items, _ = self.history(timer_id, app, page_size=last)
        counts = {"tasks": len(items), "succeeded": 0, "failed": 0, "missed": 0, "skipped": 0, "held": 0}
        for task in items:
            name = {SUCCEEDED: "succeeded", FAILED: "failed", MISSED: "missed", SKIPPED: "skipped",
                    HELD: "held"}.get(int(task.status))
            if name:
                counts[name] += 1
        return counts, (items[0] if items else None)

    def reset_for_redrive(self, fire: Fire) -> None:
        """A failed task becomes not run again, with a fresh attempt budget (see chalicelib.delivery.redrive)."""
        try:
            TaskModel(fire.timer_id, fire.fire_ms).update(
                actions=[TaskModel.status.set(NOT_RUN), TaskModel.attempts.set(0)],
                condition=TaskModel.status == FAILED,
            )
        except UpdateError as exc:
            if not models.condition_failed(exc):
                raise  # no task, or not failed: nothing to reset

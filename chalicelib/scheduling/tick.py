"""The tick: once a minute, find the timers with fires in the coming window and enqueue them.

It reads only the due index, one query per shard for `next_fire < due_before`, so its work
follows the number of fires due, not the number of timers. The shards' answers are merged by
cursor, soonest first: a tick that runs longer than its lead (10,000 timers on the local stack)
is then late on the last seconds of its window, not on every shard's first.

For each due timer it migrates the window (chalicelib.scheduling.migrator), sends the fires
(the fires of one second grouped into bucket messages, chalicelib.fires.queue), and only then
moves the timer's cursor forward with a conditional write. That order is what makes it safe
to run twice or concurrently:

- a crash after sending and before moving the cursor sends those fires again next time;
- two ticks racing both send, one cursor write wins;

and in both cases the worker's per-fire claim makes the duplicate a no-op, even when the two
ticks cut the same second into buckets differently. Nothing is lost,
nothing is called twice.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

from pynamodb.exceptions import UpdateError

from chalicelib import config
from chalicelib.storage import models
from chalicelib.clock import Clock, minute_floor, system_clock, to_ms
from chalicelib.fires.queue import FireQueue
from chalicelib.fires.fire import Fire
from chalicelib.scheduling.migrator import Migration, migrate
from chalicelib.storage.models import DUE_SHARDS, TimerModel
from chalicelib.timers import lifecycle
from chalicelib.timers.fire_schedule import FireSchedule
from chalicelib.timers.options import options_of, schedule_of
from chalicelib.fires.tasks import TaskRecords
from chalicelib.observability import catalog as metrics
from chalicelib.observability.meter import Meter

log = logging.getLogger(__name__)

PAGE = 200  # timers migrated, sent and advanced together
MIN_AHEAD_SECONDS = 120


@dataclass
class TickReport:
    window_end: int = 0
    timers: int = 0
    enqueued: int = 0
    missed: int = 0
    raced: int = 0  # cursor already moved by a concurrent tick or a user change
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _DueTimer:
    id: int
    app: str
    schedule: FireSchedule
    generation: int
    next_fire: int
    fire_rate: int = 0
    delete_after_completion: bool = False
    misfire_policy: str = "all"
    catch_up: int | None = None  # the timer's catchUpSeconds (capped by the service's when used)

    @classmethod
    def of(cls, item: TimerModel) -> _DueTimer:
        options = options_of(item)
        return cls(int(item.id), item.app, schedule_of(item), int(item.generation), int(item.next_fire),
                   int(item.fire_rate or 0), options.delete_after_completion, options.misfire_policy or "all",
                   options.catch_up_seconds)


class Tick:
    def __init__(self, queue: FireQueue | None = None, tasks: TaskRecords | None = None,
                 clock: Clock = system_clock, threads: int = 16, meter: Meter | None = None,
                 page: int = PAGE) -> None:
        self._queue = queue or FireQueue(clock=clock)
        self._tasks = tasks or TaskRecords()
        self._clock = clock
        self._threads = threads
        self._page = page
        self._meter = meter or Meter()
        self._pool_lock = threading.Lock()
        self._pool_made: ThreadPoolExecutor | None = None

    @property
    def _pool(self) -> ThreadPoolExecutor:
        """One pool for the life of the process, for the cursor writes (a pool per call, as the
        enable path had, started threads for every timer enabled)."""
        if self._pool_made is None:
            with self._pool_lock:
                if self._pool_made is None:
                    self._pool_made = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="tick")
        return self._pool_made

    def window_end(self, now: float) -> int:
        """A due timer's fires before this are enqueued now (XTIMER_ENQUEUE_AHEAD_SECONDS)."""
        return minute_floor(now) + config.enqueue_ahead_seconds()

    @staticmethod
    def due_before(now: float) -> int:
        """A timer is due when its cursor is before this: the rest of this minute and the next,
        which the next tick (a minute on) would reach too late. A timer filled further ahead
        is left alone until then, so its cursor is written once per window, not once a minute."""
        return minute_floor(now) + MIN_AHEAD_SECONDS

    def run(self) -> TickReport:
        """One tick over every shard of the due index."""
        started = time.perf_counter()  # its duration is a metric: real time, whatever the clock
        now = self._clock()
        report = TickReport(window_end=self.window_end(now))
        due_before = self.due_before(now)
        page: list[_DueTimer] = []  # filled across shards, so that sends go out in full batches
        for item in self._due(due_before):
            page.append(_DueTimer.of(item))
            if len(page) >= self._page:
                self._advance_page(page, report)
                page = []
        if page:
            self._advance_page(page, report)
        log.info("tick: window_end=%s timers=%s enqueued=%s missed=%s raced=%s errors=%s",
                 report.window_end, report.timers, report.enqueued, report.missed, report.raced,
                 len(report.errors))
        self._meter.count(metrics.TICK_TIMERS_READ, report.timers)
        self._meter.count(metrics.TICK_FIRES_ENQUEUED, report.enqueued)
        self._meter.count(metrics.FIRES_MISSED, report.missed)
        self._meter.time_ms(metrics.TICK_DURATION, (time.perf_counter() - started) * 1000)
        self._meter.flush()
        return report

    @staticmethod
    def _due(due_before: int) -> Iterator[TimerModel]:
        """Every shard's due timers as one stream, soonest cursor first (each shard's query is
        already in cursor order: next_fire is the index's range key)."""
        shards = [TimerModel.by_due.query(shard, TimerModel.next_fire < due_before) for shard in range(DUE_SHARDS)]
        return heapq.merge(*shards, key=lambda item: int(item.next_fire))

    def schedule_timer(self, timer: TimerModel) -> None:
        """Enqueue a just-enabled timer's fires of this minute and the next, without waiting for a
        tick (which takes it from there)."""
        now = self._clock()
        # Only what the next tick could be too late for: the rest is the tick's, which sends each
        # second's fires of many timers together (buckets); sent from here, a timer's fires of
        # the whole window would each travel alone.
        report = TickReport(window_end=self.due_before(now))
        if timer.next_fire is None or timer.next_fire >= self.due_before(now):
            return  # the regular tick will get to it in time
        due = _DueTimer.of(timer)
        self._advance_page([due], report)
        if report.errors:
            raise RuntimeError("; ".join(report.errors))

    def _advance_page(self, page: list[_DueTimer], report: TickReport) -> None:
        now = self._clock()
        migrations: list[tuple[_DueTimer, Migration]] = []
        for timer in page:
            try:
                migrations.append((timer, migrate(
                    timer_id=timer.id, app=timer.app, generation=timer.generation,
                    schedule=timer.schedule,  # validated when stored; may have ended
                    cursor=timer.next_fire, window_end=report.window_end, now=now,
                    catch_up=(config.catch_up_seconds() if timer.catch_up is None
                              else min(config.catch_up_seconds(), timer.catch_up)),
                    misfire_policy=timer.misfire_policy,
                )))
            except Exception as exc:  # one broken timer must not hold up the others
                log.exception("timer %s could not be migrated", timer.id)
                report.errors.append(f"timer {timer.id}: {exc}")
        fires: list[Fire] = [fire for _, m in migrations for fire in m.due]
        missed: list[Fire] = [fire for _, m in migrations for fire in m.missed]
        try:
            if missed:
                self._tasks.record_missed(missed, to_ms(now))
            self._queue.send(fires, threads=self._threads)
        except Exception as exc:  # leave every cursor where it is: the next tick sends these again
            log.exception("tick could not enqueue %s fires", len(fires))
            report.errors.append(f"enqueue failed: {exc}")
            return
        report.timers += len(migrations)
        report.enqueued += len(fires)
        report.missed += len(missed)
        moves = (map if len(migrations) == 1 else self._pool.map)(lambda tm: self._move_cursor(*tm), migrations)
        for outcome in moves:
            if outcome == "raced":
                report.raced += 1
            elif outcome != "moved":
                report.errors.append(outcome)

    def _move_cursor(self, timer: _DueTimer, migration: Migration) -> str:
        """"moved", "raced", or an error text. A cursor left behind only means fires sent twice."""
        if migration.next_fire is None:
            return self._complete(timer, migration)
        actions = (
            [TimerModel.next_fire.set(migration.next_fire)] if migration.next_fire is not None
            else [TimerModel.next_fire.remove(), TimerModel.due_shard.remove()]
        )
        try:
            TimerModel(timer.id).update(
                actions=actions,
                condition=(TimerModel.next_fire == timer.next_fire) & (TimerModel.generation == timer.generation),
            )
        except UpdateError as exc:
            if models.condition_failed(exc):
                return "raced"
            log.exception("cursor of timer %s not moved", timer.id)
            return f"timer {timer.id}: cursor not moved: {exc}"
        return "moved"

    def _complete(self, timer: _DueTimer, migration: Migration) -> str:
        """No fire left: the timer is completed (chalicelib.timers.lifecycle)."""
        last = max((f.fire_ms // 1000 for f in migration.due), default=None)
        try:
            done = lifecycle.complete(timer.id, timer.app, timer.next_fire, timer.generation, timer.fire_rate,
                                      last, to_ms(self._clock()))
            if done and timer.delete_after_completion and last is None:
                lifecycle.delete_completed(timer.id, timer.app)  # nothing left to deliver
        except Exception as exc:  # the next tick tries again
            log.exception("timer %s could not be completed", timer.id)
            return f"timer {timer.id}: not completed: {exc}"
        return "moved" if done else "raced"

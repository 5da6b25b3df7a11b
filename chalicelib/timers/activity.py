"""An app's fires, failures and lateness over the last minutes (issue 16): the console's per-app view.

The figures come from the task records, not from the metrics: CloudWatch's (and the local
/metrics') dimensions are the stage and the function only, so that 10,000 apps make no more
metric streams than one (docs/operations.md); per-app figures live in the records the API
already reads. So this works the same on a deployed stage and locally.

Cost: one Query of the app's timers (the by_app index) and one Query per timer of its records
since the window's start, projected to the few attributes needed. Bounded: at most MAX_TIMERS
timers (newest first) and MAX_TASKS_PER_TIMER records each; a reply says when it is partial.
A deleted timer's records are not found (they stay readable through getTasks until they expire).

Lateness is that of first attempts (as the CallbackLateness metric): when the call left, that is
the record's finish minus its duration, after its fire time. Manual runs are left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.fires.tasks import FAILED, HELD, MISSED, NOT_RUN, RUNNING, SKIPPED, SUCCEEDED
from chalicelib.storage.models import TaskModel, TimerModel

MAX_TIMERS = 200
MAX_TASKS_PER_TIMER = 3600  # an hour of a timer that fires every second
BUCKET_MS = 60_000
_ATTRIBUTES = ["timer_id", "fire_ms", "status", "attempts", "finished_at", "duration_ms", "manual"]
OUTCOMES = {SUCCEEDED: "succeeded", FAILED: "failed", MISSED: "missed", SKIPPED: "skipped"}


@dataclass
class Counts:
    fires: int = 0
    succeeded: int = 0
    failed: int = 0
    missed: int = 0
    skipped: int = 0
    under_way: int = 0  # running, waiting for a retry, or held

    def add(self, status: int) -> None:
        self.fires += 1
        name = OUTCOMES.get(status)
        if name is None:
            self.under_way += 1
        else:
            setattr(self, name, getattr(self, name) + 1)


@dataclass
class TimerActivity:
    timer_id: int
    name: str
    counts: Counts = field(default_factory=Counts)
    lateness_ms: list[int] = field(default_factory=list)


@dataclass
class AppActivity:
    app: str
    since_ms: int
    until_ms: int
    totals: Counts
    minutes: list[tuple[int, Counts]]  # (start ms, counts) for each minute of the window, oldest first
    lateness_ms: list[int]  # every first attempt's, sorted
    timers: list[TimerActivity]  # the timers with records in the window, most failures first
    timers_read: int
    partial: bool  # more timers, or more records of a timer, than were read


def percentile(values: list[int], p: float) -> int | None:
    """The nearest-rank percentile of sorted `values` (None if there are none)."""
    if not values:
        return None
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def app_activity(app: str, now_ms: int, minutes: int) -> AppActivity:
    since = (now_ms - minutes * BUCKET_MS) // BUCKET_MS * BUCKET_MS + BUCKET_MS  # whole minutes, the last one partial
    buckets = [(since + i * BUCKET_MS, Counts()) for i in range(minutes)]
    totals, late, found = Counts(), [], []
    partial = False
    timers = list(TimerModel.by_app.query(app, scan_index_forward=False, limit=MAX_TIMERS + 1,
                                          attributes_to_get=["id", "name"]))
    if len(timers) > MAX_TIMERS:
        timers, partial = timers[:MAX_TIMERS], True
    for timer in timers:
        activity = TimerActivity(int(timer.id), timer.name)
        records = list(TaskModel.query(int(timer.id), TaskModel.fire_ms >= since, limit=MAX_TASKS_PER_TIMER + 1,
                                       attributes_to_get=_ATTRIBUTES))
        if len(records) > MAX_TASKS_PER_TIMER:
            records, partial = records[-MAX_TASKS_PER_TIMER:], True
        for task in records:
            fire_ms, status = int(task.fire_ms), int(task.status)
            if task.manual or fire_ms > now_ms:
                continue
            activity.counts.add(status)
            totals.add(status)
            buckets[min((fire_ms - since) // BUCKET_MS, minutes - 1)][1].add(status)
            lateness = _first_attempt_lateness(task)
            if lateness is not None:
                activity.lateness_ms.append(lateness)
        if activity.counts.fires:
            activity.lateness_ms.sort()
            late += activity.lateness_ms
            found.append(activity)
    found.sort(key=lambda a: (-a.counts.failed, -a.counts.fires, a.timer_id))
    return AppActivity(app, since, now_ms, totals, buckets, sorted(late), found, len(timers), partial)


def _first_attempt_lateness(task: TaskModel) -> int | None:
    if int(task.status) in (NOT_RUN, RUNNING, HELD, MISSED, SKIPPED) or int(task.attempts or 0) != 1:
        return None
    if task.finished_at is None or task.duration_ms is None:
        return None
    return max(0, int(task.finished_at) - int(task.duration_ms) - int(task.fire_ms))

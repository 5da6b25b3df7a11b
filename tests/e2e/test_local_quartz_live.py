"""Quartz's L, # and a wrapping range with a step, live against `make run` (`python -m xtimer_local`
as a subprocess, callbacks to a receiver on 127.0.0.1), on the wall clock.

The local stack's clock cannot jump, so what is live and what is preview is kept apart:

- live: `S M H L-k * ?` (k = the days from the target day to its month's last day, so it is the
  last-day rule, and exactly `L` on a month's last day) and `S M H ? * DDD#n` (today's weekday and
  its occurrence in the month: `MON#1` on a first Monday), S M H about 15 s from now; each must fire
  once, at that second. And `55-3/2 * * * * *`, the seconds-field form of `23-3/2`: the step carries
  through the wrap (55, 57, 59, 1, 3), where restarting it at 0 would fire at 0 and 2.
- preview (previewCron, the same engine): `0 0 12 L * ?` on each month's last day, `0 0 9 ? * MON#1`
  on each month's first Monday, `0 0 23-3/2 * * ?` at 23, 01 and 03, checked against the calendar.
"""
from __future__ import annotations

import calendar
import time
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack_process import StackProcess
from xtimer_cli.client import XtimerClient

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
WAIT_SECONDS = 80  # the wrap shows at the next minute's start: at most a minute and a few seconds away


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = StackProcess(tmp_path_factory.mktemp("stack") / "stack.log", "--ephemeral").start()
    try:
        yield running
    finally:
        running.stop()


def last_day_rule(target: datetime) -> str:
    offset = calendar.monthrange(target.year, target.month)[1] - target.day
    return f"{target.second} {target.minute} {target.hour} {'L' if offset == 0 else f'L-{offset}'} * ?"


def nth_weekday_rule(target: datetime) -> str:
    return f"{target.second} {target.minute} {target.hour} ? * {DAYS[target.weekday()]}#{(target.day - 1) // 7 + 1}"


def fire_seconds(receiver: Receiver, path: str) -> list[str]:
    return [r.header("X-Xtimer-Fire-Time") or "" for r in receiver.received(path)]


def test_l_hash_and_a_wrapping_step_fire_live_on_their_seconds(stack: StackProcess, receiver: Receiver) -> None:
    api = XtimerClient(stack.url, session=requests.Session())
    ids: list[int] = []
    try:
        target = (datetime.now(timezone.utc) + timedelta(seconds=15)).replace(microsecond=0)
        rules = {"/last": last_day_rule(target), "/nth": nth_weekday_rule(target), "/wrap": "55-3/2 * * * * *"}
        for path, cron in rules.items():
            made = api.create_timer("demo", path.strip("/"), cron, {"url": receiver.url(path), "method": "POST"},
                                    enabled=True)
            ids.append(int(made["timerId"]))
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and not (
                receiver.received("/last") and receiver.received("/nth")
                and {"01Z", "03Z"} <= {f[-3:] for f in fire_seconds(receiver, "/wrap")}):  # :01 may be next minute's
            time.sleep(0.2)
    finally:
        for timer_id in ids:
            api.disable_timer("demo", timer_id)
    expected = target.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert " L" in rules["/last"] and "#" in rules["/nth"]
    assert fire_seconds(receiver, "/last") == [expected], (rules["/last"], stack.output()[-3000:])
    assert fire_seconds(receiver, "/nth") == [expected], (rules["/nth"], stack.output()[-3000:])
    wrap = [int(f[-3:-1]) for f in fire_seconds(receiver, "/wrap")]
    assert {1, 3} <= set(wrap), (wrap, stack.output()[-3000:])
    assert set(wrap) <= {55, 57, 59, 1, 3}, wrap  # never 0 or 2: the step is carried through the wrap


def test_the_far_ones_preview_on_the_right_days(stack: StackProcess) -> None:
    api = XtimerClient(stack.url, session=requests.Session())
    last = api.preview_cron("0 0 12 L * ?", count=12)
    first_monday = api.preview_cron("0 0 9 ? * MON#1", count=12)
    wrap = api.preview_cron("0 0 23-3/2 * * ?", count=6)
    for when in last["nextFireTimes"]:
        day = date.fromisoformat(when[:10])
        assert when.endswith("T12:00:00Z") and day.day == calendar.monthrange(day.year, day.month)[1], when
    months = [(int(w[:4]), int(w[5:7])) for w in last["nextFireTimes"]]
    assert len(set(months)) == 12  # one a month, none skipped
    for when in first_monday["nextFireTimes"]:
        day = date.fromisoformat(when[:10])
        assert when.endswith("T09:00:00Z") and day.weekday() == 0 and day.day <= 7, when
    assert len({w[:7] for w in first_monday["nextFireTimes"]}) == 12
    hours = [int(w[11:13]) for w in wrap["nextFireTimes"]]
    assert set(hours) == {23, 1, 3} and len(hours) == 6, hours
    assert "Monday" in first_monday["description"], first_monday["description"]

"""Limits per app: how many timers, and how many fires a minute its enabled timers add up to."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)


def create(client: Client, name: str, cron: str = "0 2 * * *", status: int = 1) -> tuple[int, dict]:
    return post(client, "/xtimer/creatTimer", timer(name=name, cron=cron, status=status))


def test_an_app_cannot_have_more_timers_than_its_quota(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_TIMERS_PER_APP", "3")
    ids = [create(client, f"t{i}")[1]["data"]["timerId"] for i in range(3)]
    status, reply = create(client, "t3")
    assert status == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED
    assert "3 timers" in reply["message"] and "XTIMER_MAX_TIMERS_PER_APP" in reply["message"]
    assert create(client, "other", )[0] == 429
    assert post(client, "/xtimer/creatTimer", timer(app="shipping", name="t0"))[0] == 200  # per app
    get(client, f"/xtimer/deleteTimer?id={ids[0]}&app=billing")
    assert create(client, "t3")[0] == 200


def test_enabling_beyond_the_fire_rate_quota_is_refused(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", "100")
    every_second = [create(client, f"fast{i}", "* * * * * *")[1]["data"]["timerId"] for i in range(2)]
    assert get(client, f"/xtimer/enableTimer?id={every_second[0]}&app=billing")[0] == 200  # 60 a minute
    status, reply = get(client, f"/xtimer/enableTimer?id={every_second[1]}&app=billing")  # 120 > 100
    assert status == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED and "100 times a minute" in reply["message"]
    assert get(client, f"/xtimer/getTimer?id={every_second[1]}&app=billing")[1]["data"]["status"] == 1
    slow = create(client, "slow", "*/2 * * * *")[1]["data"]["timerId"]
    assert get(client, f"/xtimer/enableTimer?id={slow}&app=billing")[0] == 200  # 1 a minute still fits
    get(client, f"/xtimer/unableTimer?id={every_second[0]}&app=billing")  # gives its 60 back
    assert get(client, f"/xtimer/enableTimer?id={every_second[1]}&app=billing")[0] == 200


def test_speeding_up_an_enabled_timer_counts_against_the_quota(client: Client,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", "30")
    timer_id = create(client, "t", "*/10 * * * * *", status=2)[1]["data"]["timerId"]  # 6 a minute
    status, reply = post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "cron": "* * * * * *"})
    assert status == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED
    data = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]
    assert data["cron"] == "*/10 * * * * *" and data["version"] == 2
    assert post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "cron": "*/3 * * * * *"})[0] == 200


def test_a_timer_created_enabled_is_held_to_the_quota_too(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", "10")
    status, reply = create(client, "fast", "* * * * * *", status=2)
    assert status == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED
    listed = get(client, "/xtimer/getAppTimers?app=billing")[1]["data"]
    assert listed["timers"] == [] and listed["total"] == 0  # refused as a whole
    assert create(client, "fast", "*/10 * * * * *", status=2)[0] == 200


def test_a_taken_name_and_a_full_app_each_get_their_error_and_the_name_wins_when_both_hold(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XTIMER_MAX_TIMERS_PER_APP", "2")
    assert create(client, "a")[0] == 200
    status, reply = create(client, "a")  # the name is taken, the app has room
    assert status == 409 and reply["code"] == ErrorCode.DUPLICATE_NAME and reply["data"] == {"field": "name"}
    assert create(client, "b")[0] == 200
    status, reply = create(client, "c")  # the app is full, the name is free
    assert status == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED and "2 timers" in reply["message"]
    status, reply = create(client, "b")  # both: the name is reported, a retried create learns it exists
    assert status == 409 and reply["code"] == ErrorCode.DUPLICATE_NAME
    assert get(client, "/xtimer/getAppTimers?app=billing")[1]["data"]["total"] == 2


def test_manual_runs_are_held_to_a_per_app_limit_per_minute(client: Client, service, clock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_MANUAL_RUNS_PER_MINUTE_PER_APP", "3")
    timer_id = create(client, "t")[1]["data"]["timerId"]
    other = post(client, "/xtimer/creatTimer", timer(app="shipping", name="t"))[1]["data"]["timerId"]
    assert [get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")[0] for _ in range(3)] == [200] * 3
    response = client.http.get(f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    reply = json.loads(response.body)
    assert response.status_code == 429 and reply["code"] == ErrorCode.QUOTA_EXCEEDED
    assert "3 manual runs this minute" in reply["message"] and "retry in 30 s" in reply["message"]
    assert response.headers["Retry-After"] == "30"  # the clock is at hh:mm:30
    assert get(client, f"/xtimer/triggerTimer?id={other}&app=shipping")[0] == 200  # per app
    clock.advance(30)
    assert get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")[0] == 200  # a new minute

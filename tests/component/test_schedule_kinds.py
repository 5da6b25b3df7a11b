"""Schedule kinds and options through the API on moto, with the FakeClock (12:00:30 on 2026-03-01):
one-shot at(), rate(), maxFires, endAt, jitter, deleteAfterCompletion and the completed status."""
from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import deliver, fire_times
from tests.support.receiver import Receiver


def create(client: Client, receiver: Receiver, **fields: Any) -> int:
    status, reply = post(client, "/xtimer/creatTimer", timer(
        notifyHTTPParam={"url": receiver.url("/hook"), "method": "POST"}, status=2, **fields))
    assert status == 200, reply
    return reply["data"]["timerId"]


def read(client: Client, timer_id: int) -> dict[str, Any]:
    status, reply = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")
    assert status == 200, reply
    return reply["data"]


def run_minutes(service: Services, clock: FakeClock, minutes: int) -> None:
    """Tick and deliver, a minute at a time, from 12:01:02."""
    for minute in range(1, minutes + 1):
        clock.set(at("2026-03-01T12:00:00") + minute * 60 + 2)
        service.tick.run()
        deliver(service)


def test_a_one_shot_fires_once_at_its_second_then_is_completed(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="at(2026-03-01T12:00:50)")
    deliver(service)
    run_minutes(service, clock, 3)
    assert fire_times(receiver) == ["2026-03-01T12:00:50Z"]
    shown = read(client, timer_id)
    assert (shown["status"], shown["nextFireTimes"]) == (3, [])
    assert shown["description"] == "Once, at 2026-03-01T12:00:50Z"
    assert get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")[1]["data"]["tasks"][0]["statusName"] == \
        "succeeded"


def test_a_completed_timer_is_never_enabled_again(client: Client, service: Services, receiver: Receiver,
                                                  clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="at(2026-03-01T12:00:50)")
    run_minutes(service, clock, 2)
    status, reply = get(client, f"/xtimer/enableTimer?id={timer_id}&app=billing")
    assert reply["code"] == ErrorCode.INVALID_REQUEST and "completed" in reply["message"]


def test_a_one_shot_a_year_ahead_waits_on_the_due_index_not_the_queue(
        client: Client, service: Services, receiver: Receiver) -> None:
    timer_id = create(client, receiver, cron="at(2027-03-01T12:00:00Z)")
    assert read(client, timer_id)["nextFireTimes"] == ["2027-03-01T12:00:00Z"]
    report = service.tick.run()
    assert (report.timers, report.enqueued) == (0, 0)  # not due: the tick does not even read it


def test_delete_after_completion_removes_the_timer_after_its_last_fire(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="at(2026-03-01T12:00:50)", deleteAfterCompletion=True)
    run_minutes(service, clock, 2)
    assert fire_times(receiver) == ["2026-03-01T12:00:50Z"]
    assert read_status(client, timer_id) == ErrorCode.NOT_FOUND


def read_status(client: Client, timer_id: int) -> int:
    return get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["code"]


def test_a_rate_fires_every_period_from_its_enable_time(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    create(client, receiver, cron="rate(10 seconds)")  # enabled at 12:00:30
    deliver(service)
    assert fire_times(receiver)[:4] == ["2026-03-01T12:00:30Z", "2026-03-01T12:00:40Z", "2026-03-01T12:00:50Z",
                                        "2026-03-01T12:01:00Z"]


def test_max_fires_fires_that_many_times_then_completes(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="*/20 * * * * *", maxFires=3)
    run_minutes(service, clock, 3)
    assert fire_times(receiver) == ["2026-03-01T12:00:40Z", "2026-03-01T12:01:00Z", "2026-03-01T12:01:20Z"]
    assert read(client, timer_id)["status"] == 3
    assert read(client, timer_id)["maxFires"] == 3


def test_end_at_stops_the_timer(client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="0 * * * * *", endAt="2026-03-01T12:03:00Z")
    run_minutes(service, clock, 5)
    assert fire_times(receiver) == ["2026-03-01T12:01:00Z", "2026-03-01T12:02:00Z"]
    assert read(client, timer_id)["status"] == 3


def test_start_at_holds_the_first_fire_back(client: Client, service: Services, receiver: Receiver,
                                            clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="rate(1 minute)", startAt="2026-03-01T12:02:15Z")
    assert read(client, timer_id)["nextFireTimes"][:2] == ["2026-03-01T12:02:15Z", "2026-03-01T12:03:15Z"]


def test_jitter_moves_each_fire_inside_its_window_by_a_stable_offset(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock) -> None:
    timer_id = create(client, receiver, cron="0 * * * * *", jitterSeconds=30)
    expected = read(client, timer_id)["nextFireTimes"][:2]
    run_minutes(service, clock, 3)
    fired = fire_times(receiver)
    assert fired[:2] == expected  # what getTimer showed is what fired
    for minute, fire in zip((1, 2, 3), fired):
        assert f"2026-03-01T12:{minute:02d}:00Z" <= fire <= f"2026-03-01T12:{minute:02d}:30Z"
    assert len(set(f[-3:] for f in fired)) > 1  # not one offset for all


@pytest.mark.parametrize(("fields", "field", "fragments"), [
    ({"cron": "at(2026-02-30T10:00:00)"}, "cron", ["not a real date", "at(YYYY-MM-DDTHH:MM:SS)"]),
    ({"cron": "at(tomorrow)"}, "cron", ["YYYY-MM-DDTHH:MM:SS"]),
    ({"cron": "at(2026-03-01T11:00:00Z)"}, "cron", ["in the past", "catch-up"]),
    ({"cron": "rate(0 minutes)"}, "cron", ["at least 1 second"]),
    ({"cron": "rate(5 fortnights)"}, "cron", ["'fortnights' is not a unit", "second(s), minute(s)"]),
    ({"cron": "rate(often)"}, "cron", ["rate(N unit)", "rate(90 seconds)"]),
    ({"startAt": "2026-04-02T00:00:00Z", "endAt": "2026-04-01T00:00:00Z"}, "startAt", ["before endAt"]),
    ({"startAt": "next week"}, "startAt", ["RFC 3339", "2026-12-24T18:00:00Z"]),
    ({"maxFires": 0}, "maxFires", ["from 1 to 10000"]),
    ({"cron": "*/10 * * * * *", "jitterSeconds": 10}, "jitterSeconds", ["period (10 s)", "at most 9"]),
    ({"misfirePolicy": "sometimes"}, "misfirePolicy", ["all, once, skip"]),
    ({"catchUpSeconds": -1}, "catchUpSeconds", ["from 0 to 86400"]),
    ({"overlapPolicy": "queue"}, "overlapPolicy", ["allow, skip, buffer_one", "got 'queue'"]),
    ({"deleteAfterCompletion": "yes"}, "deleteAfterCompletion", ["true or false"]),
])
def test_a_malformed_kind_or_option_names_the_field_and_the_accepted_forms(
        client: Client, fields: dict[str, Any], field: str, fragments: list[str]) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(**fields))
    assert reply["code"] in (ErrorCode.INVALID_FIELD, ErrorCode.INVALID_CRON), reply
    assert reply["data"]["field"] == field, reply
    for fragment in fragments:
        assert fragment in reply["message"], reply["message"]


def test_preview_applies_window_and_limit(client: Client) -> None:
    status, reply = post(client, "/xtimer/previewCron", {
        "cron": "0 0 12 L * ?", "count": 5, "startAt": "2026-04-01T00:00:00Z", "maxFires": 2})
    assert status == 200, reply
    assert reply["data"]["nextFireTimes"] == ["2026-04-30T12:00:00Z", "2026-05-31T12:00:00Z"]
    assert "last day of the month" in reply["data"]["description"]
    assert "at most 2 times" in reply["data"]["description"]


def test_preview_shows_the_first_monday_in_words(client: Client) -> None:
    status, reply = post(client, "/xtimer/previewCron", {"cron": "0 0 9 ? * MON#1", "count": 2})
    assert reply["data"]["nextFireTimes"] == ["2026-03-02T09:00:00Z", "2026-04-06T09:00:00Z"]
    assert reply["data"]["description"] == "At 09:00, on the first Monday of the month"


def test_update_sets_and_clears_options(client: Client, receiver: Receiver) -> None:
    timer_id = create(client, receiver, cron="0 * * * * *")
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "maxFires": 2})
    assert status == 200, reply
    assert read(client, timer_id)["maxFires"] == 2
    post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "maxFires": None, "endAt": None,
                                         "jitterSeconds": 5})
    shown = read(client, timer_id)
    assert (shown["maxFires"], shown["jitterSeconds"]) == (None, 5)


@pytest.mark.parametrize(("policy", "made"), [
    (None, ["12:16:00", "12:17:00", "12:18:00", "12:19:00", "12:20:00"]),  # today's rule: within 300 s
    ("once", ["12:20:00"]),
    ("skip", []),
])
def test_the_misfire_policy_decides_what_an_outage_s_missed_fires_become(
        client: Client, service: Services, receiver: Receiver, clock: FakeClock, policy: str | None,
        made: list[str]) -> None:
    fields = {"misfirePolicy": policy} if policy else {}
    timer_id = create(client, receiver, cron="0 * * * * *", **fields)  # enabled at 12:00:30; cursor 12:01:00
    assert read(client, timer_id).get("misfirePolicy") == policy
    clock.set(at("2026-03-01T12:20:05"))  # the scheduler was down from 12:00:31 until now
    service.tick.run()
    deliver(service)
    assert [t[11:19] for t in fire_times(receiver) if "12:10:00" <= t[11:19] <= "12:20:00"] == made


def test_a_timer_s_catch_up_window_is_its_own(client: Client, service: Services, receiver: Receiver,
                                              clock: FakeClock) -> None:
    create(client, receiver, cron="0 * * * * *", catchUpSeconds=90)
    clock.set(at("2026-03-01T12:20:05"))
    service.tick.run()
    deliver(service)
    assert [t[11:19] for t in fire_times(receiver) if "12:10:00" <= t[11:19] <= "12:20:00"] == ["12:19:00", "12:20:00"]

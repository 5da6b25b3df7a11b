"""overlapPolicy through the API and the pipeline on moto, with the FakeClock (12:00:30 on 2026-03-01).

The receiver answers 500 to the first call, then 200: the timer's first fire (12:00:30, the second it is enabled) is waiting
for its retry when the test hands the worker the next one (12:00:40), which is what "a fire comes
while the previous fire is still being retried" means.
"""
from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.aws_calls import CALLS
from tests.support.fake_clock import at
from tests.support.pipeline import deliver_fire, deliver_in_order, fire_times
from tests.support.receiver import Receiver, Response

A, B, C, D = (int(at(t)) * 1000 for t in ("2026-03-01T12:00:30", "2026-03-01T12:00:40", "2026-03-01T12:00:50",
                                           "2026-03-01T12:01:00"))


def create(client: Client, receiver: Receiver, **fields: Any) -> int:
    receiver.respond("/hook", Response(500), Response(200))
    status, reply = post(client, "/xtimer/creatTimer", timer(
        cron="*/10 * * * * *", notifyHTTPParam={"url": receiver.url("/hook"), "method": "POST"}, status=2, **fields))
    assert status == 200 and reply["code"] == 0, reply
    return reply["data"]["timerId"]


def tasks(client: Client, timer_id: int) -> dict[int, dict[str, Any]]:
    status, reply = get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")
    assert status == 200, reply
    return {task["fireMs"]: task for task in reply["data"]["tasks"]}


def test_skip_records_a_fire_that_comes_during_a_retry_as_skipped_and_never_calls_it(
        client: Client, service: Services, receiver: Receiver) -> None:
    timer_id = create(client, receiver, overlapPolicy="skip", maxFires=3)
    deliver_fire(service, A)  # 500: waiting for its retry
    deliver_fire(service, B)  # comes while A is being retried
    deliver_in_order(service)  # A's retry (200), then C
    assert fire_times(receiver) == ["2026-03-01T12:00:30Z", "2026-03-01T12:00:30Z", "2026-03-01T12:00:50Z"]
    shown = tasks(client, timer_id)
    assert (shown[A]["statusName"], shown[A]["attempts"]) == ("succeeded", 2)
    assert (shown[B]["status"], shown[B]["statusName"], shown[B]["attempts"]) == (5, "skipped", 0)
    assert "12:00:30" in shown[B]["error"] and "being retried" in shown[B]["error"]
    assert shown[C]["statusName"] == "succeeded"
    assert {t["overlapPolicy"] for t in shown.values()} == {"skip"}
    assert get(client, f"/xtimer/getTasks?id={timer_id}&app=billing&status=5")[1]["data"]["tasks"][0]["fireMs"] == B


def test_buffer_one_holds_one_fire_until_the_previous_is_done_and_skips_any_further(
        client: Client, service: Services, receiver: Receiver) -> None:
    timer_id = create(client, receiver, overlapPolicy="buffer_one", maxFires=4)
    deliver_fire(service, A)  # 500: waiting for its retry
    deliver_fire(service, B)  # held
    assert tasks(client, timer_id)[B]["statusName"] == "held"
    deliver_fire(service, C)  # B is held already: skipped
    deliver_in_order(service)  # A's retry (200), B (made now), D
    assert fire_times(receiver) == ["2026-03-01T12:00:30Z", "2026-03-01T12:00:30Z", "2026-03-01T12:00:40Z",
                                    "2026-03-01T12:01:00Z"]
    b_call = [r for r in receiver.received("/hook") if r.header("X-Xtimer-Fire-Time") == "2026-03-01T12:00:40Z"]
    assert [r.header("X-Xtimer-Attempt") for r in b_call] == ["1"]
    shown = tasks(client, timer_id)
    assert [shown[ms]["statusName"] for ms in (A, B, C, D)] == ["succeeded", "succeeded", "skipped", "succeeded"]
    assert "already held" in shown[C]["error"]
    assert shown[B]["overlapPolicy"] == "buffer_one" and shown[B]["error"] is None


def test_allow_makes_every_fire_and_reads_no_task_record_for_it(
        client: Client, service: Services, receiver: Receiver) -> None:
    timer_id = create(client, receiver, maxFires=3)
    before = CALLS.count("Query", "service")
    deliver_fire(service, A)
    deliver_fire(service, B)
    deliver_in_order(service)
    assert CALLS.count("Query", "service") == before
    assert fire_times(receiver) == ["2026-03-01T12:00:30Z", "2026-03-01T12:00:30Z", "2026-03-01T12:00:40Z",
                                    "2026-03-01T12:00:50Z"]
    assert all(t["overlapPolicy"] is None for t in tasks(client, timer_id).values())


def test_the_policy_is_shown_changed_by_update_without_dropping_queued_fires_and_cleared_by_allow(
        client: Client, service: Services, receiver: Receiver) -> None:
    timer_id = create(client, receiver, maxFires=3)
    shown = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]
    assert "overlapPolicy" not in shown or shown["overlapPolicy"] is None
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "overlapPolicy": "skip"})
    assert reply["code"] == 0, reply
    assert get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]["overlapPolicy"] == "skip"
    deliver_fire(service, A)  # queued before the change: still made, and then skip applies
    deliver_fire(service, B)
    deliver_in_order(service)
    assert tasks(client, timer_id)[B]["statusName"] == "skipped"
    post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "overlapPolicy": "allow"})
    assert get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"].get("overlapPolicy") is None


def test_an_update_that_only_clears_an_option_with_null_is_a_change(client: Client, service: Services,
                                                                    receiver: Receiver) -> None:
    timer_id = create(client, receiver, overlapPolicy="skip", maxFires=3)
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "overlapPolicy": None})
    assert reply["code"] == 0, reply
    assert get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"].get("overlapPolicy") is None
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "name": None})
    assert reply["code"] != 0 and reply["message"].startswith("nothing to change"), reply


@pytest.mark.parametrize("value", ["queue", 3, ""])
def test_an_unknown_overlap_policy_gets_the_envelope_naming_the_accepted_ones(client: Client, value: Any) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(overlapPolicy=value))
    assert status == 400 and reply["data"]["field"] == "overlapPolicy", reply
    assert "allow, skip, buffer_one" in reply["message"], reply

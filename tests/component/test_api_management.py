"""The management calls beyond the spec: disable, get, list, update, delete, history, run now, preview."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import config
from chalicelib.errors import ErrorCode
from chalicelib.storage import aws
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver, Response


def create(client: Client, **changes: Any) -> int:
    status, reply = post(client, "/xtimer/creatTimer", timer(**changes))
    assert status == 200, reply
    return reply["data"]["timerId"]


def local_hook(receiver: Receiver, path: str = "/hook") -> dict[str, Any]:
    return {"url": receiver.url(path), "method": "POST", "body": "hi"}


def test_disable_stops_a_firing_timer_including_its_queued_fires(
    client: Client, service: Services, receiver: Receiver
) -> None:
    timer_id = create(client, cron="*/5 * * * * *", notifyHTTPParam=local_hook(receiver), status=2)
    status, reply = get(client, f"/xtimer/unableTimer?id={timer_id}&app=billing")
    assert (status, reply) == (200, {"code": 0, "message": "ok"})
    deliver(service)
    assert receiver.received() == []
    assert get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]["status"] == 1


def test_disable_has_its_english_name_too_and_is_idempotent(client: Client) -> None:
    timer_id = create(client, status=2)
    for path in ("unableTimer", "disableTimer", "disableTimer"):
        assert get(client, f"/xtimer/{path}?id={timer_id}&app=billing") == (200, {"code": 0, "message": "ok"})


def test_get_shows_the_definition_the_next_five_fires_and_recent_outcomes(
    client: Client, service: Services, receiver: Receiver
) -> None:
    receiver.respond("/hook", Response(200), Response(500))
    timer_id = create(client, cron="0 * * * * *", notifyHTTPParam=local_hook(receiver), status=2)
    deliver(service)  # 12:01 succeeds; its retry... the 2nd fire is outside the window
    status, reply = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")
    data = reply["data"]
    assert status == 200
    assert data["timerId"] == timer_id and data["name"] == "nightly-invoice" and data["status"] == 2
    assert data["notifyHTTPParam"] == {"url": receiver.url("/hook"), "method": "POST", "header": {}, "body": "hi"}
    assert data["description"] == "Every minute"
    assert len(data["nextFireTimes"]) == 5 and data["nextFireTimes"][0].endswith(":00Z")
    assert data["recent"]["tasks"] == 1 and data["recent"]["succeeded"] == 1
    assert data["version"] == 2 and data["createdAt"].startswith("2026-03-01T12:00:30")


def test_list_pages_newest_first_with_a_total(client: Client, clock: FakeClock) -> None:
    ids = []
    for n in range(5):
        clock.advance(1)
        ids.append(create(client, name=f"job-{n}"))
    seen, token, pages = [], None, 0
    while True:
        query = "app=billing&pageSize=2" + (f"&pageToken={token}" if token else "")
        status, reply = get(client, f"/xtimer/getAppTimers?{query}")
        assert status == 200 and reply["data"]["total"] == 5
        seen += [t["timerId"] for t in reply["data"]["timers"]]
        pages += 1
        token = reply["data"].get("nextPageToken")
        if not token:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


def test_list_filters_by_a_part_of_the_name(client: Client) -> None:
    for name in ("invoice-eu", "invoice-us", "cleanup"):
        create(client, name=name)
    reply = get(client, "/xtimer/getAppTimers?app=billing&name=invoice")[1]
    assert sorted(t["name"] for t in reply["data"]["timers"]) == ["invoice-eu", "invoice-us"]


def test_list_shows_only_the_callers_app(client: Client) -> None:
    create(client, app="billing")
    create(client, app="shipping")
    reply = get(client, "/xtimer/getAppTimers?app=shipping")[1]
    assert [t["app"] for t in reply["data"]["timers"]] == ["shipping"] and reply["data"]["total"] == 1


def test_a_forged_page_token_is_a_400(client: Client) -> None:
    status, reply = get(client, "/xtimer/getAppTimers?app=billing&pageToken=bm9wZQ")
    assert status == 400 and reply["data"]["field"] == "pageToken"


def test_update_changes_the_schedule_and_queued_fires_follow(
    client: Client, service: Services, receiver: Receiver
) -> None:
    timer_id = create(client, cron="*/10 * * * * *", notifyHTTPParam=local_hook(receiver), status=2)
    status, reply = post(client, "/xtimer/updateTimer",
                         {"id": timer_id, "app": "billing", "version": 2, "cron": "0 * * * * *"})
    assert status == 200 and reply["data"]["cron"] == "0 * * * * *" and reply["data"]["version"] == 3
    deliver(service)
    # the old every-10-seconds fires were dropped; the new schedule's fire at 12:01:00 was queued
    assert [r.header("X-Xtimer-Fire-Time") for r in receiver.received()] == ["2026-03-01T12:01:00Z"]


def test_update_of_the_callback_applies_to_fires_already_queued(
    client: Client, service: Services, receiver: Receiver
) -> None:
    timer_id = create(client, cron="0 * * * * *", notifyHTTPParam=local_hook(receiver, "/old"), status=2)
    post(client, "/xtimer/updateTimer",
         {"id": timer_id, "app": "billing", "notifyHTTPParam": local_hook(receiver, "/new")})
    deliver(service)
    assert receiver.received("/old") == [] and len(receiver.received("/new")) == 1


def test_a_stale_update_is_refused_with_a_conflict(client: Client) -> None:
    timer_id = create(client)
    post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "version": 1, "name": "renamed"})
    status, reply = post(client, "/xtimer/updateTimer",
                         {"id": timer_id, "app": "billing", "version": 1, "cron": "0 3 * * *"})
    assert status == 409 and reply["code"] == ErrorCode.VERSION_CONFLICT
    assert "version 2, not 1" in reply["message"]


def test_renaming_frees_the_old_name_and_takes_the_new_one(client: Client) -> None:
    first = create(client, name="a")
    create(client, name="b")
    status, reply = post(client, "/xtimer/updateTimer", {"id": first, "app": "billing", "name": "b"})
    assert status == 409 and reply["code"] == ErrorCode.DUPLICATE_NAME
    assert post(client, "/xtimer/updateTimer", {"id": first, "app": "billing", "name": "c"})[0] == 200
    assert create(client, name="a") > 0


def test_a_timezone_alone_re_reads_the_stored_cron(client: Client) -> None:
    timer_id = create(client, cron="0 9 * * *")
    reply = post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "timezone": "Asia/Tokyo"})[1]
    assert reply["data"]["timezone"] == "Asia/Tokyo" and reply["data"]["cron"] == "0 9 * * *"
    fires = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[1]["data"]["nextFireTimes"]
    assert fires[0] == "2026-03-02T00:00:00Z"  # 09:00 in Tokyo


@pytest.mark.parametrize(("change", "code"), [
    ({}, ErrorCode.INVALID_REQUEST),
    ({"cron": "nope"}, ErrorCode.INVALID_CRON),
    ({"timezone": "Nowhere/City"}, ErrorCode.INVALID_TIMEZONE),
    ({"version": "x", "name": "n"}, ErrorCode.INVALID_FIELD),
    ({"notifyHTTPParam": {"url": "gopher://x", "method": "GET"}}, ErrorCode.INVALID_FIELD),
])
def test_bad_updates_are_refused_with_the_field_named(client: Client, change: dict, code: ErrorCode) -> None:
    timer_id = create(client)
    status, reply = post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "billing", **change})
    assert status == 400 and reply["code"] == code


def test_delete_removes_the_timer_and_stops_its_fires_but_keeps_its_history(
    client: Client, service: Services, receiver: Receiver, clock: FakeClock
) -> None:
    timer_id = create(client, cron="*/30 * * * * *", notifyHTTPParam=local_hook(receiver), status=2)
    deliver(service)
    made = len(receiver.received())
    clock.set(at("2026-03-01T12:01:59"))
    service.tick.run()
    assert get(client, f"/xtimer/deleteTimer?id={timer_id}&app=billing") == (200, {"code": 0, "message": "ok"})
    deliver(service)
    assert len(receiver.received()) == made
    assert get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")[0] == 404
    history = get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")[1]["data"]["tasks"]
    assert len(history) == made
    assert create(client) > 0  # the name is free again
    assert get(client, "/xtimer/getAppTimers?app=billing")[1]["data"]["total"] == 1


def test_delete_answers_the_rest_style_path_too(client: Client) -> None:
    timer_id = create(client)
    response = client.http.delete(f"/xtimer/timer?id={timer_id}&app=billing")
    assert response.status_code == 200 and json.loads(response.body)["code"] == 0


def test_history_pages_newest_first_and_filters_by_status(
    client: Client, service: Services, receiver: Receiver
) -> None:
    receiver.respond("/hook", lambda req: Response(500 if req.header("X-Xtimer-Fire-Time").endswith("20Z") else 200))
    timer_id = create(client, cron="*/10 * * * * *", notifyHTTPParam=local_hook(receiver), status=2)
    deliver(service)
    tasks, token = [], None
    while True:
        query = f"id={timer_id}&app=billing&pageSize=4" + (f"&pageToken={token}" if token else "")
        data = get(client, f"/xtimer/getTasks?{query}")[1]["data"]
        tasks += data["tasks"]
        token = data.get("nextPageToken")
        if not token:
            break
    fire_times = [t["fireTime"] for t in tasks]
    assert fire_times == sorted(fire_times, reverse=True) and len(tasks) == 9
    failed = get(client, f"/xtimer/getTasks?id={timer_id}&app=billing&status=3")[1]["data"]["tasks"]
    assert {t["fireTime"][-3:] for t in failed} == {"20Z"}
    assert all(t["statusName"] == "failed" and t["httpStatus"] == 500 and t["attempts"] == 5 for t in failed)


def test_trigger_runs_a_disabled_timer_once_and_records_it(
    client: Client, service: Services, receiver: Receiver
) -> None:
    timer_id = create(client, notifyHTTPParam=local_hook(receiver))
    status, reply = get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    assert status == 200 and reply["data"]["idempotencyKey"].startswith(f"{timer_id}-")
    deliver(service)
    [call] = receiver.received()
    assert call.header("X-Xtimer-Idempotency-Key") == reply["data"]["idempotencyKey"]
    [task] = get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")[1]["data"]["tasks"]
    assert task["manual"] is True and task["statusName"] == "succeeded"


def test_a_run_now_that_cannot_be_queued_answers_503_to_retry_not_500(client: Client) -> None:
    timer_id = create(client)
    sqs = aws.sqs()
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=config.fire_queue())["QueueUrl"])
    response = client.http.get(f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    reply = json.loads(response.body)
    assert response.status_code == 503 and reply["code"] == ErrorCode.UNAVAILABLE
    assert "retry" in reply["message"] and response.headers["Retry-After"] == "2"


def test_preview_validates_and_lists_the_next_fires(client: Client) -> None:
    status, reply = post(client, "/xtimer/previewCron", {"cron": "0 9 * * MON", "timezone": "Europe/Berlin",
                                                         "count": 3})
    assert status == 200
    assert reply["data"]["nextFireTimes"] == ["2026-03-02T08:00:00Z", "2026-03-09T08:00:00Z",
                                              "2026-03-16T08:00:00Z"]
    assert "09:00" in reply["data"]["description"] and "Monday" in reply["data"]["description"]
    status, reply = post(client, "/xtimer/previewCron", {"cron": "ex exercitation in sed"})
    assert status == 400 and reply["code"] == ErrorCode.INVALID_CRON


@pytest.mark.parametrize("path", [
    "/xtimer/enableTimer?id={id}&app=intruder", "/xtimer/unableTimer?id={id}&app=intruder",
    "/xtimer/getTimer?id={id}&app=intruder", "/xtimer/deleteTimer?id={id}&app=intruder",
    "/xtimer/getTasks?id={id}&app=intruder", "/xtimer/triggerTimer?id={id}&app=intruder",
])
def test_another_apps_timer_is_not_found_on_every_call(client: Client, path: str) -> None:
    timer_id = create(client)
    status, reply = get(client, path.format(id=timer_id))
    assert status == 404 and reply["code"] == ErrorCode.NOT_FOUND
    status, reply = post(client, "/xtimer/updateTimer", {"id": timer_id, "app": "intruder", "name": "mine"})
    assert status == 404 and reply["code"] == ErrorCode.NOT_FOUND

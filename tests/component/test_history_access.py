"""getTasks and getAppTimers: ownership whatever the page token, and a bounded number of reads
whatever the filter (security review)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from chalice.test import Client

from chalicelib.api import pagination
from chalicelib.errors import ErrorCode
from chalicelib.fires.tasks import FAILED, SUCCEEDED
from chalicelib.storage.models import NotifyAttribute, TaskModel, TimerModel
from chalicelib.storage.paging import MAX_EXAMINED
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.aws_calls import CALLS

BASE_MS = 1_772_366_400_000


def add_tasks(timer_id: int, app: str, count: int, status: int = SUCCEEDED, start_ms: int = BASE_MS) -> None:
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    with TaskModel.batch_write() as batch:
        for i in range(count):
            batch.save(TaskModel(timer_id, start_ms + i * 1000, app=app, status=status, attempts=1,
                                 expires_at=expires))


def add_timers(app: str, count: int) -> None:
    with TimerModel.batch_write() as batch:
        for i in range(count):
            batch.save(TimerModel(id=1000 + i, app=app, name=f"t{i}", cron="0 2 * * *", status=1,
                                  notify=NotifyAttribute(url="https://example.com/", method="GET", header={}),
                                  created_at=BASE_MS, updated_at=BASE_MS))


def queries_during(call: Any) -> tuple[int, Any]:
    before = CALLS.count("Query", "service")
    result = call()
    return CALLS.count("Query", "service") - before, result


def test_another_apps_timer_is_not_found_with_a_page_token_too(client: Client, service: Any) -> None:
    theirs = post(client, "/xtimer/creatTimer", timer(app="shipping"))[1]["data"]["timerId"]
    add_tasks(theirs, "shipping", 3)
    token = pagination.encode("tasks", BASE_MS + 10_000)
    for query in (f"id={theirs}&app=billing", f"id={theirs}&app=billing&pageToken={token}"):
        status, reply = get(client, f"/xtimer/getTasks?{query}")
        assert status == 404 and reply["code"] == ErrorCode.NOT_FOUND, query
    get(client, f"/xtimer/deleteTimer?id={theirs}&app=shipping")  # its records stay, for its own app only
    assert get(client, f"/xtimer/getTasks?id={theirs}&app=billing&pageToken={token}")[0] == 404
    assert len(get(client, f"/xtimer/getTasks?id={theirs}&app=shipping&pageToken={token}")[1]["data"]["tasks"]) == 3
    assert get(client, f"/xtimer/getTasks?id=123456&app=billing&pageToken={token}")[0] == 404  # never existed


def test_a_status_filter_reads_in_pages_and_examines_a_bounded_number_of_records(client: Client,
                                                                                 service: Any) -> None:
    timer_id = post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]
    add_tasks(timer_id, "billing", MAX_EXAMINED + 150)
    add_tasks(timer_id, "billing", 1, status=FAILED, start_ms=BASE_MS - 1000)  # the oldest, the only failed one
    path = f"/xtimer/getTasks?id={timer_id}&app=billing&pageSize=1&status={FAILED}"
    queries, (status, reply) = queries_during(lambda: get(client, path))
    assert status == 200 and reply["data"]["tasks"] == [] and "nextPageToken" in reply["data"]
    assert queries <= MAX_EXAMINED // 100 + 1  # pages of 100, not one Query per record
    status, reply = get(client, f"{path}&pageToken={reply['data']['nextPageToken']}")
    assert [t["status"] for t in reply["data"]["tasks"]] == [FAILED]


def test_a_name_filter_does_not_read_the_apps_timers_one_query_each(client: Client, service: Any) -> None:
    add_timers("billing", 150)
    path = "/xtimer/getAppTimers?app=billing&name=t7&pageSize=1"
    queries, (status, reply) = queries_during(lambda: get(client, path))
    assert status == 200 and [t["name"] for t in reply["data"]["timers"]] == ["t79"]  # newest first
    assert queries == 1  # the 71 newest timers in one page, not a Query per timer
    names = []
    while "nextPageToken" in reply["data"]:
        reply = get(client, f"{path}&pageToken={reply['data']['nextPageToken']}")[1]
        names += [t["name"] for t in reply["data"]["timers"]]
    assert names == [f"t7{i}" for i in range(8, -1, -1)] + ["t7"]

"""getAppActivity, the console's per-app last-hour view, on moto with the FakeClock (12:00:30 on
2026-03-01): fires, failures and lateness counted from the app's task records."""
from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver, Response


def create(client: Client, receiver: Receiver, app: str, name: str, path: str, **fields: Any) -> int:
    status, reply = post(client, "/xtimer/creatTimer", timer(
        app=app, name=name, notifyHTTPParam={"url": receiver.url(path), "method": "POST"}, status=2, **fields))
    assert reply["code"] == 0, reply
    return reply["data"]["timerId"]


@pytest.fixture
def fired(client: Client, service: Services, receiver: Receiver, clock: FakeClock,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """billing: "ok" fires 6 times (12:00:30 to 12:01:20) and succeeds; "bad" fires 3 times
    (12:00:30, :40, :50) and fails each for good after 2 attempts. shop: one fire, elsewhere."""
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "2")
    receiver.respond("/bad", Response(500))
    ids = {"ok": create(client, receiver, "billing", "ok", "/ok", cron="*/10 * * * * *", maxFires=6),
           "bad": create(client, receiver, "billing", "bad", "/bad", cron="*/10 * * * * *", maxFires=3),
           "shop": create(client, receiver, "shop", "other", "/shop", cron="*/10 * * * * *", maxFires=1)}
    deliver(service)
    status, reply = get(client, f"/xtimer/triggerTimer?id={ids['ok']}&app=billing")  # a manual run: not counted
    assert reply["code"] == 0, reply
    deliver(service)
    clock.set(at("2026-03-01T12:02:05"))
    return ids


def test_the_last_hour_counts_the_apps_fires_and_failures_by_minute_and_by_timer(
        client: Client, fired: dict[str, int]) -> None:
    status, reply = get(client, "/xtimer/getAppActivity?app=billing")
    assert status == 200, reply
    data = reply["data"]
    assert (data["since"], data["until"]) == ("2026-03-01T11:03:00Z", "2026-03-01T12:02:05Z")
    assert data["totals"] == {"fires": 9, "succeeded": 6, "failed": 3, "missed": 0, "skipped": 0, "underWay": 0}
    assert len(data["minutes"]) == 60 and data["minutes"][-1]["start"] == "2026-03-01T12:02:00Z"
    by_minute = {m["start"][11:16]: (m["fires"], m["failed"]) for m in data["minutes"] if m["fires"]}
    assert by_minute == {"12:00": (6, 3), "12:01": (3, 0)}
    assert [(t["timerId"], t["fires"], t["failed"]) for t in data["timers"]] == [
        (fired["bad"], 3, 3), (fired["ok"], 6, 0)]  # most failures first; the other app's timer is not there
    assert data["lateness"]["count"] == 6 and data["lateness"]["maxMs"] is not None  # first attempts that ended
    assert (data["timersRead"], data["partial"]) == (2, False)


def test_a_shorter_span_counts_only_its_minutes(client: Client, fired: dict[str, int]) -> None:
    data = get(client, "/xtimer/getAppActivity?app=billing&minutes=2")[1]["data"]
    assert data["since"] == "2026-03-01T12:01:00Z" and len(data["minutes"]) == 2
    assert data["totals"]["fires"] == 3 and data["totals"]["failed"] == 0


@pytest.mark.parametrize(("query", "field", "fragment"), [
    ("app=billing&minutes=61", "minutes", "61"),
    ("app=billing&minutes=soon", "minutes", "integer"),
    ("minutes=5", "app", "app"),
])
def test_a_bad_query_gets_the_envelope_naming_the_field(client: Client, query: str, field: str,
                                                        fragment: str) -> None:
    status, reply = get(client, f"/xtimer/getAppActivity?{query}")
    assert status == 400 and reply["code"] != 0 and reply["data"]["field"] == field, reply
    assert fragment in reply["message"], reply

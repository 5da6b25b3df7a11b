"""A web page on another site cannot drive a local stack through the developer's browser."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from chalicelib.wiring import Services
from tests.support.api_helpers import client, post, timer  # noqa: F401  (client is a fixture)

HOST = {"Host": "127.0.0.1:8000"}


def created(client: Client) -> int:
    return post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]


def call(client: Client, method: str, path: str, headers: dict[str, str], body: str | None = None) -> tuple[int, Any]:
    response = client.http.request(method, path, headers={**HOST, **headers}, body=body or b"")
    return response.status_code, json.loads(response.body)


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"},  # another port is another origin
    {"Origin": "null"},
])
def test_cross_site_browser_requests_are_refused(client: Client, headers: dict[str, str]) -> None:
    timer_id = created(client)
    for path in (f"/xtimer/triggerTimer?id={timer_id}&app=billing", f"/xtimer/deleteTimer?id={timer_id}&app=billing"):
        status, reply = call(client, "GET", path, headers)
        assert status == 403 and reply["code"] == ErrorCode.FORBIDDEN and "cross-site" in reply["message"]
    status, reply = call(client, "POST", "/xtimer/creatTimer", {**headers, "Content-Type": "text/plain"},
                         json.dumps(timer(name="sneaky")))
    assert status == 403
    status, reply = call(client, "GET", f"/xtimer/getTimer?id={timer_id}&app=billing", {})
    assert status == 200 and reply["data"]["name"] == "nightly-invoice"  # nothing happened to it


@pytest.mark.parametrize("headers", [
    {},  # curl, scripts, servers
    {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},  # the console, served by the service
    {"Sec-Fetch-Site": "none"},  # typed into the address bar
])
def test_same_origin_and_non_browser_requests_pass(client: Client, headers: dict[str, str]) -> None:
    timer_id = created(client)
    assert call(client, "GET", f"/xtimer/triggerTimer?id={timer_id}&app=billing", headers)[0] == 200


@pytest.mark.parametrize("host", ["rebound.example:8000", "rebound.example", "192.168.1.20:8000", "0.0.0.0:8000"])
def test_without_authentication_a_foreign_host_is_refused_as_dns_rebinding_would_send_it(
    client: Client, host: str
) -> None:
    # A page whose name was re-pointed at 127.0.0.1 makes same-origin requests with its own Host.
    timer_id = created(client)
    status, reply = call(client, "GET", f"/xtimer/triggerTimer?id={timer_id}&app=billing",
                         {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"})
    assert status == 403 and reply["code"] == ErrorCode.FORBIDDEN
    assert "XTIMER_ALLOWED_HOSTS" in reply["message"] and "127.0.0.1" in reply["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.2",
                                  "xtimer.localhost:8000"])
def test_without_authentication_loopback_hosts_are_answered(client: Client, host: str) -> None:
    timer_id = created(client)
    assert call(client, "GET", f"/xtimer/getTimer?id={timer_id}&app=billing", {"Host": host})[0] == 200


def test_a_host_listed_in_xtimer_allowed_hosts_is_answered(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    timer_id = created(client)
    monkeypatch.setenv("XTIMER_ALLOWED_HOSTS", "devbox.lan, other.lan")
    assert call(client, "GET", f"/xtimer/getTimer?id={timer_id}&app=billing", {"Host": "devbox.lan:8000"})[0] == 200
    assert call(client, "GET", f"/xtimer/getTimer?id={timer_id}&app=billing", {"Host": "third.lan:8000"})[0] == 403


def test_with_authentication_any_host_is_answered_as_a_deployed_stage_is_reached(
    client: Client, service: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XTIMER_AUTH", "required")
    key = service.keys.issue("billing")[0]
    response = client.http.get("/xtimer/getAppTimers?app=billing",
                               headers={"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "X-Xtimer-Key": key})
    assert response.status_code == 200, response.body

"""A web page on another site cannot drive a local stack through the developer's browser."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
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

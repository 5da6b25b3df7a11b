"""Input crafted to break the service gets the envelope with a 400, never a 500 (security review)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)

DEEP = "[" * 10_000 + "]" * 10_000


def created(client: Client) -> int:
    return post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]


@pytest.mark.parametrize("path", ["/xtimer/creatTimer", "/xtimer/updateTimer", "/xtimer/previewCron"])
def test_json_nested_ten_thousand_deep_is_a_400(client: Client, path: str) -> None:
    raw = '{"app": "billing", "id": 1, "cron": "* * * * *", "x": ' + DEEP + "}"
    status, reply = post(client, path, raw)
    assert status == 400 and reply["code"] == ErrorCode.INVALID_REQUEST
    assert "nested too deeply" in reply["message"]


def test_a_deeply_nested_notify_string_is_a_400_naming_the_field(client: Client) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(notifyHTTPParam='{"url": ' + DEEP + "}"))
    assert status == 400 and reply["data"]["field"] == "notifyHTTPParam"
    assert "nested too deeply" in reply["message"]


@pytest.mark.parametrize("body", [
    timer(name="\ud800x"),
    timer(notifyHTTPParam={"url": "https://example.com/hook", "method": "POST", "body": "a\udc00"}),
])
def test_a_lone_surrogate_is_a_400_naming_the_field(client: Client, body: dict[str, Any]) -> None:
    status, reply = post(client, "/xtimer/creatTimer", json.dumps(body))  # ensure_ascii: \\ud800 escapes
    assert status == 400 and reply["code"] == ErrorCode.INVALID_FIELD
    assert reply["data"]["field"] in {"name", "notifyHTTPParam.body"} and "lone UTF-16 surrogate" in reply["message"]


def test_a_lone_surrogate_inside_a_notify_string_or_an_update_is_a_400(client: Client) -> None:
    inner = json.dumps({"url": "https://example.com/hook", "method": "POST", "header": {"X-A": "\ud800"}})
    status, reply = post(client, "/xtimer/creatTimer", timer(notifyHTTPParam=inner))
    assert status == 400 and "lone UTF-16 surrogate" in reply["message"] and "header.X-A" in reply["message"]
    timer_id = created(client)
    status, reply = post(client, "/xtimer/updateTimer", {"app": "billing", "id": timer_id, "name": "\ud800x"})
    assert status == 400 and reply["data"]["field"] == "name"

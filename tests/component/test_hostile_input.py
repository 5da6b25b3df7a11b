"""Input crafted to break the service gets the envelope with a 400, never a 500 (security review)."""
from __future__ import annotations

import json
from urllib.parse import quote
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


def with_header(name: str, value: str) -> dict[str, Any]:
    return timer(notifyHTTPParam={"url": "https://example.com/hook", "method": "GET", "header": {name: value}})


@pytest.mark.parametrize(("value", "words"), [
    (" leading", "start or end with a space"),
    ("trailing\t", "start or end with a space"),
    ("snow\u2603man", "Latin-1"),
    ("a\x01b", "control characters"),
    ("a\x0bb", "control characters"),
    ("a\x0cb", "control characters"),
    ("a\x7fb", "control characters"),
    ("a\rb", "line breaks"),
])
def test_header_values_follow_rfc_9110(client: Client, value: str, words: str) -> None:
    status, reply = post(client, "/xtimer/creatTimer", with_header("X-Custom", value))
    assert status == 400 and reply["data"]["field"] == "notifyHTTPParam.header" and words in reply["message"]


@pytest.mark.parametrize("name", ["Host", "host", "Connection", "Keep-Alive", "Proxy-Authorization", "TE",
                                  "Trailer", "Transfer-Encoding", "Upgrade", "X-Xtimer-Signature"])
def test_transport_and_service_headers_are_reserved(client: Client, name: str) -> None:
    status, reply = post(client, "/xtimer/creatTimer", with_header(name, "169.254.169.254"))
    assert status == 400 and reply["data"]["field"] == "notifyHTTPParam.header" and "cannot be given" in reply["message"]


def test_ordinary_header_values_still_pass(client: Client) -> None:
    for i, value in enumerate(("Bearer abc.def", "a b\tc", "caf\u00e9", "")):
        assert post(client, "/xtimer/creatTimer", with_header("X-Custom", value) | {"name": f"n{i}"})[0] == 200


@pytest.mark.parametrize("app", [" demo ", "demo\t", "demo\xa0", "\u200bdemo", "de\u200bmo", "ｄｅｍｏ", "de\u0301mo",
                                 "dé", "demo  two", "demo\u00adx"])
def test_app_names_are_taken_as_written_or_refused(client: Client, app: str) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(app=app))
    assert status == 400 and reply["data"]["field"] == "app", app
    assert "ASCII letters" in reply["message"] or "must not start or end" in reply["message"]
    assert get(client, "/xtimer/getAppTimers?app=" + quote(app))[0] == 400


@pytest.mark.parametrize("app", ["est ad amet tempor proident", "billing", "bench-load", "a", "my_app.v2"])
def test_the_spec_and_usual_app_names_stay_valid(client: Client, app: str) -> None:
    assert post(client, "/xtimer/creatTimer", timer(app=app))[0] == 200


def test_an_operator_cannot_create_a_key_for_a_padded_app_name(service: Any) -> None:
    from click.testing import CliRunner

    from xtimer_admin.__main__ import cli
    result = CliRunner().invoke(cli, ["keys", "create", "--app", " demo "])
    assert result.exit_code != 0 and "must not start or end" in result.output
    assert service.keys.list("demo") == []

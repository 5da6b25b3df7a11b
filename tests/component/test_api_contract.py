"""The spec's two endpoints over HTTP (Chalice's test client): paths, envelope, codes."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)

SPEC_EXAMPLE = {
    "app": "est ad amet tempor proident",
    "name": "test1",
    "status": 1,
    "cron": "*/5 * * * * *",
    "notifyHTTPParam": "{\"method\": \"GET\", \"url\": \"https://golangcode.cn/\", \"header\": "
                       "{\"Duis_c8\": \"culpa ex in\"}, \"body\": \"consectetur dolore consequat irure in\"}",
}


def test_the_spec_example_body_creates_a_timer(client: Client) -> None:
    status, reply = post(client, "/xtimer/creatTimer", SPEC_EXAMPLE)
    assert status == 200
    assert reply["code"] == 0 and reply["message"] == "ok"
    timer_id = reply["data"]["timerId"]
    assert isinstance(timer_id, int) and 0 < timer_id < 2**53


def test_create_answers_on_the_corrected_spelling_too(client: Client) -> None:
    status, reply = post(client, "/xtimer/createTimer", timer())
    assert (status, reply["code"]) == (200, 0)


def test_notify_param_as_object_and_as_json_string_are_the_same(client: Client, service: Any) -> None:
    as_object = timer(name="a")
    as_string = timer(name="b", notifyHTTPParam=json.dumps(timer()["notifyHTTPParam"]))
    ids = [post(client, "/xtimer/creatTimer", body)[1]["data"]["timerId"] for body in (as_object, as_string)]
    stored = [service.timers.get("billing", i) for i in ids]
    assert [t.notify.url for t in stored] == ["https://example.com/hook"] * 2
    assert [t.notify.body for t in stored] == ["{\"run\": 1}"] * 2


def test_timer_ids_are_unique(client: Client) -> None:
    ids = {post(client, "/xtimer/creatTimer", timer(name=f"t{i}"))[1]["data"]["timerId"] for i in range(20)}
    assert len(ids) == 20


def test_a_second_timer_with_the_same_app_and_name_is_refused(client: Client) -> None:
    post(client, "/xtimer/creatTimer", timer())
    status, reply = post(client, "/xtimer/creatTimer", timer(cron="*/5 * * * *"))
    assert status == 409
    assert reply["code"] == ErrorCode.DUPLICATE_NAME
    assert "nightly-invoice" in reply["message"]


def test_the_same_name_in_another_app_is_allowed(client: Client) -> None:
    post(client, "/xtimer/creatTimer", timer())
    status, reply = post(client, "/xtimer/creatTimer", timer(app="shipping"))
    assert (status, reply["code"]) == (200, 0)


def test_enable_replies_ok_without_data(client: Client, service: Any) -> None:
    timer_id = post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]
    status, reply = get(client, f"/xtimer/enableTimer?id={timer_id}&app=billing")
    assert status == 200
    assert reply == {"code": 0, "message": "ok"}
    assert service.timers.get("billing", timer_id).status == 2


def test_enabling_twice_succeeds_and_changes_nothing(client: Client, service: Any) -> None:
    timer_id = post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]
    get(client, f"/xtimer/enableTimer?id={timer_id}&app=billing")
    before = service.timers.get("billing", timer_id)
    status, reply = get(client, f"/xtimer/enableTimer?id={timer_id}&app=billing")
    after = service.timers.get("billing", timer_id)
    assert (status, reply["code"]) == (200, 0)
    assert (after.version, after.generation, after.updated_at) == (before.version, before.generation,
                                                                  before.updated_at)


def test_another_apps_timer_is_not_found(client: Client) -> None:
    timer_id = post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]
    theirs = get(client, f"/xtimer/enableTimer?id={timer_id}&app=intruder")
    missing = get(client, f"/xtimer/enableTimer?id={timer_id + 1}&app=intruder")
    assert theirs[0] == missing[0] == 404
    assert theirs[1]["code"] == missing[1]["code"] == ErrorCode.NOT_FOUND
    assert theirs[1]["message"].replace(str(timer_id), "N") == missing[1]["message"].replace(str(timer_id + 1), "N")


def test_a_new_timer_starts_disabled_unless_status_2_is_asked(client: Client, service: Any) -> None:
    plain = post(client, "/xtimer/creatTimer", timer(name="plain"))[1]["data"]["timerId"]
    enabled = post(client, "/xtimer/creatTimer", timer(name="on", status=2))[1]["data"]["timerId"]
    assert service.timers.get("billing", plain).status == 1
    assert service.timers.get("billing", enabled).status == 2


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ("", ErrorCode.INVALID_REQUEST, "empty"),
        ("{not json", ErrorCode.INVALID_REQUEST, "not valid JSON"),
        ("[1, 2]", ErrorCode.INVALID_REQUEST, "JSON object"),
        (timer(app=None), ErrorCode.INVALID_FIELD, "app: is required"),
        (timer(app=7), ErrorCode.INVALID_FIELD, "app: must be a string"),
        (timer(name="x" * 129), ErrorCode.INVALID_FIELD, "at most 128"),
        (timer(name="  "), ErrorCode.INVALID_FIELD, "must not be empty"),
        (timer(name="a\nb"), ErrorCode.INVALID_FIELD, "control characters"),
        (timer(cron="ex exercitation in sed"), ErrorCode.INVALID_CRON, "cron"),
        (timer(cron="61 * * * *"), ErrorCode.INVALID_CRON, "cron"),
        (timer(cron=None), ErrorCode.INVALID_FIELD, "cron: is required"),
        (timer(timezone="Mars/Olympus"), ErrorCode.INVALID_TIMEZONE, "IANA"),
        (timer(status=3), ErrorCode.INVALID_FIELD, "status"),
        (timer(status=True), ErrorCode.INVALID_FIELD, "status"),
        (timer(notifyHTTPParam=None), ErrorCode.INVALID_FIELD, "notifyHTTPParam: is required"),
        (timer(notifyHTTPParam="{oops"), ErrorCode.INVALID_FIELD, "not valid JSON"),
        (timer(notifyHTTPParam=[1]), ErrorCode.INVALID_FIELD, "must be an object"),
        (timer(notifyHTTPParam={"method": "GET"}), ErrorCode.INVALID_FIELD, "url: is required"),
        (timer(notifyHTTPParam={"url": "ftp://example.com/x", "method": "GET"}), ErrorCode.INVALID_FIELD,
         "http:// or https://"),
        (timer(notifyHTTPParam={"url": "https://", "method": "GET"}), ErrorCode.INVALID_FIELD, "no host"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "TRACE"}), ErrorCode.INVALID_FIELD,
         "GET, POST, PUT, PATCH, DELETE"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "GET", "header": {"A": 1}}),
         ErrorCode.INVALID_FIELD, "must be a string"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "GET", "header": {"A": "x\r\nB: y"}}),
         ErrorCode.INVALID_FIELD, "line breaks"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "GET", "header": {"Bad Name": "x"}}),
         ErrorCode.INVALID_FIELD, "not a valid header name"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "GET", "body": {"a": 1}}),
         ErrorCode.INVALID_FIELD, "send it as a string"),
        (timer(notifyHTTPParam={"url": "https://example.com", "method": "GET", "body": "x" * 20000}),
         ErrorCode.INVALID_FIELD, "larger than"),
    ],
)
def test_bad_create_input_gets_a_400_envelope_that_names_the_problem(
    client: Client, body: Any, code: ErrorCode, words: str
) -> None:
    status, reply = post(client, "/xtimer/creatTimer", body)
    assert status == 400
    assert reply["code"] == code
    assert words in reply["message"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("app=billing", "id: is required"),
        ("id=abc&app=billing", "positive integer"),
        ("id=-4&app=billing", "positive integer"),
        ("id=0&app=billing", "between 1 and"),
        ("id=99999999999999999&app=billing", "positive integer"),
        ("id=12", "app: is required"),
        ("", "app: is required"),
    ],
)
def test_bad_enable_input_gets_a_400_envelope(client: Client, query: str, words: str) -> None:
    status, reply = get(client, f"/xtimer/enableTimer?{query}")
    assert status == 400
    assert reply["code"] == ErrorCode.INVALID_FIELD
    assert words in reply["message"]


def test_a_wrong_method_gets_the_envelope_not_chalices_error(client: Client) -> None:
    response = client.http.get("/xtimer/creatTimer")
    reply = json.loads(response.body)
    assert response.status_code == 405
    assert reply["code"] == ErrorCode.METHOD_NOT_ALLOWED and reply["message"]


def test_an_unsupported_content_type_gets_the_envelope(client: Client) -> None:
    status, reply = post(client, "/xtimer/creatTimer", json.dumps(timer()), content_type="image/png")
    assert status == 415
    assert reply["code"] == ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_health_answers_200(client: Client) -> None:
    status, reply = get(client, "/health")
    assert (status, reply["code"], reply["data"]["status"]) == (200, 0, "ok")


def test_loopback_callbacks_are_refused_unless_configured(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "false")
    status, reply = post(client, "/xtimer/creatTimer",
                         timer(notifyHTTPParam={"url": "http://127.0.0.1:9/x", "method": "GET"}))
    assert status == 400 and "loopback" in reply["message"]
    status, reply = post(client, "/xtimer/creatTimer",
                         timer(name="meta", notifyHTTPParam={"url": "http://169.254.169.254/x", "method": "GET"}))
    assert status == 400 and "link-local" in reply["message"]

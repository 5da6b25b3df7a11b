"""API keys: with XTIMER_AUTH=required every call but /health needs a key of the app it names."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.errors import ErrorCode
from chalicelib.wiring import Services
from tests.support.api_helpers import client, timer  # noqa: F401  (client is a fixture)

CALLS = [
    ("post", "/xtimer/creatTimer", None),
    ("post", "/xtimer/createTimer", None),
    ("get", "/xtimer/enableTimer?id={id}&app={app}", None),
    ("get", "/xtimer/unableTimer?id={id}&app={app}", None),
    ("get", "/xtimer/disableTimer?id={id}&app={app}", None),
    ("get", "/xtimer/getTimer?id={id}&app={app}", None),
    ("get", "/xtimer/getAppTimers?app={app}", None),
    ("post", "/xtimer/updateTimer", {"id": "{id}", "app": "{app}", "name": "renamed"}),
    ("get", "/xtimer/deleteTimer?id={id}&app={app}", None),
    ("delete", "/xtimer/timer?id={id}&app={app}", None),
    ("get", "/xtimer/getTasks?id={id}&app={app}", None),
    ("get", "/xtimer/triggerTimer?id={id}&app={app}", None),
    ("get", "/xtimer/getSigningSecret?app={app}", None),
]


@pytest.fixture
def keys(service: Services, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XTIMER_AUTH", "required")
    return {app: service.keys.issue(app)[0] for app in ("billing", "intruder")}


def send(client: Client, method: str, path: str, body: dict | None, key: str | None, timer_id: int,
         app: str = "billing") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-Xtimer-Key"] = key
    if path.endswith("Timer") and method == "post" and body is None:
        body = timer(app=app)
    raw = json.dumps(body).replace('"{id}"', str(timer_id)).replace("{app}", app) if body else None
    kwargs = {"headers": headers} | ({"body": raw} if raw else {})
    response = getattr(client.http, method)(path.format(id=timer_id, app=app), **kwargs)
    return response.status_code, json.loads(response.body)


def an_existing_timer(client: Client, key: str) -> int:
    return send(client, "post", "/xtimer/creatTimer", timer(name="existing"), key, 0)[1]["data"]["timerId"]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_every_call_without_a_key_is_refused(client: Client, keys: dict, method: str, path: str,
                                             body: dict | None) -> None:
    timer_id = an_existing_timer(client, keys["billing"])
    status, reply = send(client, method, path, body, None, timer_id)
    assert status == 401 and reply["code"] == ErrorCode.UNAUTHORIZED and "X-Xtimer-Key" in reply["message"]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_every_call_with_another_apps_key_is_refused(client: Client, keys: dict, method: str, path: str,
                                                     body: dict | None) -> None:
    timer_id = an_existing_timer(client, keys["billing"])
    status, reply = send(client, method, path, body, keys["intruder"], timer_id)
    assert status == 403 and reply["code"] == ErrorCode.FORBIDDEN
    assert "belongs to app 'intruder'" in reply["message"]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_every_call_with_the_apps_own_key_is_served(client: Client, keys: dict, method: str, path: str,
                                                    body: dict | None) -> None:
    timer_id = an_existing_timer(client, keys["billing"])
    status, reply = send(client, method, path, body, keys["billing"], timer_id)
    assert status == 200 and reply["code"] == 0, reply


def test_a_revoked_or_made_up_key_is_refused(client: Client, keys: dict, service: Services) -> None:
    timer_id = an_existing_timer(client, keys["billing"])
    [info] = service.keys.list("billing")
    assert service.keys.revoke("billing", info.key_id)
    fresh = type(service.keys)()  # another Lambda container: nothing cached
    service.keys = fresh
    for key in (keys["billing"], "xtk_made_up", "x" * 500):
        status, reply = send(client, "get", "/xtimer/getTimer?id={id}&app={app}", None, key, timer_id)
        assert status == 401 and "not valid" in reply["message"]


def test_preview_needs_a_key_of_any_app(client: Client, keys: dict) -> None:
    body = {"cron": "@daily"}
    assert send(client, "post", "/xtimer/previewCron", body, None, 0)[0] == 401
    assert send(client, "post", "/xtimer/previewCron", body, keys["intruder"], 0)[0] == 200


def test_health_and_the_openapi_document_need_no_key(client: Client, keys: dict) -> None:
    assert client.http.get("/health").status_code == 200
    assert client.http.get("/openapi.json").status_code == 200


def test_keys_are_stored_only_as_hashes(service: Services, keys: dict) -> None:
    from chalicelib.storage.models import ApiKeyModel
    stored = [item.attribute_values for item in ApiKeyModel.scan()]
    assert stored and not any(keys["billing"] in json.dumps(item, default=str) for item in stored)


def test_without_auth_configured_no_key_is_needed(client: Client, service: Services) -> None:
    status, reply = send(client, "post", "/xtimer/creatTimer", timer(), None, 0)
    assert status == 200


def test_a_deployed_function_requires_keys_unless_told_otherwise(client: Client, service: Services,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XTIMER_AUTH", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "xtimer-dev-api_handler")  # as the Lambda runtime sets it
    assert send(client, "post", "/xtimer/creatTimer", timer(), None, 0)[0] == 401
    monkeypatch.setenv("XTIMER_AUTH", "off")
    assert send(client, "post", "/xtimer/creatTimer", timer(), None, 0)[0] == 200

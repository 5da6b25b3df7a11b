"""/openapi.json: valid OpenAPI, in step with the routes, and true to what the API answers."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import app
from chalicelib.api.openapi import document
from chalicelib.wiring import Services
from tests.support.api_helpers import client, timer  # noqa: F401  (client is a fixture)
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver


def check_reply(path: str, method: str, status: int, body: dict[str, Any]) -> None:
    """Validate `body` against the schema the document gives for this path, method and status."""
    doc = document()
    assert str(status) in doc["paths"][path][method]["responses"], f"{method} {path} {status} is not documented"
    registry = Registry().with_resource("urn:xtimer", Resource.from_contents(doc, default_specification=DRAFT202012))
    escaped = path.replace("~", "~0").replace("/", "~1")
    schema = {"$ref": f"urn:xtimer#/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"}
    Draft202012Validator(schema, registry=registry).validate(body)


def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    route = path.split("?")[0]
    if body is None:
        response = getattr(client.http, method)(path)
    else:
        response = getattr(client.http, method)(path, headers={"Content-Type": "application/json"},
                                                 body=json.dumps(body))
    reply = json.loads(response.body)
    check_reply(route, method, response.status_code, reply)
    return response.status_code, reply


def test_the_document_is_valid_openapi() -> None:
    validate(document())


def test_every_route_is_documented_and_every_documented_path_is_routed() -> None:
    routed = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, methods in document()["paths"].items() for method in methods}
    assert routed == documented


def test_the_service_serves_the_document(client: Client) -> None:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200 and json.loads(response.body) == document()


def test_every_reply_matches_the_documented_schema(client: Client, service: Services, receiver: Receiver) -> None:
    hook = {"url": receiver.url("/hook"), "method": "POST", "header": {"A": "b"}, "body": "x"}
    status, reply = call(client, "post", "/xtimer/creatTimer", timer(notifyHTTPParam=hook, cron="*/20 * * * * *"))
    timer_id = reply["data"]["timerId"]
    ref = f"id={timer_id}&app=billing"
    call(client, "post", "/xtimer/createTimer", timer(name="second", notifyHTTPParam=json.dumps(hook)))
    assert call(client, "post", "/xtimer/creatTimer", timer())[0] == 409
    assert call(client, "post", "/xtimer/creatTimer", {"app": "x"})[0] == 400
    assert call(client, "get", f"/xtimer/enableTimer?{ref}")[0] == 200
    deliver(service)
    assert call(client, "get", f"/xtimer/getTimer?{ref}")[0] == 200
    assert call(client, "get", "/xtimer/getTimer?id=1&app=billing")[0] == 404
    assert call(client, "get", "/xtimer/getAppTimers?app=billing&pageSize=1")[0] == 200
    assert call(client, "get", f"/xtimer/getTasks?{ref}")[0] == 200
    assert call(client, "get", f"/xtimer/triggerTimer?{ref}")[0] == 200
    assert call(client, "post", "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "name": "n2"})[0] == 200
    assert call(client, "post", "/xtimer/updateTimer", {"id": timer_id, "app": "billing", "version": 1,
                                                        "name": "n3"})[0] == 409
    assert call(client, "post", "/xtimer/previewCron", {"cron": "@daily", "count": 2})[0] == 200
    assert call(client, "get", f"/xtimer/unableTimer?{ref}")[0] == 200
    assert call(client, "get", f"/xtimer/disableTimer?{ref}")[0] == 200
    assert call(client, "get", f"/xtimer/deleteTimer?{ref}")[0] == 200
    assert call(client, "delete", f"/xtimer/timer?{ref}")[0] == 404
    assert call(client, "get", "/health")[0] == 200


@pytest.mark.parametrize("field", ["app", "name"])
def test_the_documented_length_limit_is_the_one_enforced(client: Client, field: str) -> None:
    limit = document()["components"]["schemas"]["CreateTimerRequest"]["properties"][field]["maxLength"]
    assert call(client, "post", "/xtimer/creatTimer", timer(**{field: "x" * limit}))[0] == 200
    assert call(client, "post", "/xtimer/creatTimer", timer(**{field: "y" * (limit + 1)}))[0] == 400

"""The OpenAPI 3.1 document of the API: its paths and replies, with the schemas of the request and
reply models (chalicelib.api.requests, chalicelib.api.replies) that validate requests and build
replies, so what is published is what is checked.

tests/component/test_openapi.py keeps it honest: every route is documented and every documented
path is routed, the document validates, and real replies validate against its schemas.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import replies
from chalicelib.api.requests import (AppActivityQuery, AppRef, AppTimersQuery, CreateTimerRequest, PreviewCronRequest, Request,
                                     TasksQuery, TimerRef, UpdateTimerRequest)

_REF_TEMPLATE = "#/components/schemas/{model}"
_REQUESTS: tuple[type[Request], ...] = (CreateTimerRequest, UpdateTimerRequest, PreviewCronRequest)
_REPLIES: tuple[type[replies.Reply], ...] = (
    replies.Error, replies.Health, replies.Created, replies.Timer, replies.TimerDetail, replies.TimerPage,
    replies.Task, replies.TaskPage, replies.Triggered, replies.SigningSecret, replies.CronPreview,
    replies.AppActivity,
)


def schemas() -> dict[str, Any]:
    """The components' schemas: requests as they are validated, replies as they are written."""
    models: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in _REQUESTS]
    models += [(m, "serialization") for m in _REPLIES]
    _, top = models_json_schema(models, ref_template=_REF_TEMPLATE)
    return top["$defs"]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _ok(data: type[BaseModel] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"code": {"const": 0}, "message": {"const": "ok"}}
    required = ["code", "message"]
    if data is not None:
        properties["data"] = _ref(data)
        required.append("data")
    return {"type": "object", "properties": properties, "required": required}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: a query string has no null, so an optional field is just absent."""
    branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1 and len(prop["anyOf"]) == 2:
        prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **branches[0]}
    return {k: v for k, v in prop.items() if k not in ("title", "description") and (k, v) != ("default", None)}


def _query(model: type[Request]) -> list[dict[str, Any]]:
    """A query model's fields as the operation's query parameters."""
    schema = model.model_json_schema(mode="validation")
    params = []
    for name, prop in schema["properties"].items():
        prop = _not_null(prop)
        param = {"name": name, "in": "query", "required": name in schema.get("required", ()), "schema": prop}
        if "description" in schema["properties"][name]:
            param["description"] = schema["properties"][name]["description"]
        params.append(param)
    return params


_REF = _query(TimerRef)


def _operation(summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
               body: type[Request] | None = None, errors: tuple[int, ...] = (400,)) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": ok}}}},
    }
    if errors:  # every call but the public ones takes an API key when authentication is on
        errors = (*errors, 401, 403)
    for status in errors:
        operation["responses"][str(status)] = {"description": "error",
                                               "content": {"application/json": {"schema": _ref(replies.Error)}}}
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


_CREATE = _operation("Create a timer (disabled unless status is 2)", _ok(replies.Created), body=CreateTimerRequest,
                     errors=(400, 409))
_DISABLE = _operation("Disable a timer; queued fires are not made", _ok(), params=_REF, errors=(400, 404))
_DELETE = _operation("Delete a timer; its task records stay until they expire", _ok(), params=_REF,
                     errors=(400, 404))

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/health": {"get": {**_operation("Ready", _ok(replies.Health), errors=()), "security": []}},
    "/openapi.json": {"get": {**_operation("This document", {"type": "object"}, errors=()), "security": []}},
    "/metrics": {"get": {
        "summary": "The local stack's metrics in Prometheus' text format; a 404 envelope on deployed stages "
                   "(their metrics are in CloudWatch)",
        "security": [],
        "responses": {
            "200": {"description": "counters and histograms", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "404": {"description": "no metrics kept here", "content": {"application/json": {"schema": _ref(replies.Error)}}},
        },
    }},
    "/xtimer/creatTimer": {"post": _CREATE},
    "/xtimer/createTimer": {"post": _CREATE},
    "/xtimer/enableTimer": {"get": _operation("Enable a timer", _ok(), params=_REF, errors=(400, 404))},
    "/xtimer/unableTimer": {"get": _DISABLE},
    "/xtimer/disableTimer": {"get": _DISABLE},
    "/xtimer/getTimer": {"get": _operation("A timer, its next 5 fire times and recent outcomes",
                                           _ok(replies.TimerDetail), params=_REF, errors=(400, 404))},
    "/xtimer/getAppTimers": {"get": _operation(
        "An app's timers, newest first",
        _ok(replies.TimerPage),
        params=_query(AppTimersQuery))},
    "/xtimer/updateTimer": {"post": _operation("Change a timer", _ok(replies.Timer), body=UpdateTimerRequest,
                                               errors=(400, 404, 409))},
    "/xtimer/deleteTimer": {"get": _DELETE},
    "/xtimer/timer": {"delete": _DELETE},
    "/xtimer/getTasks": {"get": _operation(
        "A timer's executions, newest first",
        _ok(replies.TaskPage),
        params=_query(TasksQuery),
        errors=(400, 404))},
    "/xtimer/getAppActivity": {"get": _operation(
        "An app's fires, failures and lateness over the last minutes (up to an hour), from its task records",
        _ok(replies.AppActivity),
        params=_query(AppActivityQuery))},
    "/xtimer/triggerTimer": {"get": _operation(
        "Run a timer once now",
        _ok(replies.Triggered),
        params=_REF, errors=(400, 404))},
    "/xtimer/getSigningSecret": {"get": _operation(
        "The secret the app's callbacks are signed with (and the previous one during a rotation)",
        _ok(replies.SigningSecret),
        params=_query(AppRef))},
    "/xtimer/previewCron": {"post": _operation(
        "Check a cron expression and list its next fire times",
        _ok(replies.CronPreview),
        body=PreviewCronRequest)},
    # The web console (chalicelib/api/console): pages, not JSON; public, as the page asks for the key itself.
    "/console": {"get": {
        "summary": "The web console (an HTML page; its views are in the URL fragment, #/apps/<app>/...)",
        "security": [],
        "responses": {"200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}},
    }},
    "/console/{asset}": {"get": {
        "summary": "A file of the web console: console.css, console.js or icon.svg",
        "security": [],
        "parameters": [{"name": "asset", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the file", "content": {
                media: {"schema": {"type": "string"}} for media in ("text/css", "text/javascript", "image/svg+xml")}},
            "404": {"description": "no such file", "content": {"application/json": {"schema": _ref(replies.Error)}}},
        },
    }},
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "xtimer",
            "version": "1.0.0",
            "description": "HTTP callbacks on a cron schedule. Every reply is the envelope "
                           "{code, message, data}; see docs/api.md for the error codes.",
        },
        "paths": OPERATIONS,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"appKey": {"type": "apiKey", "in": "header", "name": "X-Xtimer-Key",
                                           "description": "an API key of the app the call names; required "
                                                          "when XTIMER_AUTH=required (every deployed stage)"}},
        },
        "security": [{"appKey": []}],
    }

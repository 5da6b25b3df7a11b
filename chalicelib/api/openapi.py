"""The OpenAPI 3.1 document of the API, built from the same limits and codes the code checks with.

tests/test_openapi.py keeps it honest: every route is documented and every documented path is
routed, the document validates, and real replies validate against its schemas.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.api import validation as v
from chalicelib.errors import ErrorCode
from chalicelib.fires.tasks import STATUS_NAMES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(data: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"code": {"const": 0}, "message": {"const": "ok"}}
    required = ["code", "message"]
    if data is not None:
        properties["data"] = data
        required.append("data")
    return {"type": "object", "properties": properties, "required": required}


def _string(max_length: int, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, **extra}


_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STRING = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "enum": [int(c) for c in ErrorCode if c is not ErrorCode.OK]},
            "message": {"type": "string"},
            "data": {"type": "object", "properties": {"field": {"type": "string"}}},
        },
        "required": ["code", "message"],
    },
    "NotifyHTTPParam": {
        "type": "object",
        "properties": {
            "url": _string(v.MAX_URL_LENGTH, pattern="^[Hh][Tt][Tt][Pp][Ss]?://"),
            "method": {"type": "string", "enum": list(v.METHODS)},
            "header": {"type": "object", "maxProperties": v.MAX_HEADERS,
                       "additionalProperties": {"type": "string", "maxLength": v.MAX_HEADER_VALUE_LENGTH}},
            "body": {"type": ["string", "null"], "description": f"at most {v.MAX_BODY_BYTES} bytes as UTF-8"},
        },
        "required": ["url", "method"],
    },
    "CreateTimerRequest": {
        "type": "object",
        "properties": {
            "app": _string(v.MAX_APP_LENGTH),
            "name": _string(v.MAX_NAME_LENGTH),
            "cron": _string(v.MAX_CRON_LENGTH, examples=["*/5 * * * *", "*/3 * * * * *", "@hourly"]),
            "timezone": _string(v.MAX_TIMEZONE_LENGTH, default="UTC", examples=["Europe/Berlin"]),
            "status": {"type": "integer", "enum": [v.STATUS_DISABLED, v.STATUS_ENABLED],
                       "default": v.STATUS_DISABLED},
            "notifyHTTPParam": {"oneOf": [_ref("NotifyHTTPParam"),
                                          {"type": "string", "description": "a JSON object, as a string"}]},
        },
        "required": ["app", "name", "cron", "notifyHTTPParam"],
    },
    "UpdateTimerRequest": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1, "maximum": v.MAX_TIMER_ID},
            "app": _string(v.MAX_APP_LENGTH),
            "version": {"type": "integer", "minimum": 1, "description": "refuse the change (409) unless the "
                        "timer is at this version"},
            "name": _string(v.MAX_NAME_LENGTH),
            "cron": _string(v.MAX_CRON_LENGTH),
            "timezone": _string(v.MAX_TIMEZONE_LENGTH),
            "notifyHTTPParam": {"oneOf": [_ref("NotifyHTTPParam"), {"type": "string"}]},
        },
        "required": ["id", "app"],
    },
    "PreviewCronRequest": {
        "type": "object",
        "properties": {
            "cron": _string(v.MAX_CRON_LENGTH),
            "timezone": _string(v.MAX_TIMEZONE_LENGTH, default="UTC"),
            "count": {"type": "integer", "minimum": 1, "maximum": v.MAX_PREVIEW_COUNT, "default": 5},
        },
        "required": ["cron"],
    },
    "Timer": {
        "type": "object",
        "properties": {
            "timerId": {"type": "integer"}, "app": {"type": "string"}, "name": {"type": "string"},
            "cron": {"type": "string"}, "timezone": {"type": "string"},
            "status": {"type": "integer", "enum": [v.STATUS_DISABLED, v.STATUS_ENABLED]},
            "version": {"type": "integer"}, "notifyHTTPParam": _ref("NotifyHTTPParam"),
            "createdAt": _TIME, "updatedAt": _TIME,
        },
        "required": ["timerId", "app", "name", "cron", "timezone", "status", "version", "notifyHTTPParam",
                     "createdAt", "updatedAt"],
    },
    "TimerDetail": {
        "allOf": [_ref("Timer"), {
            "type": "object",
            "properties": {
                "description": {"type": "string"},
                "nextFireTimes": {"type": "array", "items": _TIME, "maxItems": 5},
                "recent": {"type": "object", "properties": {
                    k: {"type": "integer"} for k in ("tasks", "succeeded", "failed", "missed")}},
            },
            "required": ["description", "nextFireTimes", "recent"],
        }],
    },
    "Task": {
        "type": "object",
        "properties": {
            "timerId": {"type": "integer"}, "fireTime": _TIME, "fireMs": {"type": "integer"},
            "status": {"type": "integer", "enum": sorted(STATUS_NAMES)},
            "statusName": {"type": "string", "enum": [STATUS_NAMES[k] for k in sorted(STATUS_NAMES)]},
            "attempts": {"type": "integer"}, "httpStatus": _NULLABLE_INT, "durationMs": _NULLABLE_INT,
            "error": _NULLABLE_STRING, "responseBody": _NULLABLE_STRING, "manual": {"type": "boolean"},
            "startedAt": {"type": ["string", "null"], "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
        },
        "required": ["timerId", "fireTime", "fireMs", "status", "statusName", "attempts", "manual"],
    },
}

_ID = {"name": "id", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                   "maximum": v.MAX_TIMER_ID}}
_APP = {"name": "app", "in": "query", "required": True, "schema": _string(v.MAX_APP_LENGTH)}
_PAGE = [
    {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": v.MAX_PAGE_SIZE,
                                                    "default": v.DEFAULT_PAGE_SIZE}},
    {"name": "pageToken", "in": "query", "schema": {"type": "string"},
     "description": "nextPageToken of the previous page, unchanged"},
]


def _operation(summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
               body: str | None = None, errors: tuple[int, ...] = (400,)) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": ok}}}},
    }
    if errors:  # every call but the public ones takes an API key when authentication is on
        errors = (*errors, 401, 403)
    for status in errors:
        operation["responses"][str(status)] = {"description": "error",
                                               "content": {"application/json": {"schema": _ref("Error")}}}
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


_CREATE = _operation("Create a timer (disabled unless status is 2)", _ok({
    "type": "object", "properties": {"timerId": {"type": "integer", "minimum": 1, "maximum": v.MAX_TIMER_ID}},
    "required": ["timerId"]}), body="CreateTimerRequest", errors=(400, 409))
_DISABLE = _operation("Disable a timer; queued fires are not made", _ok(), params=[_ID, _APP], errors=(400, 404))
_DELETE = _operation("Delete a timer; its task records stay until they expire", _ok(), params=[_ID, _APP],
                     errors=(400, 404))

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/health": {"get": {**_operation("Ready", _ok({"type": "object"}), errors=()), "security": []}},
    "/openapi.json": {"get": {**_operation("This document", {"type": "object"}, errors=()), "security": []}},
    "/xtimer/creatTimer": {"post": _CREATE},
    "/xtimer/createTimer": {"post": _CREATE},
    "/xtimer/enableTimer": {"get": _operation("Enable a timer", _ok(), params=[_ID, _APP], errors=(400, 404))},
    "/xtimer/unableTimer": {"get": _DISABLE},
    "/xtimer/disableTimer": {"get": _DISABLE},
    "/xtimer/getTimer": {"get": _operation("A timer, its next 5 fire times and recent outcomes",
                                           _ok(_ref("TimerDetail")), params=[_ID, _APP], errors=(400, 404))},
    "/xtimer/getAppTimers": {"get": _operation(
        "An app's timers, newest first",
        _ok({"type": "object", "properties": {"timers": {"type": "array", "items": _ref("Timer")},
                                              "nextPageToken": {"type": "string"}, "total": {"type": "integer"}},
             "required": ["timers"]}),
        params=[_APP, {"name": "name", "in": "query", "schema": _string(v.MAX_NAME_LENGTH),
                       "description": "only timers whose name contains this"}, *_PAGE])},
    "/xtimer/updateTimer": {"post": _operation("Change a timer", _ok(_ref("Timer")), body="UpdateTimerRequest",
                                               errors=(400, 404, 409))},
    "/xtimer/deleteTimer": {"get": _DELETE},
    "/xtimer/timer": {"delete": _DELETE},
    "/xtimer/getTasks": {"get": _operation(
        "A timer's executions, newest first",
        _ok({"type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")},
                                              "nextPageToken": {"type": "string"}}, "required": ["tasks"]}),
        params=[_ID, _APP, {"name": "status", "in": "query",
                            "schema": {"type": "integer", "enum": sorted(STATUS_NAMES)}}, *_PAGE],
        errors=(400, 404))},
    "/xtimer/triggerTimer": {"get": _operation(
        "Run a timer once now",
        _ok({"type": "object", "properties": {"timerId": {"type": "integer"}, "fireTime": _TIME,
                                              "idempotencyKey": {"type": "string"}},
             "required": ["timerId", "fireTime", "idempotencyKey"]}),
        params=[_ID, _APP], errors=(400, 404))},
    "/xtimer/getSigningSecret": {"get": _operation(
        "The secret the app's callbacks are signed with (and the previous one during a rotation)",
        _ok({"type": "object", "properties": {"app": {"type": "string"}, "signingSecret": {"type": "string"},
                                              "previousSecret": {"type": "string"}, "previousUntil": _TIME},
             "required": ["app", "signingSecret"]}),
        params=[_APP])},
    "/xtimer/previewCron": {"post": _operation(
        "Check a cron expression and list its next fire times",
        _ok({"type": "object", "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"},
                                              "description": {"type": "string"},
                                              "nextFireTimes": {"type": "array", "items": _TIME}},
             "required": ["cron", "timezone", "description", "nextFireTimes"]}),
        body="PreviewCronRequest")},
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
            "404": {"description": "no such file", "content": {"application/json": {"schema": _ref("Error")}}},
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
                           "{code, message, data}; see the README for the error codes.",
        },
        "paths": OPERATIONS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"appKey": {"type": "apiKey", "in": "header", "name": "X-Xtimer-Key",
                                           "description": "an API key of the app the call names; required "
                                                          "when XTIMER_AUTH=required (every deployed stage)"}},
        },
        "security": [{"appKey": []}],
    }

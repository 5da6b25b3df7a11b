"""The request contract is written once: what the models accept is what /openapi.json publishes,
limit by limit, both ways; and the models refuse as the API always has (codes, fields, words, order)."""
from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chalicelib.api import validation
from chalicelib.api.field_errors import parse
from chalicelib.api.openapi import document
from chalicelib.api.requests import (AppActivityQuery, AppTimersQuery, CreateTimerRequest, PreviewCronRequest, Request, TasksQuery,
                                     TimerRef, UpdateTimerRequest)
from chalicelib.errors import ErrorCode, XtimerError

HOOK = {"url": "https://example.com/hook", "method": "POST"}
TIMER = {"app": "billing", "name": "nightly", "cron": "0 3 * * *", "notifyHTTPParam": HOOK}
UPDATE = {"app": "billing", "id": 7, "name": "renamed"}
PREVIEW = {"cron": "@daily"}
QUERY = {"app": "billing", "id": "7"}
BODIES: dict[type[Request], dict[str, Any]] = {CreateTimerRequest: TIMER, UpdateTimerRequest: UPDATE,
                                               PreviewCronRequest: PREVIEW}
QUERIES: dict[str, tuple[type[Request], dict[str, Any]]] = {
    "/xtimer/enableTimer": (TimerRef, QUERY), "/xtimer/getAppTimers": (AppTimersQuery, {"app": "billing"}),
    "/xtimer/getTasks": (TasksQuery, QUERY), "/xtimer/getAppActivity": (AppActivityQuery, {"app": "billing"}),
}


def component(name: str) -> dict[str, Any]:
    return document()["components"]["schemas"][name]


def with_field(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`base` with the field at `path` ("notifyHTTPParam.url") set to `value`."""
    data = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    target[last] = value
    return data


def refusal(model: type[Request], data: dict[str, Any]) -> XtimerError:
    with pytest.raises(XtimerError) as caught:
        parse(model, data)
    return caught.value


def test_every_body_field_is_published_and_every_published_field_is_checked() -> None:
    for model in BODIES:
        schema = component(model.__name__)
        assert set(schema["properties"]) == set(model.model_fields), model.__name__
        assert set(schema.get("required", [])) == {n for n, f in model.model_fields.items() if f.is_required()}
    assert set(component("NotifyHTTPParam")["properties"]) == {"url", "method", "header", "body"}


def test_every_query_parameter_is_published_as_the_model_checks_it() -> None:
    for path, (model, _) in QUERIES.items():
        params = document()["paths"][path]["get"]["parameters"]
        assert {p["name"] for p in params} == set(model.model_fields), path
        assert {p["name"] for p in params if p["required"]} == {n for n, f in model.model_fields.items()
                                                                  if f.is_required()}


# (model, field, the schema that publishes its limit, a value of a given length)
LENGTHS: list[tuple[type[Request], str, Callable[[], dict[str, Any]], Callable[[int], Any]]] = [
    (CreateTimerRequest, "app", lambda: component("CreateTimerRequest")["properties"]["app"], lambda n: "a" * n),
    (CreateTimerRequest, "name", lambda: component("CreateTimerRequest")["properties"]["name"], lambda n: "n" * n),
    (UpdateTimerRequest, "name", lambda: component("UpdateTimerRequest")["properties"]["name"]["anyOf"][0],
     lambda n: "n" * n),
    (CreateTimerRequest, "notifyHTTPParam.url", lambda: component("NotifyHTTPParam")["properties"]["url"],
     lambda n: "https://example.com/" + "p" * (n - len("https://example.com/"))),
    (CreateTimerRequest, "notifyHTTPParam.body", lambda: component("NotifyHTTPParam")["properties"]["body"]["anyOf"][0],
     lambda n: "b" * n),
    (CreateTimerRequest, "cron", lambda: component("CreateTimerRequest")["properties"]["cron"],
     lambda n: "0 3 * * *" + " " * (n - 10) + "*"),
]


@pytest.mark.parametrize(("model", "path", "published", "value"), LENGTHS, ids=[f"{m.__name__}.{p}" for m, p, *_ in LENGTHS])
def test_a_published_max_length_is_the_one_enforced(model: type[Request], path: str, published: Callable[[], Any],
                                                    value: Callable[[int], Any]) -> None:
    limit = published()["maxLength"]
    parse(model, with_field(BODIES[model], path, value(limit)))
    err = refusal(model, with_field(BODIES[model], path, value(limit + 1)))
    assert err.field == path and str(limit) in err.message


@pytest.mark.parametrize("model", [CreateTimerRequest, PreviewCronRequest])
def test_a_published_time_zone_limit_is_the_one_enforced(model: type[Request]) -> None:
    limit = component(model.__name__)["properties"]["timezone"]["maxLength"]
    parse(model, with_field(BODIES[model], "timezone", "UTC" + " " * (limit - 3)))
    err = refusal(model, with_field(BODIES[model], "timezone", "UTC" + " " * (limit - 2)))
    assert (err.code, err.field) == (ErrorCode.INVALID_TIMEZONE, "timezone") and str(limit) in err.message


def test_the_published_header_limits_are_the_ones_enforced() -> None:
    header = component("NotifyHTTPParam")["properties"]["header"]
    (name_pattern, value_schema), = header["patternProperties"].items()
    count, name_length, value_length = header["maxProperties"], header["propertyNames"]["maxLength"], \
        value_schema["maxLength"]
    cases = {
        "count": ({f"H{i}": "v" for i in range(count)}, {f"H{i}": "v" for i in range(count + 1)}),
        "name": ({"N" * name_length: "v"}, {"N" * (name_length + 1): "v"}),
        "value": ({"A": "v" * value_length}, {"A": "v" * (value_length + 1)}),
    }
    for at_limit, past_it in cases.values():
        parse(CreateTimerRequest, with_field(TIMER, "notifyHTTPParam.header", at_limit))
        assert refusal(CreateTimerRequest, with_field(TIMER, "notifyHTTPParam.header", past_it)).field == \
            "notifyHTTPParam.header"
    assert name_pattern.startswith("^") and name_pattern.endswith("$")


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    return next((b for b in schema.get("anyOf", [schema]) if "maximum" in b), schema)


# (model, field, its published schema)
NUMBERS: list[tuple[type[Request], str, Callable[[], dict[str, Any]]]] = [
    (UpdateTimerRequest, "id", lambda: component("UpdateTimerRequest")["properties"]["id"]),
    (UpdateTimerRequest, "version", lambda: component("UpdateTimerRequest")["properties"]["version"]),
    (PreviewCronRequest, "count", lambda: component("PreviewCronRequest")["properties"]["count"]),
    (TimerRef, "id", lambda: document()["paths"]["/xtimer/enableTimer"]["get"]["parameters"][1]["schema"]),
    (AppTimersQuery, "pageSize",
     lambda: document()["paths"]["/xtimer/getAppTimers"]["get"]["parameters"][1]["schema"]),
    (TasksQuery, "status", lambda: document()["paths"]["/xtimer/getTasks"]["get"]["parameters"][3]["schema"]),
]


@pytest.mark.parametrize(("model", "field", "published"), NUMBERS, ids=[f"{m.__name__}.{f}" for m, f, _ in NUMBERS])
def test_published_integer_bounds_are_the_ones_enforced(model: type[Request], field: str,
                                                        published: Callable[[], dict[str, Any]]) -> None:
    bounds = _bounds(published())
    query = model in (TimerRef, AppTimersQuery, TasksQuery)
    base = QUERY if query else BODIES[model]
    for inside in (bounds["minimum"], bounds["maximum"]):
        parse(model, with_field(base, field, str(inside) if query else inside))  # a query string has digits
    for outside in (bounds["minimum"] - 1, bounds["maximum"] + 1, 2.5, True):
        assert refusal(model, with_field(base, field, outside)).field == field


def test_published_enums_are_the_values_enforced() -> None:
    status = component("CreateTimerRequest")["properties"]["status"]
    for value in status["enum"]:
        assert parse(CreateTimerRequest, with_field(TIMER, "status", value)).status == value
    for value in (0, 3, True, 2.5, "enabled"):
        assert refusal(CreateTimerRequest, with_field(TIMER, "status", value)).field == "status"
    methods = component("NotifyHTTPParam")["properties"]["method"]["enum"]
    for method in methods:
        assert parse(CreateTimerRequest, with_field(TIMER, "notifyHTTPParam.method", method.lower()))
    assert refusal(CreateTimerRequest, with_field(TIMER, "notifyHTTPParam.method", "TRACE")).field == \
        "notifyHTTPParam.method"


def _validator(component_name: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:xtimer", Resource.from_contents(document(),
                                                                             default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:xtimer#/components/schemas/{component_name}"}, registry=registry)


@pytest.mark.parametrize("body", [
    TIMER, {**TIMER, "notifyHTTPParam": json.dumps(HOOK)}, {**TIMER, "timezone": "Asia/Kolkata", "status": 2},
    {**TIMER, "notifyHTTPParam": {**HOOK, "header": {"X-Api-Key": "k"}, "body": "{\"a\": 1}"}},
])
def test_bodies_the_models_accept_are_valid_by_the_schema(body: dict[str, Any]) -> None:
    parse(CreateTimerRequest, body)
    _validator("CreateTimerRequest").validate(body)


@pytest.mark.parametrize("body", [
    {**TIMER, "app": ""}, {**TIMER, "name": "a\nb"}, {**TIMER, "status": 3}, {**TIMER, "status": True},
    {k: v for k, v in TIMER.items() if k != "cron"}, {**TIMER, "notifyHTTPParam": [1]},
    {**TIMER, "notifyHTTPParam": {"url": "https://example.com"}},
    {**TIMER, "notifyHTTPParam": {**HOOK, "header": {"Bad Name": "x"}}},
    {**TIMER, "notifyHTTPParam": {**HOOK, "header": {"A": "x\r\nB: y"}}},
])
def test_bodies_the_schema_refuses_the_models_refuse(body: dict[str, Any]) -> None:
    assert not _validator("CreateTimerRequest").is_valid(body)
    refusal(CreateTimerRequest, body)


@pytest.mark.parametrize(("body", "code", "field", "message"), [
    ({**TIMER, "app": 7}, ErrorCode.INVALID_FIELD, "app", "app: must be a string, not a number"),
    ({**TIMER, "app": None}, ErrorCode.INVALID_FIELD, "app", "app: is required"),
    ({**TIMER, "name": "  "}, ErrorCode.INVALID_FIELD, "name", "name: must not be empty"),
    ({**TIMER, "name": "x" * 129}, ErrorCode.INVALID_FIELD, "name",
     "name: is 129 characters long; at most 128 are allowed"),
    ({**TIMER, "name": "a\tb"}, ErrorCode.INVALID_FIELD, "name",
     "name: must not contain control characters (newlines, tabs, ...)"),
    ({**TIMER, "cron": None}, ErrorCode.INVALID_FIELD, "cron", "cron: is required, e.g. \"*/5 * * * *\" (every 5 minutes)"),
    ({**TIMER, "cron": 5}, ErrorCode.INVALID_CRON, "cron", "cron: cron must be a string such as '*/5 * * * *', not int"),
    ({**TIMER, "timezone": "Mars/Olympus"}, ErrorCode.INVALID_TIMEZONE, "timezone",
     "timezone: 'Mars/Olympus' is not a known IANA time zone; use e.g. UTC, Europe/Berlin, Asia/Shanghai"),
    ({**TIMER, "status": "3"}, ErrorCode.INVALID_FIELD, "status", "status: must be 1 (disabled) or 2 (enabled), got '3'"),
    ({**TIMER, "notifyHTTPParam": "{oops"}, ErrorCode.INVALID_FIELD, "notifyHTTPParam",
     "notifyHTTPParam: is a string but not valid JSON; send an object or a JSON string of one"),
    ({**TIMER, "notifyHTTPParam": "[1]"}, ErrorCode.INVALID_FIELD, "notifyHTTPParam",
     "notifyHTTPParam: must be an object, not an array"),
    ({**TIMER, "notifyHTTPParam": {"method": "GET"}}, ErrorCode.INVALID_FIELD, "notifyHTTPParam.url",
     "notifyHTTPParam.url: is required"),
    ({**TIMER, "notifyHTTPParam": {**HOOK, "method": "trace"}}, ErrorCode.INVALID_FIELD, "notifyHTTPParam.method",
     "notifyHTTPParam.method: 'TRACE' is not supported; use one of GET, POST, PUT, PATCH, DELETE"),
    ({**TIMER, "notifyHTTPParam": {**HOOK, "body": {"a": 1}}}, ErrorCode.INVALID_FIELD, "notifyHTTPParam.body",
     "notifyHTTPParam.body: must be a string, not an object; to send JSON, send it as a string"),
])
def test_refusals_keep_their_code_field_and_words(body: dict[str, Any], code: ErrorCode, field: str,
                                                  message: str) -> None:
    err = refusal(CreateTimerRequest, body)
    assert (err.code, err.field, err.message) == (code, field, message)


def test_the_first_problem_reported_is_the_one_checked_first() -> None:
    no_cron = {k: v for k, v in TIMER.items() if k != "cron"}
    assert refusal(CreateTimerRequest, {**no_cron, "timezone": "Mars/X"}).field == "cron"
    assert refusal(CreateTimerRequest, {**TIMER, "cron": "61 * * * *", "timezone": "Mars/X"}).field == "timezone"
    assert refusal(CreateTimerRequest, {**TIMER, "cron": "61 * * * *", "status": 3}).field == "cron"
    assert refusal(UpdateTimerRequest, {**UPDATE, "name": " ", "cron": True}).field == "cron"
    nothing = refusal(UpdateTimerRequest, {"app": "billing", "id": 7, "version": "x"})
    assert (nothing.code, nothing.field) == (ErrorCode.INVALID_REQUEST, None)
    assert nothing.message.startswith("nothing to change")


def test_status_and_id_take_what_they_always_took() -> None:
    assert parse(CreateTimerRequest, {**TIMER, "status": " 2 "}).status == 2
    assert parse(UpdateTimerRequest, {**UPDATE, "id": " 7 "}).id == 7
    assert refusal(UpdateTimerRequest, {**UPDATE, "id": 7.0}).message == "id: must be an integer, not a number"


def test_a_header_name_ending_in_a_line_break_is_refused() -> None:
    err = refusal(CreateTimerRequest, with_field(TIMER, "notifyHTTPParam.header", {"X-Api-Key\n": "k"}))
    assert err.field == "notifyHTTPParam.header" and "not a valid header name" in err.message


def test_the_models_yield_the_domain_values_the_store_takes() -> None:
    spec = validation.timer_spec({**TIMER, "notifyHTTPParam": json.dumps({**HOOK, "method": "put"})})
    assert (spec.app, spec.name, spec.schedule.cron, spec.schedule.timezone, spec.status) == \
        ("billing", "nightly", "0 3 * * *", "UTC", 1)
    assert (spec.notify.url, spec.notify.method, spec.notify.header, spec.notify.body) == \
        ("https://example.com/hook", "PUT", {}, None)
    changes = parse(UpdateTimerRequest, {**UPDATE, "cron": " @hourly ", "notifyHTTPParam": HOOK}).changes()
    assert (changes.name, changes.cron, changes.timezone, changes.notify.method) == ("renamed", "@hourly", None, "POST")

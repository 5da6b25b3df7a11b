"""Random and malformed requests never get a 5xx, a traceback, or anything but the envelope.

`pytest --fuzz-examples N` (default 25) sets how many requests each API operation gets, and
the parser tests' examples if more than theirs; docs/development.md, "Fuzzing".

- schemathesis generates requests from /openapi.json (valid and invalid ones) against the API
  served over real HTTP on 127.0.0.1 (Chalice's local server, on moto);
- hypothesis throws arbitrary JSON at the request parser directly.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import pytest
import requests
import schemathesis
from chalice.local import ChaliceRequestHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import wiring
from chalicelib.api import validation
from chalicelib.errors import XtimerError
from chalicelib.api.openapi import document
from chalicelib.timers.schedule import CronError, parse_schedule
from tests.support import fuzz
from xtimer_local.stack import free_port

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """The API over HTTP on 127.0.0.1, backed by an in-process moto, for the whole module."""
    from chalice.config import Config
    from chalice.local import create_local_server
    from moto import mock_aws

    import app as chalice_app
    from chalicelib.storage import aws, models, resources
    from xtimer_local import patches

    patches.apply_all()  # the moto every other path runs (xtimer_local/patches.py)

    monkeypatch = pytest.MonkeyPatch()
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1",
                        "XTIMER_STAGE": "dev", "XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.forget_clients()
        models.reset_connections()
        models.bind()
        resources.provision(aws.dynamodb(), aws.sqs())
        wiring.use(None)
        port = free_port()
        server = create_local_server(chalice_app.app, Config.create(chalice_stage="fuzz", app_name="xtimer"),
                                     "127.0.0.1", port)
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{port}"
        server.shutdown()
        wiring.use(None)
    aws.forget_clients()
    models.reset_connections()
    monkeypatch.undo()


@pytest.fixture(autouse=True)
def module_environment(api_url: str) -> None:
    """Keep the module's moto and stage (the suite's per-test fixtures would replace them)."""


HTTP_SERVER_METHODS = {name[3:] for name in dir(ChaliceRequestHandler) if name.startswith("do_")}
"""Methods Chalice's local HTTP server hands to the app; it answers any other (TRACE, made-up
ones) 501 itself, as API Gateway refuses them itself."""
NOT_AN_ENVELOPE = {"/openapi.json", "/console", "/console/{asset}"}
"""Paths whose success is a document or a file, not the envelope (their errors are the envelope)."""


def header(response: Any, name: str) -> str:
    """A reply header, from requests' replies and schemathesis' (lower-case keys, lists of values)."""
    value = response.headers.get(name) or response.headers.get(name.lower())
    return (value[0] if value else "") if isinstance(value, list) else (value or "")


def check_reply(method: str, path: str, documented: str, response: Any) -> None:
    """What any reply must be: never a 5xx or a traceback; the envelope, unless it has no body
    by HTTP (HEAD), is the gateway's CORS preflight answer (OPTIONS, empty), or is the success of
    a document or a file."""
    status, text = response.status_code, response.text
    if method not in HTTP_SERVER_METHODS:
        assert status == 501, f"{method} {path}: {status}"  # the local server's refusal, never the app
        return
    assert status < 500, f"{method} {path}: {status} {text[:500]}"
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    if method == "HEAD" or (method == "OPTIONS" and not text):
        assert not text, f"{method} {path} has a body: {text[:200]}"
        return
    if status == 200 and method == documented and path in NOT_AN_ENVELOPE:
        if path == "/openapi.json":
            assert response.json()["openapi"].startswith("3.")
        else:
            assert header(response, "Content-Type").split("/")[0] in {"text", "application", "image"}
        return
    assert header(response, "Content-Type").startswith("application/json"), \
        f"{method} {path}: {status} {header(response, 'Content-Type')}: {text[:200]}"
    body = response.json()
    assert isinstance(body, dict) and set(body) <= {"code", "message", "data"}, text[:500]
    assert isinstance(body.get("code"), int) and isinstance(body.get("message"), str) and body["message"]
    assert (body["code"] == 0) == (status == 200), text[:500]
    if method != documented:
        assert (status, body["code"]) == (405, 40500), f"{method} {path}: {status} {text[:200]}"


@schema.parametrize()
@settings(max_examples=fuzz.examples(), deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_or_anything_but_the_envelope(case: Any, api_url: str) -> None:
    response = case.call(base_url=api_url, timeout=10)
    check_reply(case.method.upper(), case.operation.path, case.operation.method.upper(), response)


EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]


@pytest.mark.parametrize("path", sorted(document()["paths"]))
def test_every_method_on_every_path_gets_a_well_formed_reply(path: str, api_url: str) -> None:
    [documented] = [m.upper() for m in document()["paths"][path]]
    url = api_url + path.replace("{asset}", "console.js")
    for method in EVERY_METHOD:
        response = requests.request(method, url, timeout=10, data=b"{}" if method in {"POST", "PUT", "PATCH"} else None,
                                    headers={"Content-Type": "application/json"})
        check_reply(method, path, documented, response)


def test_the_fuzzed_document_covers_every_route_and_method_the_app_serves() -> None:
    import app as chalice_app

    served = {(path, method) for path, methods in chalice_app.app.routes.items() for method in methods}
    documented = {(path, method.upper()) for path, methods in document()["paths"].items() for method in methods}
    assert served == documented


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = st.sampled_from(["app", "name", "cron", "timezone", "status", "notifyHTTPParam", "id", "version"])


@given(st.dictionaries(FIELDS, JSON | st.text(max_size=300), max_size=8))
@settings(max_examples=fuzz.examples(at_least=300), deadline=None)
def test_any_create_body_is_accepted_or_refused_with_a_domain_error(body: dict[str, Any]) -> None:
    try:
        validation.timer_spec(validation.parse_json_body(json.dumps(body)))
    except XtimerError as err:
        assert err.code != 50000 and err.message


@given(st.binary(max_size=200))
@settings(max_examples=fuzz.examples(at_least=200), deadline=None)
def test_any_raw_body_is_parsed_or_refused_with_a_domain_error(raw: bytes) -> None:
    try:
        validation.parse_json_body(raw)
    except XtimerError as err:
        assert err.message


@given(st.text(max_size=80), st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]))
@settings(max_examples=fuzz.examples(at_least=400), deadline=None)
def test_any_cron_text_parses_or_raises_a_cron_error(cron: str, tz: str) -> None:
    try:
        schedule = parse_schedule(cron, tz)
    except CronError as err:
        assert str(err)
        return
    fires = schedule.next_fires(1_772_366_400, 3)
    assert fires == sorted(set(fires))

"""Random and malformed requests never get a 5xx, a traceback, or anything but the envelope.

- schemathesis generates requests from /openapi.json (valid and invalid ones) against the API
  served over real HTTP on 127.0.0.1 (Chalice's local server, on moto);
- hypothesis throws arbitrary JSON at the request parser directly.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import wiring
from chalicelib.api import validation
from chalicelib.errors import XtimerError
from chalicelib.api.openapi import document
from chalicelib.timers.schedule import CronError, parse_schedule
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


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_or_anything_but_the_envelope(case: Any, api_url: str) -> None:
    response = case.call(base_url=api_url, timeout=10)
    if case.method.upper() != case.operation.method.upper():
        # a method the path does not have; TRACE and made-up ones never reach the app
        # (the local HTTP server answers 501 Not Implemented; API Gateway refuses them itself)
        assert response.status_code in (405, 501) or case.method.upper() == "OPTIONS"
        return
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    if case.path.startswith("/xtimer/"):
        body = response.json()
        assert isinstance(body.get("code"), int) and isinstance(body.get("message"), str)
        assert (body["code"] == 0) == (response.status_code == 200)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = st.sampled_from(["app", "name", "cron", "timezone", "status", "notifyHTTPParam", "id", "version"])


@given(st.dictionaries(FIELDS, JSON | st.text(max_size=300), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_create_body_is_accepted_or_refused_with_a_domain_error(body: dict[str, Any]) -> None:
    try:
        validation.timer_spec(validation.parse_json_body(json.dumps(body)))
    except XtimerError as err:
        assert err.code != 50000 and err.message


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_raw_body_is_parsed_or_refused_with_a_domain_error(raw: bytes) -> None:
    try:
        validation.parse_json_body(raw)
    except XtimerError as err:
        assert err.message


@given(st.text(max_size=80), st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]))
@settings(max_examples=400, deadline=None)
def test_any_cron_text_parses_or_raises_a_cron_error(cron: str, tz: str) -> None:
    try:
        schedule = parse_schedule(cron, tz)
    except CronError as err:
        assert str(err)
        return
    fires = schedule.next_fires(1_772_366_400, 3)
    assert fires == sorted(set(fires))

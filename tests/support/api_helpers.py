"""Calling the API through Chalice's test client, as an HTTP caller would."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from chalice.test import Client

from app import app


@pytest.fixture
def client(service: Any) -> Iterator[Client]:
    with Client(app, stage_name="dev") as test_client:
        yield test_client


def post(client: Client, path: str, body: Any, content_type: str = "application/json") -> tuple[int, dict]:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.http.post(path, headers={"Content-Type": content_type}, body=raw)
    return response.status_code, json.loads(response.body)


def get(client: Client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def timer(**changes: Any) -> dict[str, Any]:
    body = {
        "app": "billing",
        "name": "nightly-invoice",
        "cron": "0 2 * * *",
        "notifyHTTPParam": {"url": "https://example.com/hook", "method": "POST",
                            "header": {"Authorization": "Bearer x"}, "body": "{\"run\": 1}"},
    }
    body.update(changes)
    return body

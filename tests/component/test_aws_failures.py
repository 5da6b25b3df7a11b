"""What an API caller sees when AWS fails under a request: always the envelope, never a traceback;
503 "retry" when the failure is passing (here a transaction conflict; throttling and 5xx, which
the SDK retries with real backoff first, are in tests/unit/test_transient.py), 500 with an
incident id when it is not (a missing permission, say).

DynamoDB's answers are injected with a botocore hook on the models' client, as DynamoDB would
send them; everything else is moto.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client
from moto.core.botocore_stubber import MockRawResponse

from chalicelib.errors import ErrorCode
from chalicelib.storage import models
from chalicelib.storage.models import TimerModel
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)

@pytest.fixture
def dynamodb_answers(client: Client) -> Iterator[Callable[[str, int, dict[str, Any]], None]]:
    """`answer(operation, status, body)`: DynamoDB answers every `operation` call with that."""
    models.bind()
    events = TimerModel._get_connection().connection.client.meta.events
    hooks: list[tuple[str, Any]] = []

    def answer(operation: str, status: int, body: dict[str, Any]) -> None:
        def hook(request: Any, **kwargs: Any) -> AWSResponse:
            return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"},
                               MockRawResponse(json.dumps(body).encode()))

        event = f"before-send.dynamodb.{operation}"
        events.register_first(event, hook)
        hooks.append((event, hook))

    yield answer
    for event, hook in hooks:
        events.unregister(event, hook)


def check_envelope(status: int, reply: dict[str, Any], code: ErrorCode) -> None:
    assert status == code.http_status and reply["code"] == code
    assert "Traceback" not in reply["message"] and "botocore" not in reply["message"]
    assert "incident " in reply["message"]


def test_a_transaction_conflict_is_a_503_that_says_retry(client: Client, dynamodb_answers: Any) -> None:
    dynamodb_answers("TransactWriteItems", 400, {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"},
                                {"Code": "None"}],
    })
    response = client.http.post("/xtimer/creatTimer", headers={"Content-Type": "application/json"},
                                body=json.dumps(timer()))
    reply = json.loads(response.body)
    check_envelope(response.status_code, reply, ErrorCode.UNAVAILABLE)
    assert "retry in a few seconds" in reply["message"]
    assert response.headers["Retry-After"] == "2"


def test_an_aws_error_that_retrying_will_not_fix_is_a_500_envelope(client: Client, dynamodb_answers: Any) -> None:
    timer_id = post(client, "/xtimer/creatTimer", timer())[1]["data"]["timerId"]
    dynamodb_answers("GetItem", 400, {"__type": "com.amazon.coral.service#AccessDeniedException",
                                      "Message": "not authorized to perform: dynamodb:GetItem"})
    status, reply = get(client, f"/xtimer/getTimer?id={timer_id}&app=billing")
    check_envelope(status, reply, ErrorCode.INTERNAL)
    assert "dynamodb:GetItem" not in reply["message"]  # internals stay in the log

"""Which AWS failures the API answers with 503 "retry" (chalicelib/storage/transient.py): the
errors as botocore and PynamoDB raise them, built from DynamoDB's answers."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pynamodb.exceptions import GetError, TransactWriteError

from chalicelib.storage.transient import is_transient


def dynamodb_error(code: str, status: int = 400, **extra: object) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"},
                        "ResponseMetadata": {"HTTPStatusCode": status}, **extra}, "GetItem")


@pytest.mark.parametrize("exc", [
    dynamodb_error("ProvisionedThroughputExceededException"),
    dynamodb_error("ThrottlingException"),
    dynamodb_error("RequestLimitExceeded"),
    dynamodb_error("InternalServerError", 500),
    dynamodb_error("ServiceUnavailable", 503),
    dynamodb_error("TransactionCanceledException",
                   CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}]),
    dynamodb_error("TransactionCanceledException", CancellationReasons=[{"Code": "ThrottlingError"}]),
    EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com"),
    GetError("Failed to get item", dynamodb_error("ProvisionedThroughputExceededException")),
], ids=lambda exc: f"{type(exc).__name__}:{(getattr(exc, 'response', None) or {}).get('Error', {}).get('Code', '')}")
def test_passing_failures_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    dynamodb_error("AccessDeniedException"),
    dynamodb_error("ValidationException"),
    dynamodb_error("ResourceNotFoundException"),
    dynamodb_error("TransactionCanceledException", CancellationReasons=[{"Code": "ConditionalCheckFailed"}]),
    TransactWriteError("Failed to write transaction items", dynamodb_error("ValidationException")),
    KeyError("id"),
    ValueError("a bug"),
], ids=lambda exc: f"{type(exc).__name__}:{(getattr(exc, 'response', None) or {}).get('Error', {}).get('Code', '')}")
def test_other_failures_are_not(exc: Exception) -> None:
    assert not is_transient(exc)


def test_a_failure_raised_from_a_passing_one_is_transient() -> None:
    try:
        try:
            raise dynamodb_error("ThrottlingException")
        except ClientError as cause:
            raise RuntimeError("could not read the timer") from cause
    except RuntimeError as err:
        assert is_transient(err)


def test_a_bug_while_handling_a_passing_failure_is_not_transient() -> None:
    try:
        try:
            raise dynamodb_error("ThrottlingException")
        except ClientError:
            raise KeyError("a bug in the handler")  # noqa: B904 - the point: not raised *from* it
    except KeyError as err:
        assert not is_transient(err)

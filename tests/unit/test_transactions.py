"""A cancelled transaction names the item that failed, whatever order the items are sent in.

DynamoDB answers a cancelled TransactWriteItems with one reason per item, in the request's
order. The fake DynamoDB below (a botocore hook: no AWS, no moto) fails the items a test names
by their key, as DynamoDB would, and answers in the order of the request it received. PynamoDB
regroups a TransactWrite's items by kind; the `emission` fixture makes it emit them in other
orders too (as a later PynamoDB might), to show that which error a caller gets follows the
items, not an order the service assumes.
"""
from __future__ import annotations

import itertools
import json
import random
from typing import Any, Callable, Iterator

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse
from pynamodb.connection.base import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.errors import DuplicateTimerName, QuotaExceeded
from chalicelib.storage import models
from chalicelib.storage.models import TimerModel, TimerNameModel
from chalicelib.storage.transaction import CancellationMismatch, NamedTransaction
from chalicelib.timers.spec import NotifyParams, TimerSpec, schedule_from
from chalicelib.timers.store import TimerStore

NAME_KEY = TimerNameModel.key_for("billing", "nightly")
COUNT_KEY = TimerNameModel.key_for_app("billing")


class FakeDynamoDB:
    """Answers TransactWriteItems: cancelled, with ConditionalCheckFailed on the items whose
    key is in `failing` (and reasons "None" for the others), in the request's order."""

    def __init__(self, failing: set[str], extra_reasons: int = 0) -> None:
        self.failing = failing
        self.extra_reasons = extra_reasons
        self.sent: list[list[str]] = []  # the keys of each transaction's items, as sent

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if not target.endswith(".TransactWriteItems"):
            return self._answer(request, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                                          "message": f"the fake answers TransactWriteItems only, not {target}"})
        keys = [self._key(item) for item in json.loads(request.body)["TransactItems"]]
        self.sent.append(keys)
        reasons = [{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                   if key in self.failing else {"Code": "None"} for key in keys]
        reasons += [{"Code": "None"}] * self.extra_reasons
        return self._answer(request, {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        })

    @staticmethod
    def _key(item: dict[str, Any]) -> str:
        [(_, operation)] = item.items()
        key = operation.get("Key") or operation["Item"]
        return next(iter(key.get("key", key.get("id", {})).values()))

    @staticmethod
    def _answer(request: Any, body: dict[str, Any]) -> AWSResponse:
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"},
                           MockRawResponse(json.dumps(body).encode()))


def _reversed_kinds(self: Connection, condition_check_items: Any, delete_items: Any, put_items: Any,
                    update_items: Any, **kwargs: Any) -> Any:
    return ORIGINAL_EMIT(self, [], list(update_items), list(put_items),
                         list(delete_items) + list(condition_check_items), **kwargs)


def _shuffled(self: Connection, condition_check_items: Any, delete_items: Any, put_items: Any,
              update_items: Any, **kwargs: Any) -> Any:
    """The items in a shuffled order, whatever their kind."""
    items = ([("ConditionCheck", i) for i in condition_check_items] + [("Delete", i) for i in delete_items]
             + [("Put", i) for i in put_items] + [("Update", i) for i in update_items])
    random.Random(7).shuffle(items)
    operation: dict[str, Any] = {"TransactItems": [{kind: item} for kind, item in items]}
    if kwargs.get("client_request_token"):
        operation["ClientRequestToken"] = kwargs["client_request_token"]
    return self.dispatch("TransactWriteItems", operation)


ORIGINAL_EMIT = Connection.transact_write_items
EMISSIONS: dict[str, Callable[..., Any]] = {
    "as PynamoDB 6.1 emits": ORIGINAL_EMIT, "kinds reversed": _reversed_kinds, "shuffled": _shuffled}


@pytest.fixture(params=list(EMISSIONS))
def emission(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(Connection, "transact_write_items", EMISSIONS[request.param])
    return request.param


@pytest.fixture
def dynamodb() -> Iterator[Callable[..., FakeDynamoDB]]:
    """Install a FakeDynamoDB on the models' connection; no request leaves the process."""
    models.reset_connections()
    models.bind()
    events = TimerModel._get_connection().connection.client.meta.events
    installed: list[FakeDynamoDB] = []

    def install(failing: set[str], extra_reasons: int = 0) -> FakeDynamoDB:
        fake = FakeDynamoDB(failing, extra_reasons)
        events.register_first("before-send.dynamodb", fake)
        installed.append(fake)
        return fake

    yield install
    for fake in installed:
        events.unregister("before-send.dynamodb", fake)
    models.reset_connections()


def spec() -> TimerSpec:
    return TimerSpec(app="billing", name="nightly", schedule=schedule_from("0 2 * * *", "UTC"),
                     notify=NotifyParams(url="https://example.com/hook", method="POST", header={}, body=None),
                     status=1)


def test_a_taken_name_is_a_duplicate_name_error(emission: str, dynamodb: Callable[..., FakeDynamoDB]) -> None:
    dynamodb({NAME_KEY})
    with pytest.raises(DuplicateTimerName):
        TimerStore().create(spec())


def test_a_full_app_is_a_quota_error(emission: str, dynamodb: Callable[..., FakeDynamoDB]) -> None:
    dynamodb({COUNT_KEY})
    with pytest.raises(QuotaExceeded, match="XTIMER_MAX_TIMERS_PER_APP"):
        TimerStore().create(spec())


def test_a_taken_name_in_a_full_app_is_a_duplicate_name_error(
    emission: str, dynamodb: Callable[..., FakeDynamoDB]
) -> None:
    dynamodb({NAME_KEY, COUNT_KEY})
    with pytest.raises(DuplicateTimerName):
        TimerStore().create(spec())


@pytest.mark.parametrize("order", list(itertools.permutations(["name", "timer", "count"])))
def test_the_failed_item_is_named_in_any_order_of_adding(
    order: tuple[str, ...], dynamodb: Callable[..., FakeDynamoDB]
) -> None:
    fake = dynamodb({NAME_KEY})
    tx = NamedTransaction(TimerModel._get_connection().connection)
    add = {
        "name": lambda: tx.save("name", TimerNameModel(key=NAME_KEY, timer_id=1),
                                condition=TimerNameModel.key.does_not_exist()),
        "timer": lambda: tx.delete("timer", TimerModel(id=1), condition=TimerModel.app == "billing"),
        "count": lambda: tx.update("count", TimerNameModel(COUNT_KEY), actions=[TimerNameModel.timers.add(1)]),
    }
    for name in order:
        add[name]()
    with pytest.raises(TransactWriteError) as raised:
        tx.commit()
    assert tx.names == list(order) and fake.sent[0].index(NAME_KEY) == order.index("name")
    assert tx.failed(raised.value) == {"name"}


def test_more_reasons_than_items_is_an_error_not_a_guess(dynamodb: Callable[..., FakeDynamoDB]) -> None:
    dynamodb({NAME_KEY}, extra_reasons=1)
    tx = NamedTransaction(TimerModel._get_connection().connection)
    tx.save("name", TimerNameModel(key=NAME_KEY, timer_id=1), condition=TimerNameModel.key.does_not_exist())
    with pytest.raises(TransactWriteError) as raised:
        tx.commit()
    with pytest.raises(CancellationMismatch, match="2 cancellation reasons for a transaction of 1 items"):
        tx.failed(raised.value)


def test_two_items_cannot_share_a_name() -> None:
    tx = NamedTransaction(Connection(region="us-east-1"))
    tx.delete("name", TimerNameModel(key=NAME_KEY))
    with pytest.raises(ValueError, match="two items named 'name'"):
        tx.delete("name", TimerNameModel(key=COUNT_KEY))

"""DynamoDB transactions whose items carry names, so a cancelled one can say which item failed.

DynamoDB answers a cancelled TransactWriteItems with one CancellationReason per item, in the
order of the request's TransactItems. PynamoDB's TransactWrite regroups the items it is given
(condition checks, deletes, puts, then updates), so mapping reasons back through it would
depend on that grouping. Here the request is built in the order the items are added, from
the same per-item arguments PynamoDB builds, and each reason maps to the item at its index:
the order is ours, whatever PynamoDB does.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

MAX_ITEMS = 100  # DynamoDB's limit per transaction


class CancellationMismatch(RuntimeError):
    """DynamoDB gave a different number of cancellation reasons than the transaction has items."""


class NamedTransaction:
    """TransactWriteItems built item by item, each item with a name unique in the transaction."""

    def __init__(self, connection: Connection, client_request_token: str | None = None) -> None:
        self._connection = connection
        self._token = client_request_token
        self._names: list[str] = []
        self._items: list[dict[str, Any]] = []
        self._written: list[Model] = []  # saved or updated: PynamoDB's version attribute follows

    @property
    def names(self) -> list[str]:
        """The item names, in the order they are sent."""
        return list(self._names)

    def _add(self, name: str, operation: str, arguments: dict[str, Any]) -> None:
        if name in self._names:
            raise ValueError(f"two items named {name!r} in one transaction")
        self._names.append(name)
        self._items.append({operation: arguments})

    def save(self, name: str, model: Model, condition: Any = None) -> None:
        self._add(name, "Put", model.get_save_kwargs_from_instance(condition=condition))
        self._written.append(model)

    def update(self, name: str, model: Model, actions: list[Any], condition: Any = None) -> None:
        self._add(name, "Update", model.get_update_kwargs_from_instance(actions=actions, condition=condition))
        self._written.append(model)

    def delete(self, name: str, model: Model, condition: Any = None) -> None:
        self._add(name, "Delete", model.get_delete_kwargs_from_instance(condition=condition))

    def commit(self) -> None:
        """Send the items, in the order added; TransactWriteError if DynamoDB refuses them."""
        if not self._items:
            return
        if len(self._items) > MAX_ITEMS:
            raise ValueError(f"{len(self._items)} items in one transaction; DynamoDB takes at most {MAX_ITEMS}")
        arguments: dict[str, Any] = {"TransactItems": self._items}
        if self._token is not None:
            arguments["ClientRequestToken"] = self._token
        try:
            self._connection.dispatch("TransactWriteItems", arguments)
        except (BotoCoreError, ClientError) as exc:
            raise TransactWriteError("Failed to write transaction items", exc) from exc
        for model in self._written:
            model.update_local_version_attribute()

    def failed(self, exc: TransactWriteError) -> set[str]:
        """The names of the items whose condition failed (none if the transaction failed otherwise)."""
        reasons = list(exc.cancellation_reasons or [])
        if not reasons:
            return set()
        if len(reasons) != len(self._names):
            raise CancellationMismatch(
                f"DynamoDB gave {len(reasons)} cancellation reasons for a transaction of "
                f"{len(self._names)} items ({', '.join(self._names)})") from exc
        return {name for name, reason in zip(self._names, reasons)
                if getattr(reason, "code", None) == "ConditionalCheckFailed"}


@contextmanager
def transaction(connection: Connection) -> Iterator[NamedTransaction]:
    """A transaction committed when the block ends without an exception.

    Its client request token makes an SDK retry of a transaction that went through a no-op,
    not a failure.
    """
    tx = NamedTransaction(connection, client_request_token=uuid.uuid4().hex)
    yield tx
    tx.commit()

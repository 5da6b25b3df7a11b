"""Make moto's TransactWriteItems cost what it costs on DynamoDB: the items it writes, not the tables.

moto 5.2 deep-copies every table a transaction names before writing, so that it can put the
copies back if one of the writes fails. creatTimer and enableTimer each write one transaction
(the timer, its name and the app's counter), so on the local stack each new timer cost time in
proportion to the timers already stored: 16 a second created and enabled for the first 40, about
3 a second by the 1,000th, an hour for 10,000 (docs/benchmarks.md, "Load"). The copy, made while other
threads write, also failed now and then with "dictionary changed size during iteration".

`apply()` saves only the items the transaction names (at most 100) and puts exactly those back
when it fails, which is what the table copies achieved: a transaction can only change the items
it names. The rest of moto's transaction (conditions, cancellation reasons, the order of the
writes) is moto's own. Every moto of the local stack and the tests gets it (xtimer_local/patches.py);
`tests/e2e/test_local_moto.py` checks the rollback against moto's own behaviour.
"""
from __future__ import annotations

import copy
import logging
import threading
from functools import wraps
from typing import Any, Callable

log = logging.getLogger("xtimer.local")

_applied = False
_skip_table_copy = threading.local()  # set while moto's own transaction code runs


class _CopyWithoutTables:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a table is "copied" as
    itself while a transaction runs (its items are saved by `_saved_items` instead); everything
    else is copied as before."""

    def __init__(self, table_class: type) -> None:
        self._table_class = table_class

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_skip_table_copy, "on", False) and isinstance(value, self._table_class):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


SavedItem = tuple[Any, Any, Any, Any]  # table, hash key, range key or None, the item's copy or None


def _saved_items(backend: Any, transact_items: list[dict[str, Any]], dynamo_type: type) -> list[SavedItem]:
    """A copy of each item the transaction names, as it is now (None where there is none)."""
    saved: list[SavedItem] = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_key = dynamo_type(key[table.hash_key_attr])
            range_key = dynamo_type(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_key, range_key)
        except Exception:  # a malformed entry: moto's own code rejects it before writing anything
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(current) if current is not None else None))
    return saved


def _put_back(saved: list[SavedItem]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


def apply() -> bool:
    """Patch moto's DynamoDB backend in this process; raises UnsupportedMoto (nothing changed) if
    the internals it touches are not as expected."""
    global _applied
    if _applied:
        return True
    import moto
    from moto.dynamodb import models as dynamodb
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    from xtimer_local.moto_internals import UnsupportedMoto, require

    version = moto.__version__
    require(dynamodb.DynamoDBBackend, "transact_write_items", ("self", "transact_items"))
    require(Table, "get_item", ("self", "hash_key", "range_key", "projection_expression"))
    require(Table, "delete_item", ("self", "hash_key", "range_key"))
    if getattr(dynamodb, "copy", None) is not copy:
        raise UnsupportedMoto(f"moto {version}: moto.dynamodb.models no longer uses the copy module; "
                              "the transaction patch cannot apply")

    dynamodb.copy = _CopyWithoutTables(Table)  # type: ignore[assignment]
    original: Callable[..., None] = dynamodb.DynamoDBBackend.transact_write_items

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _saved_items(self, transact_items, DynamoType)
        _skip_table_copy.on = True
        try:
            original(self, transact_items)
        except BaseException:
            _put_back(saved)
            raise
        finally:
            _skip_table_copy.on = False

    dynamodb.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _applied = True
    log.info("moto %s: TransactWriteItems saves the items it names, not whole tables", version)
    return True

"""The local stack's moto transaction speed-up (xtimer_local/moto_transactions.py, applied with
every other patch by xtimer_local/patches.py) keeps moto's answers: a failed transaction changes
nothing, a successful one writes every item; stock moto copies the tables, the patched one not.

Each case runs in a subprocess, because the patches are for the whole process: the stock case
needs a process without them (this one, like every test process, runs patched moto).
"""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.support.moto_modes import run_script

SCRIPT = textwrap.dedent("""
    import json, sys
    import boto3
    from moto import mock_aws
    if sys.argv[1] == "patched":
        from xtimer_local import patches
        assert "transactions" in patches.apply_all()
    from moto.dynamodb.models import dynamodb_backends

    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        for name, keys in (("timers", [("id", "HASH")]), ("tasks", [("timer", "HASH"), ("fire", "RANGE")])):
            db.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys])
        db.put_item(TableName="timers", Item={"id": {"S": "a"}, "n": {"N": "1"}})
        db.put_item(TableName="tasks", Item={"timer": {"S": "a"}, "fire": {"S": "1"}, "s": {"S": "old"}})
        backend = dynamodb_backends["123456789012"]["us-east-1"]
        before = backend.tables["timers"]

        def state():
            timers = db.scan(TableName="timers")["Items"]
            tasks = db.scan(TableName="tasks")["Items"]
            return sorted(json.dumps(i, sort_keys=True) for i in timers + tasks)

        writes = [
            {"Update": {"TableName": "timers", "Key": {"id": {"S": "a"}}, "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": "timers", "Item": {"id": {"S": "b"}, "n": {"N": "9"}}}},
            {"Put": {"TableName": "tasks", "Item": {"timer": {"S": "a"}, "fire": {"S": "2"}}}},
            {"Delete": {"TableName": "tasks", "Key": {"timer": {"S": "a"}, "fire": {"S": "1"}}}},
        ]
        failing = {"ConditionCheck": {"TableName": "timers", "Key": {"id": {"S": "zz"}},
                                      "ConditionExpression": "attribute_exists(id)"}}
        out = {"initial": state()}
        try:
            db.transact_write_items(TransactItems=writes + [failing])
        except db.exceptions.TransactionCanceledException as error:
            out["reasons"] = [r["Code"] for r in error.response["CancellationReasons"]]
        out["after_failure"] = state()
        out["same_table_object"] = backend.tables["timers"] is before
        db.transact_write_items(TransactItems=writes)
        out["after_success"] = state()
    print(json.dumps(out))
""")


def run(mode: str) -> dict:
    return run_script(SCRIPT, mode, timeout=120)


@pytest.fixture(scope="module")
def stock() -> dict:
    return run("stock")


@pytest.fixture(scope="module")
def patched() -> dict:
    return run("patched")


def test_a_failed_transaction_leaves_every_item_as_it_was(patched: dict) -> None:
    assert patched["reasons"] == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert patched["after_failure"] == patched["initial"]


def test_a_successful_transaction_writes_every_item(patched: dict) -> None:
    items = [json.loads(i) for i in patched["after_success"]]
    assert {"id": {"S": "a"}, "n": {"N": "2"}} in items
    assert {"id": {"S": "b"}, "n": {"N": "9"}} in items
    assert {"timer": {"S": "a"}, "fire": {"S": "2"}} in items
    assert not any(i.get("fire") == {"S": "1"} for i in items)


def test_answers_are_moto_s_own_without_copying_the_tables(patched: dict, stock: dict) -> None:
    for answer in ("initial", "reasons", "after_failure", "after_success"):
        assert patched[answer] == stock[answer], answer
    assert patched["same_table_object"] and not stock["same_table_object"]

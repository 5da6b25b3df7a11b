"""The local stack's moto keeps what it acknowledged (xtimer_local/durable.py, journal.py).

Each test runs a journaled moto server in this process, "restarts" it (moto's state reset, a new
server on the same state directory) and looks at what came back, through boto3 as a client would.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
import requests

from xtimer_local.journal import LOG_NAME, Journal
from xtimer_local.moto_server import MotoServer
from xtimer_local.stack import free_port

Restart = Callable[[], tuple[Any, Any]]


@pytest.fixture
def compact_after() -> int:
    return 20_000


@pytest.fixture
def moto(tmp_path: Path, aws_environment: None, compact_after: int) -> Iterator[Restart]:
    """(dynamodb, sqs) clients of a journaled moto; calling it again restarts that moto."""
    running: list[MotoServer] = []

    def start() -> tuple[Any, Any]:
        if running:
            server = running.pop()
            requests.post(f"http://127.0.0.1:{server.port}/moto-api/reset", timeout=10)  # its memory is gone
            server.stop()
        server = MotoServer("127.0.0.1", free_port(), state_dir=tmp_path / "state",
                            compact_after=compact_after).start()
        running.append(server)
        options = {"endpoint_url": f"http://127.0.0.1:{server.port}", "region_name": "us-east-1"}
        return boto3.client("dynamodb", **options), boto3.client("sqs", **options)

    yield start
    for server in running:
        requests.post(f"http://127.0.0.1:{server.port}/moto-api/reset", timeout=10)
        server.stop()


def make_table(db: Any) -> None:
    db.create_table(TableName="tasks", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])


def claim(db: Any, key: str, owner: str) -> bool:
    try:
        db.update_item(TableName="tasks", Key={"id": {"S": key}}, UpdateExpression="SET claimed_by = :me",
                       ConditionExpression="attribute_not_exists(claimed_by)",
                       ExpressionAttributeValues={":me": {"S": owner}})
        return True
    except db.exceptions.ConditionalCheckFailedException:
        return False


def test_acknowledged_writes_come_back_and_refused_ones_do_not(moto: Restart) -> None:
    db, _ = moto()
    make_table(db)
    assert claim(db, "fire-1", "first")
    assert not claim(db, "fire-1", "second")
    db.put_item(TableName="tasks", Item={"id": {"S": "fire-2"}, "n": {"N": "1"}})
    db.delete_item(TableName="tasks", Key={"id": {"S": "fire-2"}})
    db.transact_write_items(TransactItems=[
        {"Put": {"TableName": "tasks", "Item": {"id": {"S": "fire-3"}, "claimed_by": {"S": "tx"}}}}])

    db, _ = moto()
    items = {i["id"]["S"]: i for i in db.scan(TableName="tasks")["Items"]}
    assert set(items) == {"fire-1", "fire-3"}
    assert items["fire-1"]["claimed_by"] == {"S": "first"}
    assert not claim(db, "fire-1", "after the restart")  # the claim holds across it


def test_queued_messages_come_back_deleted_ones_do_not(moto: Restart) -> None:
    _, sqs = moto()
    url = sqs.create_queue(QueueName="fires", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "0", "MessageBody": "done"}, {"Id": "1", "MessageBody": "in flight"},
        {"Id": "2", "MessageBody": "later", "DelaySeconds": 600},
        {"Id": "3", "MessageBody": "retry later"}])
    sqs.send_message(QueueUrl=url, MessageBody="with attributes",
                     MessageAttributes={"reason": {"DataType": "String", "StringValue": "why"}})
    received = {m["Body"]: m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                            MessageAttributeNames=["All"])["Messages"]}
    assert set(received) == {"done", "in flight", "retry later", "with attributes"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received["done"]["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received["retry later"]["ReceiptHandle"],
                                  VisibilityTimeout=300)

    _, sqs = moto()
    url = sqs.get_queue_url(QueueName="fires")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "120"
    visible = {m["Body"]: m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                           MessageAttributeNames=["All"])["Messages"]}
    assert set(visible) == {"in flight", "with attributes"}  # held when it stopped: visible at once
    assert visible["with attributes"]["MessageAttributes"]["reason"]["StringValue"] == "why"
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "2"  # "later" and "retry later" still wait


def test_purged_messages_stay_purged(moto: Restart) -> None:
    _, sqs = moto()
    url = sqs.create_queue(QueueName="fires")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="gone")
    sqs.purge_queue(QueueUrl=url)
    _, sqs = moto()
    url = sqs.get_queue_url(QueueName="fires")["QueueUrl"]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_the_log_is_compacted_at_start(moto: Restart, tmp_path: Path) -> None:
    db, _ = moto()
    make_table(db)
    for n in range(50):
        db.put_item(TableName="tasks", Item={"id": {"S": "counter"}, "n": {"N": str(n)}})
    log = tmp_path / "state" / LOG_NAME
    assert len(log.read_text().splitlines()) == 51

    db, _ = moto()
    assert len(log.read_text().splitlines()) == 2  # the table and its one item
    assert db.get_item(TableName="tasks", Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "49"}
    db, _ = moto()  # and the compacted log replays to the same
    assert db.get_item(TableName="tasks", Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "49"}


@pytest.mark.parametrize("compact_after", [20])
def test_the_log_is_compacted_while_it_runs(moto: Restart, tmp_path: Path) -> None:
    db, sqs = moto()
    make_table(db)
    url = sqs.create_queue(QueueName="fires")["QueueUrl"]
    log = tmp_path / "state" / LOG_NAME
    for n in range(200):
        db.put_item(TableName="tasks", Item={"id": {"S": "counter"}, "n": {"N": str(n)}})
        if n % 50 == 0:
            sqs.send_message(QueueUrl=url, MessageBody=f"message {n}")
    deadline = time.monotonic() + 30
    while len(log.read_text().splitlines()) > 40 and time.monotonic() < deadline:
        time.sleep(0.1)  # compaction runs on a thread of its own
    assert len(log.read_text().splitlines()) <= 40  # not 206

    db, sqs = moto()
    assert db.get_item(TableName="tasks", Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "199"}
    url = sqs.get_queue_url(QueueName="fires")["QueueUrl"]
    bodies = {m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]}
    assert bodies == {"message 0", "message 50", "message 100", "message 150"}


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.append([{"t": "delete", "ids": ["a"]}])
    journal.close()
    with open(tmp_path / LOG_NAME, "ab") as f:
        f.write(b'{"t":"delete","ids":["b"')  # a write cut short by kill -9, never acknowledged
    assert list(Journal(tmp_path).read()) == [{"t": "delete", "ids": ["a"]}]


def test_a_second_stack_on_the_same_state_directory_is_refused(tmp_path: Path) -> None:
    from xtimer_local.journal import StateDirBusy

    first = Journal(tmp_path)
    first.lock()
    try:
        with pytest.raises(StateDirBusy, match="in use by another local stack"):
            Journal(tmp_path).lock(timeout=0.3)
    finally:
        first.close()
    Journal(tmp_path).lock(timeout=0.3)


def test_entries_are_json_lines(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.append([{"t": "send", "id": "1"}, {"t": "delete", "ids": ["1"]}])
    assert [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()] == [
        {"t": "send", "id": "1"}, {"t": "delete", "ids": ["1"]}]

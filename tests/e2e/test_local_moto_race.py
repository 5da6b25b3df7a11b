"""Conditional writes are atomic on the very moto child `make run` starts.

The child is started the way the local stack starts it (xtimer_local.moto_child.MotoChild, the
class xtimer_local/stack.py uses), with a state directory (`make run`'s default) and without
one (`--ephemeral`). 32 threads race one conditional UpdateItem per round, as 32 workers racing
for one fire's claim: exactly one may win. Without the atomic patch the in-memory child let two
win in about 8 rounds out of 200.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config

from xtimer_local.moto_child import MotoChild
from xtimer_local.stack import free_port

THREADS = 32
ROUNDS = {"in-memory": 200, "journaled": 50}
"""The journaled child also serialises DynamoDB writes (to journal them in order), so fewer rounds
suffice there; 200 in memory fail without the atomic patch (4 to 8 doubled rounds measured)."""


@pytest.fixture(params=["journaled", "in-memory"])
def child(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[MotoChild, int]]:
    state = tmp_path / "state" if request.param == "journaled" else None
    moto = MotoChild("127.0.0.1", free_port(), state_dir=state).start()
    try:
        yield moto, ROUNDS[request.param]
    finally:
        moto.stop()


def test_one_winner_per_conditional_write_race(child: tuple[MotoChild, int]) -> None:
    child, rounds = child
    db = boto3.client("dynamodb", endpoint_url=child.endpoint, region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local",
                      config=Config(max_pool_connections=THREADS, retries={"max_attempts": 1}))
    db.create_table(TableName="tasks", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "fire", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "fire", "AttributeType": "S"}])
    doubled: list[int] = []
    with ThreadPoolExecutor(THREADS) as pool:
        for round_number in range(rounds):
            start = threading.Barrier(THREADS)

            def claim(worker: int, fire: str = f"fire-{round_number}", start: threading.Barrier = start) -> bool:
                start.wait()
                try:
                    db.update_item(TableName="tasks", Key={"fire": {"S": fire}},
                                   UpdateExpression="SET claimed_by = :me",
                                   ConditionExpression="attribute_not_exists(claimed_by)",
                                   ExpressionAttributeValues={":me": {"N": str(worker)}})
                    return True
                except db.exceptions.ConditionalCheckFailedException:
                    return False

            winners = sum(pool.map(claim, range(THREADS)))
            assert winners >= 1
            if winners > 1:
                doubled.append(round_number)
    assert doubled == [], f"{len(doubled)} of {rounds} rounds had more than one winner"

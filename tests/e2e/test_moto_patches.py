"""Each local-stack patch to moto changes what it says it changes: stock moto against patched
moto (xtimer_local/patches.py), each in a subprocess of its own (a patch is for the whole process,
and this test process runs patched moto). The transaction patch's check is in test_local_moto.py.
"""
from __future__ import annotations

import textwrap

import pytest

from tests.support.moto_modes import run_script

SCRIPT = textwrap.dedent("""
    import json, sys, threading
    import boto3
    from moto import mock_aws
    if sys.argv[1] == "patched":
        from xtimer_local import patches
        patches.apply_all()
    from moto.dynamodb.models import table as table_module
    from moto.sqs import models as sqs_models

    out = {}
    with mock_aws():
        # Atomic conditional writes. Two threads put the same key "if it is not there yet".
        # Each evaluation of the condition then waits (up to 5 s) for the other thread's: that
        # forces the one interleaving that shows a race, every time. Stock moto lets both
        # evaluate before either writes, so both win; with the patch the second request cannot
        # start before the first has written, the wait times out, and the second one loses.
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        barrier = threading.Barrier(2, timeout=5)
        original = table_module.get_filter_expression

        def waiting_filter(*args, **kwargs):
            condition = original(*args, **kwargs)

            class Waiting:
                def expr(self, item):
                    result = condition.expr(item)
                    try:
                        barrier.wait()
                    except threading.BrokenBarrierError:
                        pass
                    return result
            return Waiting()

        table_module.get_filter_expression = waiting_filter
        winners = []

        def claim(who):
            try:
                db.put_item(TableName="claims", Item={"id": {"S": "fire-1"}, "owner": {"S": who}},
                            ConditionExpression="attribute_not_exists(id)")
                winners.append(who)
            except db.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=claim, args=(w,)) for w in ("a", "b")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        table_module.get_filter_expression = original
        out["winners"] = len(winners)

        # SQS speed-ups: the clock reads (moto's unix_time_millis) one SendMessage costs with
        # 500 delayed messages queued: stock moto scans them all, the patched one does not.
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="fires")["QueueUrl"]
        for start in range(0, 500, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": f"later-{start + i}", "DelaySeconds": 600} for i in range(10)])
        calls = [0]
        clock = sqs_models.unix_time_millis

        def counted(*args, **kwargs):
            calls[0] += 1
            return clock(*args, **kwargs)

        sqs_models.unix_time_millis = counted
        sqs.send_message(QueueUrl=url, MessageBody="now")
        sqs_models.unix_time_millis = clock
        out["clock_reads_per_send"] = calls[0]
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        out["received"] = [m["Body"] for m in got]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        out["left"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessagesDelayed"]
    print(json.dumps(out))
""")


def run(mode: str) -> dict:
    return run_script(SCRIPT, mode, timeout=180)


@pytest.fixture(scope="module")
def stock() -> dict:
    return run("stock")


@pytest.fixture(scope="module")
def patched() -> dict:
    return run("patched")


def test_stock_moto_lets_two_conditional_writes_win_and_the_patch_one(stock: dict, patched: dict) -> None:
    assert stock["winners"] == 2
    assert patched["winners"] == 1


def test_stock_sqs_scans_the_queue_per_send_and_the_patched_one_does_not(stock: dict, patched: dict) -> None:
    assert stock["clock_reads_per_send"] >= 500
    assert patched["clock_reads_per_send"] < 50


def test_the_sqs_speed_ups_give_moto_s_own_answers(stock: dict, patched: dict) -> None:
    assert patched["received"] == stock["received"] == ["now"]
    assert patched["left"] == stock["left"] == "500"

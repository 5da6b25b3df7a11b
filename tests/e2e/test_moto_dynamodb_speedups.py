"""xtimer_local/moto_dynamodb_speedups.py gives stock moto's answers, and does less work for them.

The same DynamoDB requests run on stock moto and on the local stack's patched moto, each in a
subprocess of its own (a patch is for the whole process): every answer, error or not, must be
the same, for every attribute type (binary included, which is left to moto's own serialiser),
nested names, ADD on a missing attribute, REMOVE, if_not_exists, conditional failures, the same
update expression text sent again with other values (the parse is kept per text), and updates
that create their item, with expressions that read a key attribute and without (a new item's
second validation is the first's only without), and projections: an index's and a
ProjectionExpression's, by plain names and by nested paths."""
from __future__ import annotations

import textwrap

import pytest

from tests.support.moto_modes import run_script

SCRIPT = textwrap.dedent("""
    import json, sys
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws
    if sys.argv[1] == "patched":
        from xtimer_local import patches
        patches.apply_all()
    from moto.core import serialize
    from moto.dynamodb.parsing import expressions
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    def answer(call, **kwargs):
        try:
            reply = call(**kwargs)
        except ClientError as exc:
            return {"error": exc.response["Error"], "item": exc.response.get("Item")}
        reply.pop("ResponseMetadata", None)
        return reply

    out = {"answers": []}
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                                   {"AttributeName": "at", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"},
                                              {"AttributeName": "at", "AttributeType": "N"}])
        every_type = {"id": {"N": "1"}, "at": {"N": "10"}, "s": {"S": "text"}, "empty": {"S": ""},
                      "n": {"N": "-1.5"}, "b": {"B": b"\\x00\\xffbytes"}, "bs": {"BS": [b"a", b"b"]},
                      "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "t": {"BOOL": True},
                      "f": {"BOOL": False}, "null": {"NULL": True},
                      "m": {"M": {"inner": {"M": {"deep": {"S": "d"}, "bin": {"B": b"z"}}}, "k": {"N": "3"}}},
                      "l": {"L": [{"S": "one"}, {"N": "2"}, {"L": [{"BOOL": False}]}, {"M": {}}]}}
        plain = {"id": {"N": "2"}, "at": {"N": "20"}, "s": {"S": "plain"},
                 "notify": {"M": {"url": {"S": "http://127.0.0.1/cb"}, "header": {"M": {}},
                                  "tags": {"L": [{"S": "a"}]}}}}
        a = out["answers"].append
        a(answer(db.put_item, TableName="t", Item=every_type))
        a(answer(db.put_item, TableName="t", Item=plain, ReturnValues="ALL_OLD"))
        a(answer(db.get_item, TableName="t", Key={"id": {"N": "1"}, "at": {"N": "10"}}, ConsistentRead=True))
        a(answer(db.get_item, TableName="t", Key={"id": {"N": "2"}, "at": {"N": "20"}}))
        a(answer(db.get_item, TableName="t", Key={"id": {"N": "9"}, "at": {"N": "9"}}))
        a(answer(db.batch_get_item, RequestItems={"t": {"ConsistentRead": True, "Keys": [
            {"id": {"N": "1"}, "at": {"N": "10"}}, {"id": {"N": "2"}, "at": {"N": "20"}},
            {"id": {"N": "3"}, "at": {"N": "30"}}]}}))
        claim = ("SET #app = :app, #token = :token, #status = :status, #lease = :lease, #started = :started, "
                 "#manual = :manual, #expires = :expires ADD #attempts :one")
        names = {"#app": "app", "#token": "claim_token", "#status": "status", "#lease": "lease_until",
                 "#started": "started_at", "#manual": "manual", "#expires": "expires_at", "#attempts": "attempts"}
        condition = "attribute_not_exists(id) OR #status = :not_run OR (#status = :running AND #lease < :now)"
        for n, (key, now) in enumerate([(("5", "50"), 100), (("5", "50"), 101), (("5", "50"), 10**9),
                                        (("6", "60"), 100)]):
            values = {":app": {"S": f"app{n}"}, ":token": {"S": f"tok{n}"}, ":status": {"N": "1"},
                      ":lease": {"N": str(now + 60)}, ":started": {"N": str(now)}, ":manual": {"N": "0"},
                      ":expires": {"N": "12345"}, ":one": {"N": "1"}, ":not_run": {"N": "0"},
                      ":running": {"N": "1"}, ":now": {"N": str(now)}}
            for returns in ("ALL_NEW", "UPDATED_OLD"):
                a(answer(db.update_item, TableName="t", Key={"id": {"N": key[0]}, "at": {"N": key[1]}},
                         UpdateExpression=claim, ConditionExpression=condition, ExpressionAttributeNames=names,
                         ExpressionAttributeValues=values, ReturnValues=returns,
                         ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        key = {"id": {"N": "1"}, "at": {"N": "10"}}
        for expression, names, values in [
            ("ADD #c :one", {"#c": "counter_missing"}, {":one": {"N": "1"}}),
            ("ADD #c :one", {"#c": "counter_missing"}, {":one": {"N": "5"}}),
            ("REMOVE #s, #l[0]", {"#s": "s", "#l": "l"}, None),
            ("SET #m.#i.#d = :v, #n = #n + :v2", {"#m": "m", "#i": "inner", "#d": "deep", "#n": "n"},
             {":v": {"S": "new"}, ":v2": {"N": "2"}}),
            ("SET #x = if_not_exists(#x, :v)", {"#x": "first"}, {":v": {"S": "kept"}}),
            ("SET #x = if_not_exists(#x, :v)", {"#x": "first"}, {":v": {"S": "not this"}}),
            ("SET #l = list_append(#l, :more)", {"#l": "l"}, {":more": {"L": [{"B": b"q"}]}}),
            ("SET #b = :b", {"#b": "b2"}, {":b": {"B": b"\\x01"}}),
            ("SET #n = #n + :s", {"#n": "n"}, {":s": {"S": "not a number"}}),
            ("SET #k = :v", {"#k": "id"}, {":v": {"N": "7"}}),
            ("SET #a = :v REMOVE #a", {"#a": "s"}, {":v": {"S": "x"}}),
            ("SET #a = :v,, #b = :v", {"#a": "s", "#b": "t"}, {":v": {"S": "x"}}),
            ("SET #a.#missing.#deeper = :v", {"#a": "m", "#missing": "nope", "#deeper": "x"}, {":v": {"S": "x"}}),
        ]:
            kwargs = dict(TableName="t", Key=key, UpdateExpression=expression, ExpressionAttributeNames=names,
                          ReturnValues="ALL_NEW")
            if values:
                kwargs["ExpressionAttributeValues"] = values
            a(answer(db.update_item, **kwargs))
        # New items (the record does not exist yet), expressions that read a key attribute or not.
        for n, (expression, names, values) in enumerate([
            ("SET #a = if_not_exists(#k, :v)", {"#a": "copy", "#k": "id"}, {":v": {"N": "99"}}),
            ("SET #a = #k", {"#a": "copy", "#k": "at"}, None),
            ("SET #a = if_not_exists(#a, :v) ADD #c :one", {"#a": "copy", "#c": "count"},
             {":v": {"S": "first"}, ":one": {"N": "1"}}),
            ("ADD #k :one", {"#k": "id"}, {":one": {"N": "1"}}),
        ]):
            kwargs = dict(TableName="t", Key={"id": {"N": str(40 + n)}, "at": {"N": "1"}}, UpdateExpression=expression,
                          ExpressionAttributeNames=names, ReturnValues="ALL_NEW")
            if values:
                kwargs["ExpressionAttributeValues"] = values
            a(answer(db.update_item, **kwargs))
            a(answer(db.get_item, TableName="t", Key={"id": {"N": str(40 + n)}, "at": {"N": "1"}}))
        a(answer(db.batch_write_item, RequestItems={"t": [
            {"PutRequest": {"Item": {"id": {"N": "8"}, "at": {"N": str(i)}, "s": {"S": "w"}, "b": {"B": b"x"}}}}
            for i in range(25)]}))
        a(answer(db.query, TableName="t", KeyConditionExpression="id = :i", ExpressionAttributeValues={
            ":i": {"N": "8"}}, Limit=3, ScanIndexForward=False))
        a(answer(db.get_item, TableName="t", Key=key, ConsistentRead=True))
        # Projections: an index's (INCLUDE, KEYS_ONLY) and a ProjectionExpression's, by plain names
        # (projected by name) and by nested paths and list indexes (left to moto's own projection).
        db.create_table(TableName="g", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"},
                                              {"AttributeName": "shard", "AttributeType": "N"},
                                              {"AttributeName": "due", "AttributeType": "N"}],
                        GlobalSecondaryIndexes=[
                            {"IndexName": "included", "Projection": {"ProjectionType": "INCLUDE",
                                                                     "NonKeyAttributes": ["s", "m", "b", "l", "gone"]},
                             "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                                           {"AttributeName": "due", "KeyType": "RANGE"}]},
                            {"IndexName": "keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
                             "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                                           {"AttributeName": "due", "KeyType": "RANGE"}]}])
        for i in range(4):
            db.put_item(TableName="g", Item=dict(every_type, id={"N": str(i)}, at={"N": "1"}, shard={"N": "0"},
                                                 due={"N": str(100 - i)}))
        for index in ("included", "keys"):
            a(answer(db.query, TableName="g", IndexName=index, KeyConditionExpression="shard = :s AND due < :d",
                     ExpressionAttributeValues={":s": {"N": "0"}, ":d": {"N": "99"}}))
        for expression, names in [("#s, #n, #b, #m", {"#s": "s", "#n": "n", "#b": "b", "#m": "m"}),
                                  ("#m.#i.#d, l[2], #s", {"#m": "m", "#i": "inner", "#d": "deep", "#s": "s"}),
                                  ("#x", {"#x": "not there"})]:
            a(answer(db.get_item, TableName="g", Key={"id": {"N": "1"}}, ProjectionExpression=expression,
                     ExpressionAttributeNames=names))
        from moto.dynamodb.models import dynamo_type
        conversions = [0]
        original_to_regular_json = dynamo_type.Item.to_regular_json

        def counted_to_regular_json(self):
            conversions[0] += 1
            return original_to_regular_json(self)

        dynamo_type.Item.to_regular_json = counted_to_regular_json
        db.query(TableName="g", IndexName="included", KeyConditionExpression="shard = :s",
                 ExpressionAttributeValues={":s": {"N": "0"}})
        out["item_conversions_per_index_query"] = conversions[0]
        dynamo_type.Item.to_regular_json = original_to_regular_json

        # Work done (the patched moto should do less of it): the shape-walk's value lookups for
        # one BatchGetItem of 25 plain items, and the update expression's tokenisations for two
        # UpdateItems with one text.
        picks = [0]
        original_get_value = serialize.ResponseSerializer.get_value

        def counted_get_value(self, *args, **kwargs):
            picks[0] += 1
            return original_get_value(self, *args, **kwargs)

        serialize.ResponseSerializer.get_value = counted_get_value
        db.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": dict(plain, at={"N": str(100 + i)})}}
                                                for i in range(25)]})
        picks[0] = 0
        db.batch_get_item(RequestItems={"t": {"Keys": [{"id": {"N": "2"}, "at": {"N": str(100 + i)}}
                                                         for i in range(25)]}})
        out["value_picks_per_batch_get"] = picks[0]
        serialize.ResponseSerializer.get_value = original_get_value

        tokenised = [0]
        original_make_list = expressions.ExpressionTokenizer.make_list

        def counted_make_list(*args, **kwargs):
            tokenised[0] += 1
            return original_make_list(*args, **kwargs)

        expressions.ExpressionTokenizer.make_list = counted_make_list
        for v in ("1", "2"):
            db.update_item(TableName="t", Key=key, UpdateExpression="SET #z = :z", ExpressionAttributeNames={"#z": "z"},
                           ExpressionAttributeValues={":z": {"N": v}})
        out["update_expression_tokenisations"] = tokenised[0]
        expressions.ExpressionTokenizer.make_list = original_make_list

    # Validations of one UpdateItem that creates its item (a fire's first claim).
    from moto.dynamodb.parsing import validators
    validations = [0]
    original_traverse = validators.ActionCountValidator.traverse

    def counted_traverse(self, node):
        validations[0] += 1  # ActionCountValidator is every validation's first pass
        return original_traverse(self, node)

    validators.ActionCountValidator.traverse = counted_traverse
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(TableName="n", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
        db.update_item(TableName="n", Key={"id": {"N": "1"}}, UpdateExpression="SET #s = :s ADD #a :one",
                       ExpressionAttributeNames={"#s": "status", "#a": "attempts"},
                       ExpressionAttributeValues={":s": {"N": "1"}, ":one": {"N": "1"}})
    out["validations_of_a_new_item"] = validations[0]
    validators.ActionCountValidator.traverse = original_traverse

    # The server's backend lookup: moto's module list read per request, or once per host.
    listed = [0]
    original_list = backends.list_of_moto_modules

    def counted_list():
        listed[0] += 1
        return original_list()

    backends.list_of_moto_modules = counted_list
    dispatcher = DomainDispatcherApplication(create_backend_app)
    found = [dispatcher.get_backend_for_host("dynamodb.us-east-1.amazonaws.com") for _ in range(3)]
    out["backend_found"] = found
    out["module_listings"] = listed[0]
    print(json.dumps(out, default=repr))
""")


@pytest.fixture(scope="module")
def stock() -> dict:
    return run_script(SCRIPT, "stock", timeout=180)


@pytest.fixture(scope="module")
def patched() -> dict:
    return run_script(SCRIPT, "patched", timeout=180)


def test_every_answer_is_stock_moto_s(stock: dict, patched: dict) -> None:
    assert len(patched["answers"]) == len(stock["answers"]) == 43
    for number, (ours, theirs) in enumerate(zip(patched["answers"], stock["answers"])):
        assert ours == theirs, f"answer {number} differs"
    errors = [a["error"]["Code"] for a in stock["answers"] if "error" in a]
    assert "ConditionalCheckFailedException" in errors and "ValidationException" in errors


def test_the_patched_moto_does_less_work_for_the_same_answers(stock: dict, patched: dict) -> None:
    assert patched["backend_found"] == stock["backend_found"] == ["dynamodb"] * 3
    assert stock["module_listings"] == 3 and patched["module_listings"] == 1
    assert stock["update_expression_tokenisations"] == 4 and patched["update_expression_tokenisations"] == 1
    assert stock["validations_of_a_new_item"] == 2 and patched["validations_of_a_new_item"] == 1
    assert patched["value_picks_per_batch_get"] * 5 < stock["value_picks_per_batch_get"]
    # four items, each converted whole once per projected attribute (its three keys and five more)
    assert stock["item_conversions_per_index_query"] == 4 * 8 and patched["item_conversions_per_index_query"] == 0

"""The tables and queues are defined once (chalicelib.storage.resources), and every renderer agrees:
what `provision()` creates on moto (the local stack, the tests, `make deploy`) is what the
merge template tells CloudFormation to create (`make package`)."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.storage import aws, models, resources
from xtimer_deploy.stage import load_stage, resource_ids
from xtimer_deploy.template import data_resources


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def _indexes(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"],
                             sorted(i["Projection"].get("NonKeyAttributes", []))) for i in indexes}


def test_every_model_has_a_table_definition() -> None:
    assert set(resources.TABLES.values()) == set(models.MODELS)


def test_key_schemas_list_the_hash_key_first_as_dynamodb_requires() -> None:
    # moto accepts RANGE before HASH; DynamoDB and CloudFormation do not.
    for model in resources.TABLES.values():
        definition = resources.table_definition(model)
        for schema in [definition["KeySchema"]] + [i["KeySchema"] for i in definition.get("GlobalSecondaryIndexes", [])]:
            assert schema[0]["KeyType"] == "HASH", (definition["TableName"], schema)


def test_the_merge_template_creates_exactly_what_provision_creates(provisioned: None) -> None:
    dynamodb, sqs = aws.dynamodb(), aws.sqs()
    template = data_resources(load_stage("dev"))
    ids = resource_ids()
    for key, model in resources.TABLES.items():
        properties = template[ids[key]]["Properties"]
        table = dynamodb.describe_table(TableName=properties["TableName"])["Table"]
        assert _keys(table["KeySchema"]) == _keys(properties["KeySchema"])
        assert sorted(map(json.dumps, table["AttributeDefinitions"])) == \
            sorted(map(json.dumps, properties["AttributeDefinitions"]))
        assert _indexes(table.get("GlobalSecondaryIndexes", [])) == \
            _indexes(properties.get("GlobalSecondaryIndexes", []))
        assert table["BillingModeSummary"]["BillingMode"] == properties["BillingMode"] == "PAY_PER_REQUEST"
        ttl = dynamodb.describe_time_to_live(TableName=properties["TableName"])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in properties:
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == properties["TimeToLiveSpecification"]["AttributeName"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"

    queue_ids = {queue.key for queue in resources.queue_definitions()}
    arns = {}
    for key in sorted(queue_ids, key=lambda k: "RedrivePolicy" in template[ids[k]]["Properties"]):
        properties = template[ids[key]]["Properties"]
        url = sqs.get_queue_url(QueueName=properties["QueueName"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arns[ids[key]] = attributes["QueueArn"]
        for name, value in properties.items():
            if name == "QueueName":
                continue
            if name == "RedrivePolicy":
                redrive = json.loads(attributes["RedrivePolicy"])
                target = arns[value["deadLetterTargetArn"]["Fn::GetAtt"][0]]
                assert redrive["deadLetterTargetArn"] == target
                assert int(redrive["maxReceiveCount"]) == value["maxReceiveCount"]
            else:
                assert attributes[name] == str(value), (properties["QueueName"], name)


def test_the_fire_queue_hides_a_message_longer_than_the_worker_can_run() -> None:
    config = json.loads((load_stage("dev").project_dir / ".chalice" / "config.json").read_text())
    for name, stage in config["stages"].items():
        worker_timeout = stage["lambda_functions"]["worker"]["lambda_timeout"]
        assert worker_timeout == resources.WORKER_TIMEOUT_SECONDS, name
    fire_queue = next(q for q in resources.queue_definitions() if q.key == "fire_queue")
    assert int(fire_queue.attributes["VisibilityTimeout"]) > resources.WORKER_TIMEOUT_SECONDS
    assert fire_queue.dead_letter_queue and fire_queue.max_receives


def test_provisioning_again_creates_nothing_and_finds_no_differences(provisioned: None) -> None:
    assert resources.provision(aws.dynamodb(), aws.sqs()) == []
    assert resources.differences(aws.dynamodb(), aws.sqs()) == []


def test_differences_name_what_a_person_must_fix(aws_mock: None) -> None:
    dynamodb, sqs = aws.dynamodb(), aws.sqs()
    timers = resources.table_definition(models.TimerModel)
    by_app = timers["GlobalSecondaryIndexes"][0]
    assert by_app["IndexName"] == "by_app"
    dynamodb.create_table(**{**timers, "GlobalSecondaryIndexes": [by_app], "AttributeDefinitions": [
        a for a in timers["AttributeDefinitions"] if a["AttributeName"] in {"id", "app"}]})
    sqs.create_queue(QueueName="xtimer-dev-fires", Attributes={"VisibilityTimeout": "30"})
    resources.provision(dynamodb, sqs)
    found = resources.differences(dynamodb, sqs)
    assert "table xtimer-dev-timers: index by_due is missing" in found
    assert "queue xtimer-dev-fires: VisibilityTimeout is 30, not 180" in found
    assert any(item.startswith("queue xtimer-dev-fires: redrive policy is none") for item in found)

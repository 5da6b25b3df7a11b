"""The AWS resources the service needs besides what Chalice creates: tables and queues.

Defined once here, from the PynamoDB models and the queue settings below, and used by the
local stack, the tests and the deploy tooling alike (`provision`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib import config
from chalicelib.storage import models
from chalicelib.storage.models import ApiKeyModel, AppModel, TaskModel, TimerModel, TimerNameModel

log = logging.getLogger(__name__)

WORKER_TIMEOUT_SECONDS = 30
FIRE_QUEUE_VISIBILITY_SECONDS = 6 * WORKER_TIMEOUT_SECONDS  # AWS's advice for Lambda-fed queues
FIRE_QUEUE_MAX_RECEIVES = config.FIRE_QUEUE_MAX_RECEIVES  # a message that keeps failing goes to the DLQ
DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400


TABLES: dict[str, type[Model]] = {
    "timers": TimerModel,
    "timer_names": TimerNameModel,
    "tasks": TaskModel,
    "api_keys": ApiKeyModel,
    "apps": AppModel,
}
"""Every table, by the key the deploy tooling and the IAM policy know it by."""


def ttl_attribute(model: type[Model]) -> str | None:
    for name, attribute in model.get_attributes().items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None


def _key_schema(elements: list[dict[str, str]]) -> list[dict[str, str]]:
    """HASH first, then RANGE: DynamoDB and CloudFormation refuse any other order (PynamoDB's
    schema lists the attributes in the order the class defines them, which can be the reverse)."""
    return sorted((dict(element) for element in elements), key=lambda element: element["KeyType"] != "HASH")


def table_definition(model: type[Model]) -> dict[str, Any]:
    """CreateTable arguments for `model`, on-demand billing, as both boto3 and CloudFormation take them."""
    schema = model._get_schema()
    definition: dict[str, Any] = {
        "TableName": models.table_name(model),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [dict(a) for a in schema["attribute_definitions"]],
        "KeySchema": _key_schema(schema["key_schema"]),
    }
    indexes = []
    for index in schema["global_secondary_indexes"]:
        projection = {"ProjectionType": index["projection"]["ProjectionType"]}
        if index["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = list(index["projection"]["NonKeyAttributes"])
        indexes.append({
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": projection,
        })
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    return definition


@dataclass(frozen=True)
class QueueDefinition:
    key: str  # "fire_queue" or "dead_letter_queue", as the deploy tooling and the IAM policy know it
    name: str
    attributes: dict[str, str]
    dead_letter_queue: str | None = None  # gives up on a message after `max_receives` receives, to that queue
    max_receives: int | None = None


def queue_definitions() -> list[QueueDefinition]:
    """The DLQ first: the fire queue's redrive policy points at it."""
    return [
        QueueDefinition(
            key="dead_letter_queue",
            name=config.dead_letter_queue(),
            attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
        ),
        QueueDefinition(
            key="fire_queue",
            name=config.fire_queue(),
            attributes={
                "VisibilityTimeout": str(FIRE_QUEUE_VISIBILITY_SECONDS),
                "MessageRetentionPeriod": str(4 * 86_400),
                "ReceiveMessageWaitTimeSeconds": "1",
            },
            dead_letter_queue=config.dead_letter_queue(),
            max_receives=FIRE_QUEUE_MAX_RECEIVES,
        ),
    ]


def redrive_policy(queue: QueueDefinition, dead_letter_arn: Any) -> dict[str, Any]:
    """The queue's RedrivePolicy (SQS takes it as a JSON string, CloudFormation as an object)."""
    return {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": queue.max_receives}


def provision(dynamodb: Any, sqs: Any) -> list[str]:
    """Create whatever of the tables and queues is missing; leave what exists. Returns what was created."""
    created: list[str] = []
    existing = set()
    for page in dynamodb.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    for model in TABLES.values():
        definition = table_definition(model)
        name = definition["TableName"]
        if name not in existing:
            dynamodb.create_table(**definition)
            dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            created.append(f"table {name}")
        ttl = ttl_attribute(model)
        if ttl:
            current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
                dynamodb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
    arns: dict[str, str] = {}
    for queue in queue_definitions():
        attributes = dict(queue.attributes)
        if queue.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps(redrive_policy(queue, arns[queue.dead_letter_queue]))
        try:
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
            created.append(f"queue {queue.name}")
        arns[queue.name] = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for item in created:
        log.info("created %s", item)
    return created


def _indexes(indexes: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        index["IndexName"]: (
            tuple((k["AttributeName"], k["KeyType"]) for k in _key_schema(index["KeySchema"])),
            index["Projection"]["ProjectionType"],
            tuple(sorted(index["Projection"].get("NonKeyAttributes", []))),
        )
        for index in indexes
    }


def differences(dynamodb: Any, sqs: Any) -> list[str]:
    """How the existing tables and queues differ from these definitions ([] when they match).
    `provision` never changes what exists; this says what a person has to change by hand."""
    found: list[str] = []
    for model in TABLES.values():
        wanted = table_definition(model)
        name = wanted["TableName"]
        try:
            table = dynamodb.describe_table(TableName=name)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            found.append(f"table {name}: missing")
            continue
        if _key_schema(table["KeySchema"]) != _key_schema(wanted["KeySchema"]):
            found.append(f"table {name}: key schema is {table['KeySchema']}, the code needs {wanted['KeySchema']}")
        have, need = _indexes(table.get("GlobalSecondaryIndexes", [])), _indexes(
            wanted.get("GlobalSecondaryIndexes", []))
        for index in sorted(need.keys() - have.keys()):
            found.append(f"table {name}: index {index} is missing")
        for index in sorted(need.keys() & have.keys()):
            if have[index] != need[index]:
                found.append(f"table {name}: index {index} is {have[index]}, the code needs {need[index]}")
        billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        if billing != wanted["BillingMode"]:
            found.append(f"table {name}: billing mode is {billing}, not {wanted['BillingMode']}")
        ttl = ttl_attribute(model)
        if ttl:
            current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"} or current.get("AttributeName") != ttl:
                found.append(f"table {name}: TTL is not enabled on {ttl}")
    arns: dict[str, str] = {}
    for queue in queue_definitions():
        try:
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            found.append(f"queue {queue.name}: missing")
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arns[queue.name] = attributes["QueueArn"]
        for attribute, value in queue.attributes.items():
            if attributes.get(attribute) != value:
                found.append(f"queue {queue.name}: {attribute} is {attributes.get(attribute)}, not {value}")
        if queue.dead_letter_queue:
            redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
            target = arns.get(queue.dead_letter_queue, f":{queue.dead_letter_queue}")
            if not str(redrive.get("deadLetterTargetArn", "")).endswith(target.rsplit(":", 1)[-1]) or \
                    int(redrive.get("maxReceiveCount", 0)) != queue.max_receives:
                found.append(f"queue {queue.name}: redrive policy is {redrive or 'none'}, not "
                             f"{queue.max_receives} receives to {queue.dead_letter_queue}")
    return found

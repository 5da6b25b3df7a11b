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

from chalicelib import config, models
from chalicelib.models import TaskModel, TimerModel, TimerNameModel

log = logging.getLogger(__name__)

WORKER_TIMEOUT_SECONDS = 30
FIRE_QUEUE_VISIBILITY_SECONDS = 6 * WORKER_TIMEOUT_SECONDS  # AWS's advice for Lambda-fed queues
FIRE_QUEUE_MAX_RECEIVES = 20  # a message that keeps crashing the worker goes to the DLQ
DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400


def _table_name(model: type[Model]) -> str:
    return {
        TimerModel: config.timers_table,
        TimerNameModel: config.timer_names_table,
        TaskModel: config.tasks_table,
    }[model]()


def ttl_attribute(model: type[Model]) -> str | None:
    for name, attribute in model.get_attributes().items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None


def table_definition(model: type[Model]) -> dict[str, Any]:
    """CreateTable arguments for `model`, on-demand billing, as both boto3 and CloudFormation take them."""
    schema = model._get_schema()
    definition: dict[str, Any] = {
        "TableName": _table_name(model),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [dict(a) for a in schema["attribute_definitions"]],
        "KeySchema": [dict(k) for k in schema["key_schema"]],
    }
    indexes = []
    for index in schema["global_secondary_indexes"]:
        projection = {"ProjectionType": index["projection"]["ProjectionType"]}
        if index["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = list(index["projection"]["NonKeyAttributes"])
        indexes.append({
            "IndexName": index["index_name"],
            "KeySchema": [dict(k) for k in index["key_schema"]],
            "Projection": projection,
        })
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    return definition


@dataclass(frozen=True)
class QueueDefinition:
    name: str
    attributes: dict[str, str]
    dead_letter_of: str | None = None  # this queue is the DLQ of that one


def queue_definitions() -> list[QueueDefinition]:
    """The DLQ first: the fire queue's redrive policy points at it."""
    return [
        QueueDefinition(
            name=config.dead_letter_queue(),
            attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
        ),
        QueueDefinition(
            name=config.fire_queue(),
            attributes={
                "VisibilityTimeout": str(FIRE_QUEUE_VISIBILITY_SECONDS),
                "MessageRetentionPeriod": str(4 * 86_400),
                "ReceiveMessageWaitTimeSeconds": "1",
            },
        ),
    ]


def provision(dynamodb: Any, sqs: Any) -> list[str]:
    """Create whatever of the tables and queues is missing; leave what exists. Returns what was created."""
    created: list[str] = []
    existing = set()
    for page in dynamodb.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    for model in models.MODELS:
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
    dead_letter_arn = None
    for queue in queue_definitions():
        attributes = dict(queue.attributes)
        if queue.name == config.fire_queue() and dead_letter_arn:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(FIRE_QUEUE_MAX_RECEIVES)})
        try:
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
            created.append(f"queue {queue.name}")
        if queue.name == config.dead_letter_queue():
            dead_letter_arn = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for item in created:
        log.info("created %s", item)
    return created

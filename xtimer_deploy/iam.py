"""The functions' IAM policy: exactly the actions the code performs, on exactly the stage's
tables, indexes and queues, plus what Lambda itself does with the functions' role.

One description (`GRANTS`) renders two ways:
- `.chalice/policy-<stage>.json` for `chalice deploy` (`python -m xtimer_deploy policy --write`).
  A static file cannot know the account, so its ARNs leave region and account as `*`; the names
  are exact.
- the role's policy in the packaged template (`merge_template`), with the tables' and queues'
  own ARNs (`Fn::GetAtt`): exact down to the account.

tests/test_deploy_iam.py records every AWS call the test suite makes and checks both ways:
every call is allowed, and every grant is used.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Iterable, Protocol
from urllib.parse import urlparse

from chalicelib.storage import resources
from xtimer_deploy.stage import Stage

# --- what is granted, on what ---------------------------------------------------------------

# Resource keys: "table:<key>", "index:<key>/<index name>", "queue:<key>" (keys of
# chalicelib.storage.resources.TABLES and QueueDefinition.key), and "logs" (the functions' log groups).
GRANTS: dict[str, tuple[str, ...]] = {
    # timers/store.py: create, update and delete (in transactions with the name item), get, enable,
    # disable; tick.py: the cursor; timers/reads.py: the worker's timers of a bucket
    "table:timers": ("dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                     "dynamodb:UpdateItem"),
    # timers/store.py: an app's timers, newest first (list)
    "index:timers/by_app": ("dynamodb:Query",),
    # scheduling/tick.py: the due timers
    "index:timers/by_due": ("dynamodb:Query",),
    # timers/store.py: the (app, name) uniqueness items and the per-app counter, in the same transactions
    "table:timer_names": ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    # fires/tasks.py: claims, outcomes (in batches, and conditional ones near a lease's end), missed
    # fires, a timer's history
    "table:tasks": ("dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                    "dynamodb:UpdateItem"),
    # apps/keys.py: the app of a caller's API key (keys are issued and revoked by xtimer_admin, with
    # the operator's own permissions)
    "table:api_keys": ("dynamodb:GetItem",),
    # apps/secrets.py: an app's callback signing secrets, made on first use; the next secret is
    # added to an app made before it existed (rotated by xtimer_admin)
    "table:apps": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    # fires/queue.py: send fires (SendMessageBatch is authorized as SendMessage), retry later
    "queue:fire_queue": ("sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:SendMessage")
    # Lambda's SQS trigger polls with the function's role (AWS Lambda developer guide, "Execution
    # role permissions" for SQS); DeleteMessageBatch is authorized as DeleteMessage.
    + ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
    # fires/queue.py: park a fire for good
    "queue:dead_letter_queue": ("sqs:GetQueueUrl", "sqs:SendMessage"),
    # Lambda writes the functions' logs. No logs:CreateLogGroup: both deploy paths create the
    # groups with their retention (config.json log_retention_in_days); a group Lambda made would
    # keep logs forever.
    "logs": ("logs:CreateLogStream", "logs:PutLogEvents"),
}

PLATFORM_GRANTS: dict[str, frozenset[str]] = {
    "queue:fire_queue": frozenset({"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}),
    "logs": frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
}
"""The grants Lambda uses, not our code: the test suite cannot see these calls (locally,
xtimer_local/poller.py plays the SQS trigger, and its calls are checked to be among these)."""


# --- rendering ------------------------------------------------------------------------------

class ArnStyle(Protocol):
    def table(self, key: str, name: str) -> Any: ...
    def index(self, key: str, name: str, index: str) -> Any: ...
    def queue(self, key: str, name: str) -> Any: ...
    def log_group(self, function_name: str) -> Any: ...


class PolicyFileArns:
    """Plain ARN strings; region and account left open (a committed file cannot know them)."""

    def table(self, key: str, name: str) -> str:
        return f"arn:aws:dynamodb:*:*:table/{name}"

    def index(self, key: str, name: str, index: str) -> str:
        return f"arn:aws:dynamodb:*:*:table/{name}/index/{index}"

    def queue(self, key: str, name: str) -> str:
        return f"arn:aws:sqs:*:*:{name}"

    def log_group(self, function_name: str) -> str:
        return f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name}:*"


class CloudFormationArns:
    """The template's own resources' ARNs (which also orders the role after them)."""

    def __init__(self, logical_ids: dict[str, str]) -> None:
        self._ids = logical_ids  # resource key -> logical id

    def table(self, key: str, name: str) -> Any:
        return {"Fn::GetAtt": [self._ids[key], "Arn"]}

    def index(self, key: str, name: str, index: str) -> Any:
        return {"Fn::Sub": f"${{{self._ids[key]}.Arn}}/index/{index}"}

    def queue(self, key: str, name: str) -> Any:
        return {"Fn::GetAtt": [self._ids[key], "Arn"]}

    def log_group(self, function_name: str) -> Any:
        return {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                           f"log-group:/aws/lambda/{function_name}:*"}


def _sid(resource_key: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", resource_key))


def policy(stage: Stage, arns: ArnStyle | None = None) -> dict[str, Any]:
    """The policy document of the stage's functions' role: one statement per resource."""
    arns = arns or PolicyFileArns()
    names = stage.names()
    statements = []
    for resource_key, actions in GRANTS.items():
        kind, _, rest = resource_key.partition(":")
        if kind == "table":
            targets = [arns.table(rest, names[rest])]
        elif kind == "index":
            key, _, index = rest.partition("/")
            targets = [arns.index(key, names[key], index)]
        elif kind == "queue":
            targets = [arns.queue(rest, names[rest])]
        elif kind == "logs":
            targets = [arns.log_group(name) for name in stage.function_names().values()]
        else:  # pragma: no cover - a typo in GRANTS
            raise ValueError(f"unknown resource kind in {resource_key!r}")
        statements.append({"Sid": _sid(resource_key), "Effect": "Allow", "Action": sorted(actions),
                           "Resource": targets})
    return {"Version": "2012-10-17", "Statement": statements}


def check_grants() -> list[str]:
    """Problems with GRANTS itself: an index or table the schema does not have, a '*' action."""
    problems = []
    for resource_key, actions in GRANTS.items():
        kind, _, rest = resource_key.partition(":")
        if kind == "table" and rest not in resources.TABLES:
            problems.append(f"{resource_key}: no such table in chalicelib.storage.resources.TABLES")
        if kind == "index":
            key, _, index = rest.partition("/")
            model = resources.TABLES.get(key)
            defined = {i["IndexName"] for i in (resources.table_definition(model).get("GlobalSecondaryIndexes", [])
                                                 if model else [])}
            if index not in defined:
                problems.append(f"{resource_key}: table {key!r} has no index {index!r}")
        problems += [f"{resource_key}: wildcard action {a!r}" for a in actions if "*" in a or "?" in a]
    return problems


# --- what a call needs ------------------------------------------------------------------------

@dataclass(frozen=True)
class Permission:
    """One IAM check an AWS call makes: an action on a resource (an ARN without region/account
    filled in: `kind` and `name` say which table, index or queue)."""
    action: str
    kind: str  # "table", "index", "queue", or "unknown"
    name: str  # table name, "table/index", queue name
    operation: str  # the API operation that needs it, for messages

    def arn(self, region: str, account: str) -> str:
        if self.kind == "table":
            return f"arn:aws:dynamodb:{region}:{account}:table/{self.name}"
        if self.kind == "index":
            table, _, index = self.name.partition("/")
            return f"arn:aws:dynamodb:{region}:{account}:table/{table}/index/{index}"
        if self.kind == "queue":
            return f"arn:aws:sqs:{region}:{account}:{self.name}"
        return "*"

    def __str__(self) -> str:
        return f"{self.action} on {self.kind} {self.name} (by {self.operation})"


# API operations authorized as another IAM action (IAM has no separate batch actions for SQS).
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# TransactWriteItems / TransactGetItems are authorized item by item as these actions.
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _queue_name(params: dict[str, Any]) -> str | None:
    if params.get("QueueName"):
        return str(params["QueueName"])
    url = params.get("QueueUrl")
    return urlparse(str(url)).path.rstrip("/").rsplit("/", 1)[-1] if url else None


def permissions_for(service: str, operation: str, params: dict[str, Any]) -> list[Permission]:
    """The IAM checks an AWS API call makes (for DynamoDB and SQS; anything else is "unknown",
    which no policy of ours allows)."""
    if service == "dynamodb":
        if operation in {"TransactWriteItems", "TransactGetItems"}:
            found = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    found.append(Permission(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", "table", body["TableName"],
                                            operation))
            return found
        if operation in {"BatchWriteItem", "BatchGetItem"}:
            return [Permission(f"dynamodb:{operation}", "table", table, operation)
                    for table in params.get("RequestItems", {})]
        table = params.get("TableName")
        if table and params.get("IndexName"):
            return [Permission(f"dynamodb:{operation}", "index", f"{table}/{params['IndexName']}", operation)]
        if table:
            return [Permission(f"dynamodb:{operation}", "table", table, operation)]
    if service == "sqs":
        queue = _queue_name(params)
        if queue:
            return [Permission(f"sqs:{_SQS_ACTIONS.get(operation, operation)}", "queue", queue, operation)]
    return [Permission(f"{service}:{operation}", "unknown", "*", operation)]


# --- evaluating a policy ------------------------------------------------------------------------

def _matches(pattern: str, value: str, *, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)  # IAM's wildcards are * and ?; ARNs have no [ ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(document: dict[str, Any], action: str, arn: str) -> bool:
    """Whether an identity policy (Allow statements only, as ours are) allows `action` on `arn`."""
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            continue
        if any(_matches(a, action, ignore_case=True) for a in _as_list(statement.get("Action", []))) and \
                any(isinstance(r, str) and _matches(r, arn, ignore_case=False)
                    for r in _as_list(statement.get("Resource", []))):
            return True
    return False


def granted(document: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """Every (action, resource) pair a policy document grants."""
    for statement in _as_list(document.get("Statement", [])):
        for action in _as_list(statement.get("Action", [])):
            for resource in _as_list(statement.get("Resource", [])):
                yield action, resource

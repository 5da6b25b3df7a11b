"""The worker's SQS trigger: turn on partial batch failures, which `chalice deploy` cannot.

The worker answers `{"batchItemFailures": [...]}`; Lambda honours that only when the event
source mapping has `FunctionResponseTypes: [ReportBatchItemFailures]`. Without it a batch with
one failure is a success to Lambda, and the failed message is deleted, never retried.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
SETTLED = {"Enabled", "Disabled"}  # "Creating", "Updating", "Enabling", ... refuse updates


class TriggerError(RuntimeError):
    """The worker's SQS trigger is missing or could not be updated."""


@dataclass(frozen=True)
class TriggerUpdate:
    uuid: str
    changed: bool  # False: it already had ReportBatchItemFailures


def mappings(lambda_client: Any, queue_arn: str, function_name: str) -> list[dict[str, Any]]:
    """The event source mappings from the queue to the function (given by name; the mappings
    name it by ARN)."""
    found: list[dict[str, Any]] = []
    marker = None
    while True:
        page = lambda_client.list_event_source_mappings(
            EventSourceArn=queue_arn, **({"Marker": marker} if marker else {}))
        found += [m for m in page.get("EventSourceMappings", [])
                  if m.get("FunctionArn", "").split(":function:", 1)[-1].split(":")[0] == function_name]
        marker = page.get("NextMarker")
        if not marker:
            return found


def _wait_settled(lambda_client: Any, uuid: str, sleep: Callable[[float], None], timeout: float) -> dict[str, Any]:
    waited = 0.0
    while True:
        mapping = lambda_client.get_event_source_mapping(UUID=uuid)
        if mapping.get("State") in SETTLED:
            return mapping
        if waited >= timeout:
            raise TriggerError(f"event source mapping {uuid} is still {mapping.get('State')!r} after {timeout:.0f} s")
        sleep(2.0)
        waited += 2.0


def report_batch_item_failures(lambda_client: Any, function_name: str, queue_arn: str, *,
                               sleep: Callable[[float], None] = time.sleep,
                               timeout: float = 300.0) -> list[TriggerUpdate]:
    """Set ReportBatchItemFailures on every mapping from `queue_arn` to `function_name`; safe to
    run again. Waits for a mapping that `chalice deploy` just created or changed to settle."""
    mine = mappings(lambda_client, queue_arn, function_name)
    if not mine:
        raise TriggerError(f"{function_name} has no SQS trigger on {queue_arn}: deploy the app first "
                           "(`chalice deploy --stage <stage>`, or `make deploy`)")
    updates = []
    for mapping in mine:
        uuid = mapping["UUID"]
        if REPORT_BATCH_ITEM_FAILURES in (mapping.get("FunctionResponseTypes") or []):
            updates.append(TriggerUpdate(uuid, changed=False))
            continue
        _wait_settled(lambda_client, uuid, sleep, timeout)
        lambda_client.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=[REPORT_BATCH_ITEM_FAILURES])
        updates.append(TriggerUpdate(uuid, changed=True))
    return updates

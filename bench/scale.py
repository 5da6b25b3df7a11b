"""Scale of the minute path, and what a fire costs: AWS requests and DynamoDB units per fire,
with 0, 1,000, 10,000 (100,000) enabled but idle timers in the tables.

In-process on moto with a fake clock, the way the tests run the pipeline (tests/conftest.py,
tests/support/pipeline.py): each simulated minute the tick runs (app's Tick), then every visible fire
is handed to the worker Lambda's own handler (app.worker) in batches, as Lambda's SQS trigger
would, and the callbacks go to a receiver on 127.0.0.1. Fires are visible in the queue at once
(max_delay_seconds=0); the worker "waits" for each fire time on the fake clock.

Every AWS call is counted by service and operation with a botocore handler on every client
(PynamoDB's included). moto reports no consumed capacity, so DynamoDB units are computed:

- write (PutItem, UpdateItem, DeleteItem): ceil(max(item size before, after) / 1 KB) WRU, sizes
  read from moto's table; plus, per global secondary index whose entry the write changes,
  1 WRU to put or delete an entry, 2 when its key changes (delete + put), 1 when only a
  projected attribute changes; TransactWriteItems: 2 WRU per item (not on the minute path);
- GetItem: ceil(size / 4 KB) RRU, at least 1, halved when eventually consistent;
- Query/Scan: ceil(total size of the items returned / 4 KB), at least 1, halved when
  eventually consistent (a GSI query always is);
- BatchGetItem: as GetItem, per item returned; BatchWriteItem: ceil(item size / 1 KB) per item
  written (the tasks table, the only one written in batches, has no index).

Idle timers are written straight into the timers table with PynamoDB batch writes through
TimerModel (enabled, cron `0 0 1 1 *`, `next_fire`/`due_shard` set as enable sets them), not
through the API: creating 100,000 through the store's transactions is too slow on moto.

Scenarios:
- busy: the fixed active set (default 20 timers every minute `0 * * * * *` and 1 every second
  `* * * * * *`) for 2 minutes, delivered in batches of up to 10, for every idle size and
  both XTIMER_ENQUEUE_AHEAD_SECONDS values (600 deployed, 120 local);
- herd: `--herd` timers (300) all due at second 0 of every minute (`0 * * * * *`), delivered in
  batches of up to 10, at the first ahead, no idle timers: the busy path at its busiest, every
  fire sharing its second (buckets of 25) with 299 others. It is beside busy, not instead of it:
  busy is the shape where most fires are alone in their second;
- sparse: 10 timers every minute, each fire delivered in its own invocation (batch size 1),
  the deployed window, no idle timers.

The first tick of each scenario (and what enable queued) is a warm-up: its fires are purged and
nothing is counted until the next minute, so the counts are of the steady state.

Lambda duration is the measured wall time of the handler (the fake clock's waits take no
time) plus a modelled wait before the fire: with XTIMER_EARLY_SECONDS=1 a fire shows up 1 to 2
s before it is due, 1.5 s on average, and the worker holds it until then.

    python -m bench.scale [--sizes 0,1000,10000,100000] [--minutes 3] [--ahead 600,120] [--herd 300]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"
START = datetime(2026, 3, 1, 12, 0, 30, tzinfo=timezone.utc).timestamp()
IDLE_APP = "idle"
IDLE_BASE_ID = 10**15
MODELLED_WAIT_S = 1.5
WORKER_MEMORY_GB = 256 / 1024

PRICES = {  # us-east-1, on demand
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s_x86": 0.0000166667,
    "eventbridge_scheduler": 1.00 / 1e6,
}

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "XTIMER_STAGE": "bench",
    "XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true",
    "XTIMER_EARLY_SECONDS": "1",
    "XTIMER_AUTH": "off",
}


# --- DynamoDB item sizes ----------------------------------------------------------------------

def _value_size(value: dict[str, Any]) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: x}) for x in v)
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (DynamoDB JSON in)."""
    return sum(len(k.encode()) + _value_size(v) for k, v in (item or {}).items())


# --- the meter --------------------------------------------------------------------------------

class Meter:
    """botocore handlers: every AWS call while `phase` is set, by (phase, service, operation),
    with computed DynamoDB units."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: str | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[tuple[str, str, str]] = Counter()
            self.rru: Counter[tuple[str, str, str]] = Counter()
            self.wru: Counter[tuple[str, str, str]] = Counter()
            self.items_read: Counter[str] = Counter()
            self.queries: Counter[str] = Counter()
            self.scans = 0

    @staticmethod
    def _table(name: str) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(name)

    @classmethod
    def _stored(cls, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        item = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_item(table_name, key)
        return None if item is None else json.loads(json.dumps(item.to_json()["Attributes"]))

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        phase = self.phase
        if phase is None:
            return
        before = None
        if model.service_model.service_name == "dynamodb" and model.name in ("UpdateItem", "DeleteItem"):
            before = self._stored(params["TableName"], params["Key"])
        elif model.service_model.service_name == "dynamodb" and model.name == "PutItem":
            table = self._table(params["TableName"])
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            before = self._stored(params["TableName"], {n: params["Item"][n] for n in names})
        context["xtimer_bench"] = (phase, params, before)

    def after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        found = context.get("xtimer_bench")
        if not found:
            return
        phase, params, before = found
        service, op = model.service_model.service_name, model.name
        key = (phase, service, op)
        rru = wru = 0.0
        if service == "dynamodb":
            table = params.get("TableName", "")
            short = table.split("-")[-1] if table else ""
            key = (phase, service, f"{op} {short}".strip())
            if op == "GetItem":
                rru = math.ceil(max(item_size(parsed.get("Item")), 1) / 4096) * (
                    1 if params.get("ConsistentRead") else 0.5)
            elif op in ("Query", "Scan"):
                total = sum(item_size(i) for i in parsed.get("Items", []))
                rru = math.ceil(max(total, 1) / 4096) * (1 if params.get("ConsistentRead") else 0.5)
                where = f"{short}.{params.get('IndexName', 'table')}"
                with self._lock:
                    self.items_read[where] += len(parsed.get("Items", []))
                    self.queries[where] += 1
                    if op == "Scan":
                        self.scans += 1
            elif op in ("UpdateItem", "DeleteItem", "PutItem"):
                if op == "PutItem":
                    after = params["Item"] if "Error" not in parsed else before
                elif op == "DeleteItem":
                    after = None if "Error" not in parsed else before
                else:
                    after = self._stored(table, params["Key"])
                wru = math.ceil(max(item_size(before), item_size(after), 1) / 1024)
                wru += self._index_writes(table, before, after)
            elif op == "TransactWriteItems":
                wru = 2 * len(params.get("TransactItems", []))
            elif op == "BatchGetItem":  # units per item read, as for GetItem
                for name, request in params.get("RequestItems", {}).items():
                    short = name.split("-")[-1]
                    key = (phase, service, f"{op} {short}")
                    half = 1 if request.get("ConsistentRead") else 0.5
                    rru += sum(math.ceil(max(item_size(i), 1) / 4096) * half
                               for i in parsed.get("Responses", {}).get(name, []))
            elif op == "BatchWriteItem":  # units per item written, as for PutItem (the tasks table has no index)
                for name, requests in params.get("RequestItems", {}).items():
                    key = (phase, service, f"{op} {name.split('-')[-1]}")
                    left = len(parsed.get("UnprocessedItems", {}).get(name, []))
                    sizes = sorted(math.ceil(max(item_size(r["PutRequest"]["Item"]), 1) / 1024)
                                   for r in requests if "PutRequest" in r)
                    wru += sum(sizes[left:])
        with self._lock:
            self.calls[key] += 1
            self.rru[key] += rru
            self.wru[key] += wru

    def _index_writes(self, table_name: str, before: dict | None, after: dict | None) -> int:
        table = self._table(table_name)
        base_keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        units = 0
        for index in table.global_indexes:
            keys = [s["AttributeName"] for s in index.schema]
            projection = index.projection or {}
            every = projection.get("ProjectionType") == "ALL"
            attrs = set(keys) | set(base_keys) | set(projection.get("NonKeyAttributes", []))

            def entry(item: dict | None) -> dict | None:
                if item is None or any(k not in item for k in keys):
                    return None
                return dict(item) if every else {a: item[a] for a in attrs if a in item}

            old, new = entry(before), entry(after)
            if old == new:
                continue
            if old is None or new is None:
                units += 1
            elif any(old.get(k) != new.get(k) for k in keys):
                units += 2
            else:
                units += 1
        return units


METER = Meter()


# --- one scenario -----------------------------------------------------------------------------

@dataclass
class Scenario:
    label: str
    idle: int
    ahead: int
    minutely: int
    secondly: int
    batch: int
    minutes: int


@dataclass
class Outcome:
    scenario: Scenario
    fires: int = 0
    invocations: int = 0
    handler_wall_s: list[float] = field(default_factory=list)
    tick_wall_s: list[float] = field(default_factory=list)
    tick_enqueued: int = 0
    tick_timers: int = 0
    callbacks: int = 0
    duplicates: int = 0
    setup_s: float = 0.0
    run_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    rru: dict[str, float] = field(default_factory=dict)
    wru: dict[str, float] = field(default_factory=dict)
    items_read: dict[str, int] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    scans: int = 0


def write_idle_timers(n: int, url: str, now: float) -> None:
    from chalicelib.storage.models import DUE_SHARDS, NotifyAttribute, TimerModel
    from chalicelib.timers.schedule import parse_schedule
    from chalicelib.timers.store import fire_rate
    from chalicelib.timers.status import STATUS_ENABLED

    schedule = parse_schedule("0 0 1 1 *", "UTC")
    first = schedule.next_fire(int(now) + 1)
    rate = fire_rate(schedule, now)
    now_ms = int(now * 1000)
    with TimerModel.batch_write() as batch:
        for i in range(n):
            timer_id = IDLE_BASE_ID + i
            batch.save(TimerModel(
                id=timer_id, app=IDLE_APP, name=f"idle-{i}", cron="0 0 1 1 *", timezone="UTC",
                notify=NotifyAttribute(url=url, method="POST", header={}, body='{"k": 1}'),
                status=STATUS_ENABLED, created_at=now_ms, updated_at=now_ms, version=2, generation=1,
                next_fire=first, due_shard=timer_id % DUE_SHARDS, fire_rate=rate,
            ))


def build_services(clock: Any) -> tuple[Any, Any]:
    """A fresh service on the mocked AWS, on the fake clock, as the tests wire it; (services, queue)."""
    from chalicelib import wiring
    from chalicelib.delivery.notifier import Notifier
    from chalicelib.fires.queue import FireQueue
    from chalicelib.fires.tasks import TaskRecords
    from chalicelib.storage import aws, models, resources

    aws.forget_clients()
    models.reset_connections()
    models.bind()
    resources.provision(aws.dynamodb(), aws.sqs())
    queue = FireQueue(clock=clock, sleep=clock.sleep, max_delay_seconds=0)
    services = wiring.build(clock=clock, sleep=clock.sleep, queue=queue,
                            tasks=TaskRecords(lease_ms=15 * 60 * 1000),
                            notifier=Notifier(connect_timeout=1.0, read_timeout=2.0),
                            max_early_seconds=float("inf"))
    wiring.use(services)
    return services, queue


def create_active_timers(services: Any, scenario: Scenario, url: str) -> None:
    """The scenario's timers firing every minute (m0..) and every second (s0..), through the store."""
    from chalicelib.timers.schedule import parse_schedule
    from chalicelib.timers.spec import NotifyParams, TimerSpec
    from chalicelib.timers.status import STATUS_ENABLED

    for kind, count, cron in (("m", scenario.minutely, "0 * * * * *"), ("s", scenario.secondly, "* * * * * *")):
        for i in range(count):
            services.timers.create(TimerSpec(
                app="shop", name=f"{kind}{i}", schedule=parse_schedule(cron, "UTC"), status=STATUS_ENABLED,
                notify=NotifyParams(url=url, method="POST", header={"X-Token": "abc"}, body='{"k": 1}')))


def measure_minutes(scenario: Scenario, services: Any, clock: Any, deliver: Callable[[], int],
                    out: Outcome, progress: bool) -> None:
    """The counted minutes: each, the tick (metered as "tick"), then `deliver` hands every fire to the worker."""
    for minute in range(1, scenario.minutes + 1):
        clock.set(START + 60 * minute)
        METER.phase = "tick"
        t0 = time.perf_counter()
        report = services.tick.run()
        out.tick_wall_s.append(time.perf_counter() - t0)
        METER.phase = None
        out.tick_enqueued += report.enqueued
        out.tick_timers += report.timers
        if report.errors:
            raise RuntimeError(f"tick errors: {report.errors[:3]}")
        delivered = deliver()
        if progress:
            print(f"  {scenario.label}: minute {minute}/{scenario.minutes}: tick {report.timers} timers, "
                  f"{report.enqueued} fires in {out.tick_wall_s[-1]:.2f} s; {delivered} delivered",
                  file=sys.stderr, flush=True)


def count_callbacks(calls: list[Any], out: Outcome) -> None:
    """The callbacks of the counted minutes, and how many repeated an idempotency key."""
    out.callbacks = len(calls)
    keys = Counter(r.header("X-Xtimer-Idempotency-Key") for r in calls)
    out.duplicates = sum(c - 1 for c in keys.values())


def copy_meter(out: Outcome) -> None:
    """The meter's counts into the outcome, keyed "phase service operation"."""
    join = " ".join
    out.calls = {join(k): v for k, v in sorted(METER.calls.items())}
    out.rru = {join(k): v for k, v in sorted(METER.rru.items()) if v}
    out.wru = {join(k): v for k, v in sorted(METER.wru.items()) if v}
    out.items_read = dict(METER.items_read)
    out.queries = dict(METER.queries)
    out.scans = METER.scans


def run(scenario: Scenario, progress: bool = True) -> Outcome:
    """One scenario on a fresh moto: set up, warm up (one tick, not counted), measure, count."""
    from moto import mock_aws

    import app as chalice_app
    from chalicelib import wiring
    from chalicelib.storage import aws, models
    from chalicelib.timers import store as timers_module
    from chalicelib.timers.store import new_timer_id as draw_id
    from tests.support.fake_clock import FakeClock
    from tests.support.receiver import Receiver
    from xtimer_local import patches
    from xtimer_local.poller import lambda_event

    os.environ["XTIMER_ENQUEUE_AHEAD_SECONDS"] = str(scenario.ahead)
    out = Outcome(scenario)
    patches.apply_all()
    t_setup = time.perf_counter()
    with mock_aws(), Receiver() as rx:
        clock = FakeClock(START)
        services, queue = build_services(clock)
        try:
            services.signing.load("shop")  # the app's signing secret exists already in the steady state
            # The same timer ids in every scenario: how the active timers fall on the due index's
            # shards sets how full the tick's send batches are, and must not differ by chance.
            ids = random.Random(7)
            timers_module.new_timer_id = lambda now_ms, rng=ids: draw_id(now_ms, rng)
            create_active_timers(services, scenario, rx.url("/hook"))
            # After the active timers: moto copies every table for each transaction (creating and
            # enabling a timer is one), which is slow with 100,000 items in it.
            write_idle_timers(scenario.idle, rx.url("/idle"), START)
            sqs = aws.sqs()
            url = queue.url()
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            services.tick.run()  # warm-up: the first window
            sqs.purge_queue(QueueUrl=url)
            received_before = len(rx.received("/hook"))
            out.setup_s = time.perf_counter() - t_setup
            METER.reset()
            t_run = time.perf_counter()
            measure_minutes(scenario, services, clock, lambda: _deliver(
                sqs, url, arn, chalice_app.worker, lambda_event, scenario.batch, out), out, progress)
            out.run_s = time.perf_counter() - t_run
            count_callbacks(rx.received("/hook")[received_before:], out)
        finally:
            timers_module.new_timer_id = draw_id
            METER.phase = None
            wiring.use(None)
            aws.forget_clients()
            models.reset_connections()
    copy_meter(out)
    return out


def _deliver(sqs: Any, url: str, arn: str, handler: Any, lambda_event: Any, batch: int, out: Outcome) -> int:
    """Lambda's SQS trigger: receive a batch, invoke the handler, delete what it did not fail.
    Empty receives are not counted (they are the idle cost of Lambda's pollers, not of fires)."""
    from chalicelib.fires.fire import parse_message
    delivered = 0
    while True:
        METER.phase = None
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch, WaitTimeSeconds=0,
                                       AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return delivered
        METER.calls[("trigger", "sqs", "ReceiveMessage")] += 1
        METER.phase = "worker"
        t0 = time.perf_counter()
        result = handler(lambda_event(messages, arn), None) or {}
        out.handler_wall_s.append(time.perf_counter() - t0)
        out.invocations += 1
        fires = sum(len(parse_message(m["Body"])) for m in messages)  # a bucket message holds many
        out.fires += fires
        delivered += fires
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if failed:
            print(f"  warning: {len(failed)} messages reported failed", file=sys.stderr)
        METER.phase = "trigger"
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        METER.phase = None


# --- figures ----------------------------------------------------------------------------------

def per_fire(out: Outcome) -> dict[str, Any]:
    fires = max(out.fires, 1)
    calls = {k: v / fires for k, v in out.calls.items()}
    sqs = sum(v for k, v in out.calls.items() if k.split(" ")[1] == "sqs")
    dynamo = sum(v for k, v in out.calls.items() if k.split(" ")[1] == "dynamodb")
    rru = sum(out.rru.values())
    wru = sum(out.wru.values())
    mean_wall = statistics.fmean(out.handler_wall_s) if out.handler_wall_s else 0.0
    invocations = out.invocations / fires
    gb_s = invocations * WORKER_MEMORY_GB * (mean_wall + MODELLED_WAIT_S)
    cost = {
        "dynamodb_wru": wru / fires * PRICES["dynamodb_wru"] * 1e6,
        "dynamodb_rru": rru / fires * PRICES["dynamodb_rru"] * 1e6,
        "sqs": sqs / fires * PRICES["sqs_request"] * 1e6,
        "lambda_requests": invocations * PRICES["lambda_request"] * 1e6,
        "lambda_duration": gb_s * PRICES["lambda_gb_s_x86"] * 1e6,
    }
    cost["total"] = sum(cost.values())
    return {
        "fires": out.fires,
        "calls_per_fire": calls,
        "dynamodb_requests": dynamo / fires,
        "sqs_requests": sqs / fires,
        "rru": rru / fires,
        "wru": wru / fires,
        "invocations": invocations,
        "fires_per_invocation": out.fires / max(out.invocations, 1),
        "handler_wall_ms_mean": mean_wall * 1000,
        "handler_wall_ms_p50": statistics.median(out.handler_wall_s) * 1000 if out.handler_wall_s else 0.0,
        "gb_s": gb_s,
        "tick_items_read_per_fire": sum(out.items_read.values()) / fires,
        "tick_items_read_per_tick": sum(out.items_read.values()) / max(out.scenario.minutes, 1),
        "tick_queries_per_tick": sum(out.queries.values()) / max(out.scenario.minutes, 1),
        "tick_wall_ms_mean": statistics.fmean(out.tick_wall_s) * 1000 if out.tick_wall_s else 0.0,
        "usd_per_million_fires": cost,
    }


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Scale of the minute path: AWS requests per fire ({doc['started']})", "",
             f"Machine: {doc['machine']['nproc']} cores, {doc['machine']['cpu']}; moto in-process, fake clock. "
             f"Command: `{doc['command']}`.", "",
             "| scenario | idle timers | ahead s | fires | DynamoDB req/fire | RRU/fire | WRU/fire | SQS req/fire "
             "| invocations/fire | tick items read/tick | tick queries/tick | handler ms/invocation | tick ms | $/M fires |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        f = r["per_fire"]
        s = r["scenario"]
        lines.append(
            f"| {s['label']} | {s['idle']:,} | {s['ahead']} | {f['fires']} | {f['dynamodb_requests']:.3f} | {f['rru']:.3f} "
            f"| {f['wru']:.3f} | {f['sqs_requests']:.3f} | {f['invocations']:.3f} | {f['tick_items_read_per_tick']:.0f} "
            f"| {f['tick_queries_per_tick']:.0f} | {f['handler_wall_ms_mean']:.0f} | {f['tick_wall_ms_mean']:.0f} "
            f"| {f['usd_per_million_fires']['total']:.2f} |")
    lines += ["", "Calls per fire by operation (phase service operation [table]):", ""]
    header = [r["scenario"]["label"] + f" N={r['scenario']['idle']:,} ahead={r['scenario']['ahead']}" for r in doc["runs"]]
    ops = sorted({k for r in doc["runs"] for k in r["per_fire"]["calls_per_fire"]})
    lines.append("| call | " + " | ".join(header) + " |")
    lines.append("|---|" + "---|" * len(header))
    for op in ops:
        lines.append(f"| {op} | " + " | ".join(f"{r['per_fire']['calls_per_fire'].get(op, 0):.3f}" for r in doc["runs"]) + " |")
    lines += ["", "Cost per million fires (us-east-1 on demand, worker 256 MB x86, modelled wait 1.5 s per invocation):", "",
              "| | " + " | ".join(doc["cost"]) + " |", "|---|" + "---|" * len(doc["cost"])]
    parts = list(next(iter(doc["cost"].values())).keys())
    for part in parts:
        lines.append(f"| {part} | " + " | ".join(f"{c[part]:.2f}" for c in doc["cost"].values()) + " |")
    lines += ["", doc["verdict"], ""]
    return "\n".join(lines)


def steady_minutes(asked: int, ahead: int) -> int:
    """Minutes to count so that every timer is refilled at least once: the tick looks a timer up
    only when its cursor comes within two minutes, and then fills `ahead` seconds."""
    return max(asked, ahead // 60 + 2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1000,10000",
                        help="idle timer counts (default 0,1000,10000); empty: the sparse scenario only")
    parser.add_argument("--ahead", default="600,120", help="XTIMER_ENQUEUE_AHEAD_SECONDS values (default 600,120)")
    parser.add_argument("--minutes", type=int, default=2, help="simulated minutes counted per scenario")
    parser.add_argument("--minutely", type=int, default=20, help="active timers firing every minute")
    parser.add_argument("--secondly", type=int, default=1, help="active timers firing every second")
    parser.add_argument("--herd", type=int, default=300,
                        help="timers of the herd scenario, all due at second 0 (0: no herd scenario)")
    parser.add_argument("--out", default=str(RESULTS))
    return parser.parse_args(argv)


def prepare() -> None:
    """The environment of moto and the service (no real AWS), quiet logs, and the meter on every client."""
    for name, value in ENV.items():
        os.environ[name] = value
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "XTIMER_RESOURCE_PREFIX", "AWS_LAMBDA_FUNCTION_NAME"):
        os.environ.pop(name, None)
    import logging
    logging.disable(logging.INFO)
    import botocore.handlers
    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", METER.before))
    botocore.handlers.BUILTIN_HANDLERS.append(("after-call", METER.after))


def scenarios(args: argparse.Namespace, sizes: list[int], aheads: list[int]) -> list[Scenario]:
    """busy for every ahead and idle size, the herd and then sparse at the first ahead."""
    busy = [Scenario("busy", n, ahead, args.minutely, args.secondly, 10, steady_minutes(args.minutes, ahead))
            for ahead in aheads for n in sizes]
    herd = [Scenario("herd", 0, aheads[0], args.herd, 0, 10, steady_minutes(args.minutes, aheads[0]))
            ] if args.herd else []
    return busy + herd + [Scenario("sparse", 0, aheads[0], 10, 0, 1, steady_minutes(args.minutes, aheads[0]))]


def run_scenario(scenario: Scenario) -> dict[str, Any]:
    """One scenario's run and its figures, as they go into the JSON's `runs`."""
    print(f"{scenario.label}: {scenario.idle:,} idle timers, ahead {scenario.ahead} s, "
          f"{scenario.minutely} minutely + {scenario.secondly} secondly, batch {scenario.batch}",
          file=sys.stderr, flush=True)
    out = run(scenario)
    if out.callbacks != out.fires or out.duplicates:
        print(f"  warning: {out.fires} fires, {out.callbacks} callbacks, {out.duplicates} duplicates",
              file=sys.stderr)
    return {
        "scenario": out.scenario.__dict__,
        "per_fire": per_fire(out),
        "totals": {"fires": out.fires, "invocations": out.invocations, "callbacks": out.callbacks,
                   "duplicates": out.duplicates, "calls": out.calls, "rru": out.rru, "wru": out.wru,
                   "tick_items_read": out.items_read, "tick_queries": out.queries, "scans": out.scans,
                   "tick_enqueued": out.tick_enqueued, "tick_timers": out.tick_timers},
        "wall_s": {"setup": out.setup_s, "run": out.run_s, "ticks": out.tick_wall_s},
    }


def cost_columns(runs: list[dict[str, Any]], aheads: list[int]) -> dict[str, dict[str, float]]:
    """$ per million fires: sparse, the busy run with the most idle timers at the first ahead, the
    herd, and EventBridge Scheduler."""
    busy = [r for r in runs if r["scenario"]["label"] == "busy"]
    sparse = next(r for r in runs if r["scenario"]["label"] == "sparse")
    herd = next((r for r in runs if r["scenario"]["label"] == "herd"), None)
    deployed_busy = max((r for r in busy if r["scenario"]["ahead"] == aheads[0]), key=lambda r: r["scenario"]["idle"],
                        default=None)  # none with --sizes "" (the sparse scenario only)
    return {
        f"sparse (ahead {aheads[0]})": sparse["per_fire"]["usd_per_million_fires"],
        **({f"busy (ahead {aheads[0]}, {deployed_busy['scenario']['idle']:,} idle)":
            deployed_busy["per_fire"]["usd_per_million_fires"]} if deployed_busy else {}),
        **({f"herd ({herd['scenario']['minutely']} due at second 0, ahead {herd['scenario']['ahead']})":
            herd["per_fire"]["usd_per_million_fires"]} if herd else {}),
        "EventBridge Scheduler": {k: 0.0 for k in sparse["per_fire"]["usd_per_million_fires"]} | {"total": 1.00},
    }


def growth(runs: list[dict[str, Any]], aheads: list[int]) -> list[str]:
    """What changes with the number of idle timers among the busy runs of each ahead (nothing, if flat)."""
    busy = [r for r in runs if r["scenario"]["label"] == "busy"]
    found = []
    for metric in ("tick_items_read_per_tick", "tick_queries_per_tick", "wru"):
        for ahead in dict.fromkeys(aheads):  # each value once, as given
            values = [r["per_fire"][metric] for r in busy if r["scenario"]["ahead"] == ahead]
            if values and max(values) - min(values) > 1e-9:
                found.append(f"{metric} at ahead {ahead}: {min(values):.4f} to {max(values):.4f}")
    # Every operation per fire but the signing-secret reads (a cache on real time: how many
    # a run misses depends on how long it takes, not on the tables).
    for ahead in aheads:
        same = [r for r in busy if r["scenario"]["ahead"] == ahead]
        for op in sorted({k for r in same for k in r["per_fire"]["calls_per_fire"]}):
            if op.endswith(" apps"):
                continue
            values = [r["per_fire"]["calls_per_fire"].get(op, 0.0) for r in same]
            if max(values) - min(values) > 1e-9:
                found.append(f"{op} at ahead {ahead}: {min(values):.4f} to {max(values):.4f} per fire")
    return found


def verdict(runs: list[dict[str, Any]], sizes: list[int], aheads: list[int]) -> str:
    """The report's conclusion: is the work per fire flat with idle timers, and were there Scans?"""
    changes = growth(runs, aheads)
    scans = sum(r["totals"]["scans"] for r in runs)
    text = ("Work per fire is flat: requests, units and items read per fire are the same with "
            f"{', '.join(f'{n:,}' for n in sizes)} idle timers (every operation but the cached signing-secret "
            "reads, which follow wall time)" if not changes else
            "Work per fire changes with idle timers: " + "; ".join(changes))
    if not sizes:
        text = "No busy scenario (--sizes empty): the sparse scenario only"
    return text + f"; {scans} Scan calls on the measured path."


MODEL = {
    "writes": "ceil(max(size before, after)/1 KB) WRU; +1 WRU per GSI entry put, deleted or updated, +2 when its key changes",
    "reads": "GetItem ceil(size/4 KB) RRU (min 1), half if eventually consistent; Query: total size of items returned",
    "lambda_duration": f"handler wall time (fake waits take none) + {MODELLED_WAIT_S} s modelled wait, {int(WORKER_MEMORY_GB * 1024)} MB",
    "not_counted": "empty ReceiveMessage of Lambda's pollers, the tick's own Lambda invocation (fixed per minute)",
    "prices": PRICES,
}


def write(doc: dict[str, Any], out_dir: Path) -> None:
    """scale-<started>.json and scale.md into `out_dir`; the Markdown on stdout too."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"scale-{doc['started']}.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    text = markdown(doc)
    (out_dir / "scale.md").write_text(text)
    print(text)
    print(f"wrote {json_path} and {out_dir / 'scale.md'} in {doc['elapsed_s']:.0f} s", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Every scenario in turn, then the cost columns, the verdict, the JSON and the Markdown."""
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    aheads = [int(s) for s in args.ahead.split(",") if s.strip()]
    prepare()
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    planned = scenarios(args, sizes, aheads)
    t0 = time.perf_counter()
    runs = [run_scenario(scenario) for scenario in planned]
    cost = cost_columns(runs, aheads)
    doc = {
        "started": started,
        "command": "python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "model": MODEL,
        "runs": runs,
        "cost": cost,
        "verdict": verdict(runs, sizes, aheads),
        "elapsed_s": time.perf_counter() - t0,
    }
    write(doc, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

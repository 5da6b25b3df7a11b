"""moto's CPU per request of the fire path, by request type, in the local stack's moto child.

    python -m bench.moto_cost [--fires 500] [--stock-dynamodb] [--profile DIR] [--json FILE]

It starts `python -m xtimer_local.moto_server` (in memory) as the local stack does, writes
`--fires` timers, then replays the worker's DynamoDB requests with the service's own code
(chalicelib.timers.reads, chalicelib.fires.tasks), one at a time from one thread, and reads the
moto process's CPU time (/proc/PID/stat, in clock ticks of 10 ms; a phase is hundreds of
requests) before and after each phase:

- `batch_get_25`: BatchGetItem of a bucket's 25 timers (read_timers);
- `get_item`: GetItem of one timer (TimerModel.get, strongly consistent);
- `claim_first`: a fire's first claim (TaskRecords.claim; the record does not exist yet);
- `claim_bucket_first`: a bucket's fire's first claim, as the worker makes it (`first_attempt`:
  a conditional PutItem, the record does not exist yet);
- `claim_bucket_duplicate`: that claim again (the PutItem's condition fails, then the
  UpdateItem's, then one GetItem to see why: a bucket delivered twice);
- `record_batch_25`: 25 outcomes in one BatchWriteItem (TaskRecords.record_many);
- `claim_duplicate`: the same claim again (its condition fails; then one GetItem to see why);
- `claim_first_retry_fire`, `record_conditional`: other fires' first claims, then their
  outcomes as conditional UpdateItems (TaskRecords.record: a failed attempt, NOT_RUN);
- `claim_retry`: the claim of those fires, now waiting for their retry (the record exists).

CPU is per operation and includes werkzeug's HTTP handling in moto's process; the client's CPU
(in this process) is not counted. `--stock-dynamodb` starts the child without the DynamoDB
speed-ups (xtimer_local/moto_dynamodb_speedups.py), for the before/after figures. `--profile
DIR` also runs py-spy on the child for each phase (py-spy's raw collapsed stacks, one file per
phase). The machine may be shared: CPU time is less noisy than wall time, but not free of it
(caches, frequency, other work), so compare runs side by side, alternating.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.stack import free_port, process_cpu_seconds
from xtimer_local.moto_child import MotoChild

APP = "mc"
BASE_ID = 8 * 10**14


def cpu_ns(pid: int) -> int:
    """The CPU time `pid` has used, in ns, threads that ended included (/proc/PID/stat: werkzeug
    serves each request on a thread of its own, whose own counters are gone once it ends)."""
    seconds = process_cpu_seconds(pid)
    return int((seconds or 0.0) * 1e9)


@contextmanager
def profiled(pid: int, where: Path | None, name: str) -> Iterator[None]:
    """py-spy record on `pid` while the block runs, if `where` is given."""
    if where is None:
        yield
        return
    where.mkdir(parents=True, exist_ok=True)
    binary = _py_spy()
    spy = subprocess.Popen([binary, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                            "--output", str(where / f"{name}.txt"), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if binary else None
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)


def _py_spy() -> str | None:
    """py-spy's binary (requirements-dev.txt), next to this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def write_timers(n: int) -> list[int]:
    from chalicelib.storage.models import DUE_SHARDS, NotifyAttribute, TimerModel
    from chalicelib.timers.status import STATUS_ENABLED

    now_ms = int(time.time() * 1000)
    ids = [BASE_ID + i for i in range(n)]
    with TimerModel.batch_write() as batch:
        for i, timer_id in enumerate(ids):
            batch.save(TimerModel(
                id=timer_id, app=APP, name=f"mc-{i}", cron=f"{i % 60} * * * * *", timezone="UTC",
                notify=NotifyAttribute(url="http://127.0.0.1:9/cb", method="POST", header={}, body='{"k": 1}'),
                status=STATUS_ENABLED, created_at=now_ms, updated_at=now_ms, version=2, generation=1,
                next_fire=now_ms + 60_000, due_shard=timer_id % DUE_SHARDS, fire_rate=1.0 / 60,
            ))
    return ids


def measure(pid: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from chalicelib.fires.fire import Fire
    from chalicelib.fires.outcome import Outcome
    from chalicelib.fires.tasks import NOT_RUN, SUCCEEDED, Result, TaskRecords
    from chalicelib.storage.models import TimerModel
    from chalicelib.timers.reads import read_timers

    ids = write_timers(args.fires)
    tasks = TaskRecords()
    fire_ms = (int(time.time()) - 5) * 1000
    fires = [Fire(timer_id=i, app=APP, fire_ms=fire_ms, generation=1) for i in ids]
    retry_fires = [Fire(timer_id=i, app=APP, fire_ms=fire_ms - 1000, generation=1) for i in ids]
    bucket_fires = [Fire(timer_id=i, app=APP, fire_ms=fire_ms - 2000, generation=1) for i in ids]
    now = lambda: int(time.time() * 1000)  # noqa: E731
    ok = Outcome(ok=True, http_status=200, response_body="ok", duration_ms=3, error=None, retry_after=None)
    failed = Outcome(ok=False, http_status=500, response_body="no", duration_ms=3, error="HTTP 500", retry_after=None,
                     retryable=True)
    claims: dict[Fire, Any] = {}
    groups = [ids[k:k + 25] for k in range(0, len(ids), 25)]

    def claim_all(which: list[Fire], first_attempt: bool = False) -> Callable[[], int]:
        def run() -> int:
            for fire in which:
                claims[fire] = tasks.claim(fire, now(), first_attempt=first_attempt)
            return len(which)
        return run

    def record_batches() -> int:
        results = [Result(f, claims[f], ok, SUCCEEDED, now()) for f in fires]
        for k in range(0, len(results), 25):
            tasks.record_many(results[k:k + 25], now)
        return len(groups)

    def record_conditional() -> int:
        for fire in retry_fires:
            tasks.record(fire, claims[fire].attempt, failed, status=NOT_RUN, now_ms=now())
        return len(retry_fires)

    def claim_duplicates() -> int:
        for fire in fires:
            tasks.claim(fire, now())  # done already: condition fails, then one GetItem to see why
        return len(fires)

    phases: list[tuple[str, Callable[[], int], int]] = [
        ("batch_get_25", lambda: sum(1 for g in groups if read_timers(g) is not None), 1),
        ("get_item", lambda: sum(1 for i in ids if TimerModel.get(i, consistent_read=True)), 1),
        ("claim_first", claim_all(fires), 1),
        ("record_batch_25", record_batches, 1),
        ("claim_duplicate", claim_duplicates, 2),  # the failed UpdateItem and the GetItem after it
        ("claim_first_retry_fire", claim_all(retry_fires), 1),
        ("record_conditional", record_conditional, 1),
        ("claim_retry", claim_all(retry_fires), 1),
        ("claim_bucket_first", claim_all(bucket_fires, first_attempt=True), 1),
        ("claim_bucket_duplicate", claim_all(bucket_fires, first_attempt=True), 3),
    ]
    out: dict[str, dict[str, float]] = {}
    for name, run, requests_per_op in phases:
        with profiled(pid, args.profile, name):
            before, wall = cpu_ns(pid), time.perf_counter()
            ops = run()
            cpu, wall = cpu_ns(pid) - before, time.perf_counter() - wall
        out[name] = {"ops": ops, "requests": ops * requests_per_op, "moto_cpu_ms_per_op": cpu / 1e6 / ops,
                     "wall_ms_per_op": wall * 1000 / ops}
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.moto_cost", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--fires", type=int, default=500, help="timers, and fires claimed per phase")
    p.add_argument("--stock-dynamodb", action="store_true",
                   help="the moto child without its DynamoDB speed-ups (the before figures)")
    p.add_argument("--profile", type=Path, default=None, help="py-spy raw profiles per phase in this directory")
    p.add_argument("--json", type=Path, default=None, help="write the result here (else print it)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    port = free_port()
    child = MotoChild("127.0.0.1", port, stderr=subprocess.DEVNULL, dynamodb_speedups=not args.stock_dynamodb)
    child.start(60)
    try:
        from xtimer_local.stack import local_environment

        os.environ.update(local_environment(child.endpoint))
        os.environ.update({"XTIMER_STAGE": "bench-mc", "XTIMER_AUTH": "off"})
        from chalicelib.storage import aws, models, resources

        models.bind()
        resources.provision(aws.dynamodb(), aws.sqs())
        phases = measure(child.pid, args)
    finally:
        child.stop()
    result = {"moto": "stock DynamoDB" if args.stock_dynamodb else "with the DynamoDB speed-ups",
              "fires": args.fires, "load_average": os.getloadavg()[0], "phases": phases}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

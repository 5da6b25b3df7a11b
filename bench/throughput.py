"""Throughput on this machine: fires one tick enqueues, and callbacks one worker process delivers.

    python -m bench.throughput [--tick-timers 2000] [--worker-fires 1000] [--json FILE]

Both run the service's own code in this process (chalicelib's Tick, app.worker behind the local
stack's pollers, xtimer_local.poller) against the local stack's moto in a process of its own
(`python -m xtimer_local.moto_server`, with its speed-ups), as `make run` does, so moto's CPU is
on the other core and the figures are those of the local stack, not of AWS (where DynamoDB's and
SQS's work is done on their machines and the tick and worker only wait for the network).

1. worker: N enabled timers (`S * * * * *`, S = i % 60) are written straight into the timers
   table; `--warmup` fires already due are handed over first and not counted (each of the
   worker's threads builds its AWS clients on first use), then M more (fire times a second or
   so in the past, one idempotency key each). The local stack's pollers (4) hand them to
   app.worker, `--concurrency` batches at once (8: nothing waits, so more only adds threads),
   which claims each, calls a receiver on 127.0.0.1 and records the outcome. Callbacks per
   second = M / (last arrival - first send).
2. tick: then one Tick.run() over the same N timers, all due (real clock,
   XTIMER_ENQUEUE_AHEAD_SECONDS as given, 120 by default as locally), is timed. Fires per minute
   one tick can enqueue = fires enqueued / its wall time x 55 s (the deployed tick's timeout).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.stack import free_port, process_cpu_seconds
from xtimer_local.moto_child import MotoChild, MotoDidNotStart

TICK_BUDGET_S = 55  # the deployed tick's Lambda timeout (.chalice/config.json)
APP = "tp"
BASE_ID = 7 * 10**14


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tick-timers", type=int, default=2000, help="timers due in the timed tick")
    p.add_argument("--ahead", type=int, default=120, help="XTIMER_ENQUEUE_AHEAD_SECONDS for the tick")
    p.add_argument("--worker-fires", type=int, default=1000, help="fires already due handed to the worker")
    p.add_argument("--pollers", type=int, default=4, help="worker pollers (the local stack's default)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="batches handled at once (the local stack's default is 64; fires already due do not wait, "
                        "and each of the worker's threads builds its AWS clients on first use: 64 would spend the "
                        "run's first minute building 256 threads' clients)")
    p.add_argument("--warmup", type=int, default=120,
                   help="fires handed to the worker first, not counted (its threads build their AWS clients)")
    p.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the worker's callbacks, at most")
    p.add_argument("--json", type=Path, default=None, help="write the result here (else print it)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bars")
    args = p.parse_args(argv)
    if args.tick_timers < 1 or args.worker_fires < 1 or args.warmup < 0:
        p.error("--tick-timers and --worker-fires must be positive")
    return args


def per_budget(count: int, seconds: float, budget: float = TICK_BUDGET_S) -> float | None:
    """How many a run doing `count` in `seconds` does in `budget` seconds."""
    return None if seconds <= 0 else count / seconds * budget


class MotoProcess:
    """`python -m xtimer_local.moto_server` on a free port, started as the local stack starts it
    (xtimer_local.moto_child), in memory only; it ends when its standard input closes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._child = MotoChild("127.0.0.1", self.port, stderr=subprocess.DEVNULL)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._child.process

    def start(self, timeout: float = 60.0) -> MotoProcess:
        try:
            self._child.start(timeout)
        except MotoDidNotStart as exc:
            raise RuntimeError(f"moto did not start on port {self.port} within {timeout} s") from exc
        return self

    def stop(self) -> None:
        self._child.stop()


def write_timers(n: int, url_of: Any, now: float) -> list[int]:
    """n enabled timers `S * * * * *` (S = i % 60), due at their next fire, straight into the table."""
    from chalicelib.storage.models import DUE_SHARDS, NotifyAttribute, TimerModel
    from chalicelib.timers.schedule import parse_schedule
    from chalicelib.timers.store import fire_rate
    from chalicelib.timers.status import STATUS_ENABLED

    now_ms = int(now * 1000)
    ids = []
    with TimerModel.batch_write() as batch:
        for i in range(n):
            cron = f"{i % 60} * * * * *"
            schedule = parse_schedule(cron, "UTC")
            timer_id = BASE_ID + i
            ids.append(timer_id)
            batch.save(TimerModel(
                id=timer_id, app=APP, name=f"tp-{i}", cron=cron, timezone="UTC",
                notify=NotifyAttribute(url=url_of(i), method="POST", header={}, body='{"k": 1}'),
                status=STATUS_ENABLED, created_at=now_ms, updated_at=now_ms, version=2, generation=1,
                next_fire=schedule.next_fire(int(now) + 1), due_shard=timer_id % DUE_SHARDS,
                fire_rate=fire_rate(schedule, now),
            ))
    return ids


def configure(endpoint: str, args: argparse.Namespace) -> None:
    """The local stack's environment, against `endpoint`, before the service's code is imported."""
    from xtimer_local.stack import local_environment

    os.environ.update(local_environment(endpoint))
    os.environ.update({"XTIMER_STAGE": "bench-tp", "XTIMER_ENQUEUE_AHEAD_SECONDS": str(args.ahead),
                       "XTIMER_AUTH": "off", "XTIMER_MAX_FIRES_PER_MINUTE_PER_APP": "100000000"})
    logging.disable(logging.WARNING)  # the tick's and worker's INFO lines, per fire


CpuMark = tuple[float | None, float]  # (moto's CPU seconds, this process's)


def cpu_mark(moto: MotoProcess) -> CpuMark:
    return process_cpu_seconds(moto.process.pid), time.process_time()  # type: ignore[union-attr]


def cpu_since(moto: MotoProcess, mark: CpuMark, own: str) -> dict[str, float]:
    """CPU seconds since `mark`: this process's (named `own`) and moto's."""
    moto_cpu0, own_cpu0 = mark
    return {own: time.process_time() - own_cpu0,
            "moto": (process_cpu_seconds(moto.process.pid) or 0) - (moto_cpu0 or 0)}  # type: ignore[union-attr]


def delivered(receiver: Any, wanted: set[str]) -> int:
    """How many of the `wanted` idempotency keys have called back."""
    return len(wanted & {r.header("X-Xtimer-Idempotency-Key") for r in receiver.received()})


def feed(args: argparse.Namespace, receiver: Any, batch: list[Any], wanted: set[str], what: str) -> float:
    """Sends `batch` to the fire queue and waits (--drain at most) for its callbacks; returns when it sent."""
    from tqdm import tqdm

    from chalicelib.fires.queue import FireQueue

    t0 = time.time()
    FireQueue().send(batch, threads=8)
    with tqdm(total=len(wanted), desc=what, unit="cb", disable=not args.progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        got = 0
        while got < len(wanted) and time.time() - t0 < args.drain:
            time.sleep(0.25)
            now_got = delivered(receiver, wanted)
            bar.update(now_got - got)
            got = now_got
    return t0


def start_pollers(args: argparse.Namespace, stop: threading.Event) -> tuple[list[Any], Any]:
    """The local stack's pollers, handing the fire queue's batches to app.worker; (pollers, invocations)."""
    import app as chalice_app
    from chalicelib import config
    from chalicelib.storage import aws
    from xtimer_local.poller import Invocations, Poller

    sqs = aws.sqs()
    url = sqs.get_queue_url(QueueName=config.fire_queue())["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invocations = Invocations(args.concurrency)
    pollers = [Poller(sqs, url, arn, chalice_app.worker, stop, name=f"worker-{n}", invocations=invocations)
               for n in range(args.pollers)]
    for poller in pollers:
        poller.start()
    return pollers, invocations


def measure_worker(args: argparse.Namespace, ids: list[int], receiver: Any, moto: MotoProcess) -> dict[str, Any]:
    """Step 1: the worker fed fires already due, --warmup of them first and not counted."""
    from chalicelib.fires.fire import Fire

    stop = threading.Event()
    pollers, invocations = start_pollers(args, stop)
    base = int(time.time()) - 1
    fires = [Fire(timer_id=ids[k % len(ids)], app=APP, fire_ms=(base - k // len(ids)) * 1000, generation=1)
             for k in range(args.warmup + args.worker_fires)]
    warm_keys = {f.idempotency_key for f in fires[:args.warmup]}
    keys = {f.idempotency_key for f in fires[args.warmup:]}
    warm_started = time.time()
    if args.warmup:
        feed(args, receiver, fires[:args.warmup], warm_keys, "worker warm-up")
    warm_s = time.time() - warm_started
    mark = cpu_mark(moto)
    started = feed(args, receiver, fires[args.warmup:], keys, "worker callbacks")
    worker_cpu = cpu_since(moto, mark, "bench (worker)")
    stop.set()
    for poller in pollers:
        poller.join(5)
    invocations.shutdown(wait=False)
    calls = [r for r in receiver.received() if r.header("X-Xtimer-Idempotency-Key") in keys]
    last = max((r.arrived_at for r in calls), default=started)
    distinct = {r.header("X-Xtimer-Idempotency-Key") for r in calls}
    return {
        "fires": args.worker_fires, "callbacks": len(calls), "distinct_fires": len(distinct),
        "warmup_fires": args.warmup, "warmup_s": round(warm_s, 1),
        "pollers": args.pollers, "concurrency": args.concurrency,
        "seconds": round(last - started, 2),
        "callbacks_per_s": round(len(distinct) / (last - started), 1) if last > started else None,
        "cpu_s": {k: round(v, 1) for k, v in worker_cpu.items()},
        "complete": len(distinct) == args.worker_fires,
    }


def measure_tick(args: argparse.Namespace, moto: MotoProcess, written_s: float) -> dict[str, Any]:
    """Step 2: one tick over every timer (its fires stay in the queue: the pollers have stopped)."""
    from chalicelib.scheduling.tick import Tick

    mark = cpu_mark(moto)
    t0 = time.perf_counter()
    report = Tick().run()
    tick_s = time.perf_counter() - t0
    tick_cpu = cpu_since(moto, mark, "bench (tick)")
    if report.errors:
        raise RuntimeError(f"the tick failed: {report.errors[:3]}")
    return {
        "timers": report.timers, "enqueued": report.enqueued, "wall_s": round(tick_s, 2),
        "ahead_s": args.ahead, "timers_written_in_s": round(written_s, 1),
        "timers_per_s": round(report.timers / tick_s, 1), "fires_per_s": round(report.enqueued / tick_s, 1),
        "fires_per_tick_budget": round(per_budget(report.enqueued, tick_s) or 0),
        "timers_per_tick_budget": round(per_budget(report.timers, tick_s) or 0),
        "cpu_s": {k: round(v, 1) for k, v in tick_cpu.items()},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements on one moto: write the timers, the worker (step 1), then the tick (step 2)."""
    from tests.support.receiver import Receiver, Response

    moto = MotoProcess().start()
    receiver = Receiver(Response(200, body="ok")).start()
    try:
        configure(moto.endpoint, args)
        from chalicelib.storage import aws, models, resources

        models.bind()
        resources.provision(aws.dynamodb(), aws.sqs())
        began = time.time()
        ids = write_timers(args.tick_timers, lambda i: receiver.url(f"/tp/{i}"), began)
        written_s = time.time() - began
        worker = measure_worker(args, ids, receiver, moto)  # before the tick, so the queue holds only its fires
        tick = measure_tick(args, moto, written_s)
    finally:
        receiver.stop()
        moto.stop()
    return {"benchmark": "throughput", "machine": describe(),
            "command": "python -m bench.throughput " + " ".join(sys.argv[1:]), "tick": tick, "worker": worker}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    t, w = result["tick"], result["worker"]
    print(f"tick: {t['timers']} timers, {t['enqueued']} fires enqueued in {t['wall_s']} s "
          f"({t['fires_per_s']} fires/s; {t['fires_per_tick_budget']:,} fires within a {TICK_BUDGET_S} s tick)",
          file=sys.stderr)
    print(f"worker: {w['callbacks']} callbacks of {w['fires']} fires in {w['seconds']} s "
          f"({w['callbacks_per_s']}/s)", file=sys.stderr)
    if not args.json:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

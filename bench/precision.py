"""Precision benchmark: how close to its fire time each callback arrives, measured from outside.

    python -m bench.precision                        # 200 timers, 2 minutes (make bench-precision)
    python -m bench.precision --timers 400 --minutes 5 --pollers 8

1. starts the local stack as a subprocess (`python -m xtimer_local --port <free port>`) and waits
   for /health;
2. starts a callback receiver on 127.0.0.1 in this process;
3. creates the timers over HTTP (app "bench", the crons spread evenly across them, a POST
   callback to the receiver with the timer's name in the path) and enables them;
4. measures the fires due in the window [first full second after the last enable + settle,
   that + minutes), waits `grace` seconds more for late callbacks, and stops the stack;
5. compares each callback's X-Xtimer-Fire-Time with its arrival: lateness p50/p90/p99/max,
   early, duplicate (timer + fire time, and idempotency key), missing (croniter's fires in the
   window that never arrived), and prints a table and writes JSON + Markdown to bench/results/.
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import analysis, machine, report
from bench.api import XtimerClient
from bench.stack import StackProcess, process_cpu_seconds
from bench.fast_receiver import FastReceiver
from tests.support.receiver import Request

APP = "bench"
DEFAULT_CRONS = ["*/1 * * * * *", "*/2 * * * * *", "*/3 * * * * *", "*/5 * * * * *"]
PATH_PREFIX = "/cb/"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.precision", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--timers", type=int, default=200, help="timers to create and enable")
    p.add_argument("--minutes", type=float, default=2.0, help="length of the measurement window")
    p.add_argument("--cron", action="append", dest="crons", metavar="CRON",
                   help="a cron, given once per cron; timers take them in turn (None: " + ", ".join(DEFAULT_CRONS) + ")")
    p.add_argument("--pollers", type=int, default=None,
                   help="worker pollers of the local stack (None: the stack's own default)")
    p.add_argument("--stack-arg", action="append", default=[], metavar="ARG",
                   help="pass ARG to `python -m xtimer_local` (repeat; e.g. --stack-arg=--concurrency=32)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set NAME=VALUE in the stack's environment (repeat; e.g. --env XTIMER_EARLY_SECONDS=2)")
    p.add_argument("--stock-moto", action="store_true",
                   help="run the stack's embedded moto without xtimer_local.moto_speedups and "
                        "moto_dynamodb_speedups (to see their effect)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the last enable before measuring")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds after the window to wait for late callbacks (later ones count as missing)")
    p.add_argument("--enable-threads", type=int, default=4, help="concurrent creatTimer/enableTimer calls")
    p.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    p.add_argument("--profile", action="store_true",
                   help="record the stack process with py-spy during the window, sampling the thread holding the GIL "
                        "(pip install py-spy); "
                        "collapsed stacks (flamegraph.pl, speedscope) go to bench/results/raw/")
    p.add_argument("--out", type=Path, default=report.RESULTS, help="directory for the JSON and Markdown results")
    p.add_argument("--label", default="", help="added to the result files' names")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target (p99 <= 500 ms, none early, "
                   "duplicated or missing) is not met")
    args = p.parse_args(argv)
    args.crons = args.crons or DEFAULT_CRONS
    if args.timers < 1 or args.minutes <= 0:
        p.error("--timers and --minutes must be positive")
    if any("=" not in item for item in args.env):
        p.error("--env takes NAME=VALUE")
    return args


def log(text: str) -> None:
    print(f"{datetime.now(timezone.utc).strftime('%H:%M:%S')} {text}", flush=True)


def to_callback(request: Request, bodies: dict[str, str]) -> analysis.Callback:
    name = request.route[len(PATH_PREFIX):] if request.route.startswith(PATH_PREFIX) else request.route
    fire_header = request.header("X-Xtimer-Fire-Time")
    return analysis.Callback(
        timer_name=name,
        timer_id=request.header("X-Xtimer-Timer-Id"),
        fire_time=analysis.parse_fire_time(fire_header),
        fire_header=fire_header,
        key=request.header("X-Xtimer-Idempotency-Key"),
        attempt=request.header("X-Xtimer-Attempt"),
        arrived=request.arrived_at,
        exact=request.method == "POST" and request.text == bodies.get(name),
    )


class QueueWatch:
    """Depth of the fire queue, read at the stack's embedded moto (diagnostics only)."""

    def __init__(self, endpoint: str | None) -> None:
        self._client = None
        self._url = None
        if not endpoint:
            return
        try:
            import boto3
            self._client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                                        aws_access_key_id="local", aws_secret_access_key="local")
            urls = self._client.list_queues().get("QueueUrls", [])
            self._url = next((u for u in urls if u.endswith("-fires")), None)
        except Exception:  # noqa: BLE001 - diagnostics must never break the benchmark
            self._client = None

    def depth(self) -> dict[str, int] | None:
        if self._client is None or self._url is None:
            return None
        try:
            attrs = self._client.get_queue_attributes(QueueUrl=self._url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        except Exception:  # noqa: BLE001
            return None
        return {"visible": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
                "delayed": int(attrs["ApproximateNumberOfMessagesDelayed"])}


def child_name(pid: int) -> str:
    """"worker-p1", "worker-p2"... for the stack's extra worker processes, "moto" for its moto."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"child-{pid}"
    if b"xtimer_local.worker_child" in args and b"--number" in args:
        return "worker-p" + args[args.index(b"--number") + 1].decode("ascii", "replace")
    return "moto"


class CpuMeter:
    """CPU used by the stack, its moto (a child process, unless it runs inside the stack), its extra
    worker processes (`--worker-processes`) and this benchmark, in % of one core between two readings."""

    def __init__(self, stack: StackProcess) -> None:
        self.processes = {"stack": stack.pid, "bench": os.getpid()}
        for child in stack.children():
            self.processes[child_name(child)] = child
        self._last = self.read()

    def read(self) -> tuple[float, dict[str, float]]:
        used = {name: process_cpu_seconds(pid) for name, pid in self.processes.items()}
        return time.time(), {name: s for name, s in used.items() if s is not None}

    @staticmethod
    def percent(since: tuple[float, dict[str, float]], until: tuple[float, dict[str, float]]) -> dict[str, int]:
        elapsed = until[0] - since[0]
        if elapsed <= 0:
            return {}
        return {name: round(100 * (until[1][name] - since[1].get(name, 0.0)) / elapsed)
                for name in until[1] if name in since[1]}

    def since_last(self) -> dict[str, int]:
        now = self.read()
        result = self.percent(self._last, now)
        self._last = now
        return result


def progress_line(receiver: FastReceiver, start: int, end: int, cpu: CpuMeter, queue: QueueWatch) -> str:
    now = time.time()
    lateness = []
    early = 0
    for r in receiver.received():
        fire = analysis.parse_fire_time(r.header("X-Xtimer-Fire-Time"))
        if fire is not None and start <= fire < end:
            lateness.append((r.arrived_at - fire) * 1000)
            early += r.arrived_at < fire
    s = analysis.summary(lateness)
    cpu_text = "  cpu% " + " ".join(f"{name} {p}" for name, p in cpu.since_last().items())
    depth = queue.depth()
    depth_text = f"  queue {depth['visible']}/{depth['in_flight']}/{depth['delayed']} (vis/flight/delayed)" \
        if depth else ""
    where = f"t+{now - start:4.0f}s" if now >= start else f"t{now - start:4.0f}s"
    return (f"{where}  callbacks {s['count']:>6}  lateness ms p50 {report._ms(s['p50'])} "
            f"p99 {report._ms(s['p99'])} max {report._ms(s['max'])}  early {early}{cpu_text}{depth_text}")


def stack_env(args: argparse.Namespace) -> dict[str, str]:
    """The stack's environment: --env, over a fire quota that refuses none of the benchmark's fires."""
    return {
        # the per-app quota (default 6,000 fires a minute) would refuse a large benchmark's timers
        "XTIMER_MAX_FIRES_PER_MINUTE_PER_APP": os.environ.get("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", "100000000"),
        **dict(item.split("=", 1) for item in args.env),
    }


def create_timers(args: argparse.Namespace, client: XtimerClient, receiver: FastReceiver,
                  bodies: dict[str, str]) -> list[analysis.Timer]:
    """Creates (not enables) timers t00000.., the crons in turn; fills `bodies` with their callback bodies."""
    specs = [(f"t{i:05d}", args.crons[i % len(args.crons)]) for i in range(args.timers)]

    def create(spec: tuple[str, str]) -> analysis.Timer:
        name, cron = spec
        bodies[name] = f'{{"timer":"{name}"}}'
        timer_id = client.create_timer(APP, name, cron, receiver.url(PATH_PREFIX + name),
                                       headers={"Content-Type": "application/json"}, body=bodies[name])
        return analysis.Timer(name=name, id=timer_id, cron=cron)

    with ThreadPoolExecutor(args.enable_threads) as pool:
        return list(pool.map(create, specs))


def enable_timers(args: argparse.Namespace, client: XtimerClient, timers: list[analysis.Timer],
                  receiver: FastReceiver, cpu: CpuMeter, began: float) -> None:
    """Enables the timers, a progress line every --progress seconds from `began` (the first fires
    come meanwhile)."""
    enabled = 0
    lock = threading.Lock()
    next_line = began + args.progress

    def enable(timer: analysis.Timer) -> None:
        nonlocal enabled, next_line
        client.enable_timer(timer.id, APP)
        with lock:
            enabled += 1
            if time.time() >= next_line:
                next_line += args.progress
                log(f"  enabled {enabled}/{len(timers)}, {len(receiver.received())} callbacks so far, "
                    "cpu% " + " ".join(f"{n} {p}" for n, p in cpu.since_last().items()))

    with ThreadPoolExecutor(args.enable_threads) as pool:
        list(pool.map(enable, timers))


def start_profiler(stack: StackProcess, raw: Path, stem: str, end: int,
                   run_info: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """py-spy recording the stack until the window's end (--profile), if py-spy is installed."""
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        log("--profile: py-spy is not installed (pip install py-spy); running without it")
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    flame = raw / f"{stem}-stack-profile.txt"
    profiler = subprocess.Popen(
        [spy, "record", "--pid", str(stack.pid), "--duration", str(int(end - time.time()) + 1),
         "--rate", "25", "--gil", "--threads", "--subprocesses", "--format", "raw", "--output", str(flame),
         "--nonblocking"], stdout=open(raw / f"{stem}-py-spy.log", "wb"), stderr=subprocess.STDOUT)
    run_info["profile"] = str(flame)
    log(f"py-spy records the stack until the window ends: {flame}")
    return profiler


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    """Waits for py-spy to write its profile; Ctrl-C (it writes what it has) if it takes too long."""
    try:
        profiler.wait(30)
    except subprocess.TimeoutExpired:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)


CpuReading = tuple[float, dict[str, float]]


def watch_window(args: argparse.Namespace, stack: StackProcess, receiver: FastReceiver, cpu: CpuMeter,
                 queue: QueueWatch, start: int, end: int,
                 stop_at: float) -> tuple[CpuReading | None, CpuReading | None]:
    """Until the grace after the window is over: progress lines, and the CPU read at the window's ends."""
    cpu_at_start = cpu_at_end = None
    next_line = time.time() + args.progress
    while time.time() < stop_at:
        now = time.time()
        if cpu_at_start is None and now >= start:
            cpu_at_start = cpu.read()
        if cpu_at_end is None and now >= end:
            cpu_at_end = cpu.read()
        if now >= next_line:
            log(progress_line(receiver, start, end, cpu, queue))
            next_line += args.progress
        stack.raise_if_died("run")
        time.sleep(min(0.2, max(0.0, stop_at - time.time())))
    return cpu_at_start, cpu_at_end


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark, step by step: stack up, create and enable the timers, watch the window, analyse."""
    described = machine.describe()
    stem = report.stem("precision", args.label)
    raw = args.out / "raw"
    env = stack_env(args)
    stack = StackProcess(raw / f"{stem}-stack.log", pollers=args.pollers, env=env,
                         extra_args=tuple(args.stack_arg) + (("--no-moto-speedups",) if args.stock_moto else ()))
    receiver = FastReceiver().start()
    profiler: subprocess.Popen[bytes] | None = None
    run_info: dict[str, Any] = {}
    try:
        log(f"starting the local stack: {shlex.join(stack.command[1:]).replace('--port 0', '--port <free>')}")
        stack.start()
        log(f"stack up on {stack.url} in {stack.started_in:.1f} s (pid {stack.pid}, log {stack.log_path}); "
            f"receiver on {receiver.base_url}")
        client = XtimerClient(stack.url, pool=args.enable_threads)
        bodies: dict[str, str] = {}
        began = time.time()
        timers = create_timers(args, client, receiver, bodies)
        created_in = time.time() - began
        log(f"created {len(timers)} timers in {created_in:.1f} s; enabling")
        cpu = CpuMeter(stack)
        began = time.time()
        enable_timers(args, client, timers, receiver, cpu, began)
        enabled_at = time.time()
        log(f"enabled {len(timers)} timers in {enabled_at - began:.1f} s")

        start = math.ceil(enabled_at + args.settle)
        end = start + int(round(args.minutes * 60))
        stop_at = end + args.grace
        queue = QueueWatch(stack.moto_endpoint())
        log(f"measuring fires due in [{analysis._iso(start)}, {analysis._iso(end)}), "
            f"then {args.grace:.0f} s for late callbacks")
        if args.profile:
            profiler = start_profiler(stack, raw, stem, end, run_info)
        cpu_at_start, cpu_at_end = watch_window(args, stack, receiver, cpu, queue, start, end, stop_at)
        requests_seen = receiver.received()
        if profiler is not None:
            stop_profiler(profiler)
    finally:
        stack.stop()
        receiver.stop()
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
    log(f"stack stopped; analysing {len(requests_seen)} callbacks")
    result = analysis.analyse(timers, [to_callback(r, bodies) for r in requests_seen], start, end)
    cpu_percent = CpuMeter.percent(cpu_at_start, cpu_at_end) if cpu_at_start and cpu_at_end else {}
    stack_info = {"command": stack.command[1:], "started_in_s": round(stack.started_in or 0, 1),
                  "created_in_s": round(created_in, 1), "enabled_in_s": round(enabled_at - began, 1),
                  "cpu_percent": cpu_percent, "cpu_ms_per_fire": cpu_ms_per_fire(result, cpu_percent),
                  "load_average_at_end": machine.load_average(), **run_info}
    return document(args, stem, described, env, stack_info, result)


def document(args: argparse.Namespace, stem: str, described: dict[str, Any], env: dict[str, str],
             stack_info: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The run's JSON: the command, the machine, the configuration, the stack's figures and the result."""
    return {
        "benchmark": "precision",
        "command": report.command("bench.precision"),
        "stem": stem,
        "machine": described,
        "config": {"timers": args.timers, "minutes": args.minutes, "crons": args.crons, "pollers": args.pollers,
                   "stock_moto": args.stock_moto, "stack_args": args.stack_arg, "stack_env": env,
                   "settle_s": args.settle, "grace_s": args.grace, "app": APP},
        "stack": stack_info,
        "result": result,
    }


def cpu_ms_per_fire(result: dict[str, Any], cpu_percent: dict[str, int]) -> dict[str, float]:
    """CPU ms each process spent per callback made in the window."""
    seconds = result["window"]["seconds"]
    made = result["arrivals_in_window"]["count"]
    return {name: round(pct / 100 * seconds * 1000 / max(1, made), 1) for name, pct in cpu_percent.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run(args)
    print()
    print(report.table(outcome))
    json_path, md_path = report.write(outcome, outcome["stem"], args.out)
    print(f"\nwrote {json_path} and {md_path}")
    if args.strict and not all(met for target, _, met in report.verdicts(outcome["result"])
                               if "stretch" not in target):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

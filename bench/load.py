"""Load benchmark (issue 6): N timers all due in the same minute; every fire delivered once?

    python -m bench.load                       # 10,000 timers (make bench-load)
    python -m bench.load --timers 1200 --start-in 390 --drain 300   # the run in docs/benchmarks.md

1. starts the local stack as a subprocess and a callback receiver on 127.0.0.1 (as bench.precision);
2. probes the creation rate (creatTimer + enableTimer) with a few timers due half an hour away
   (outside the run), and picks the target minute T so that creating all N timers ends before it;
3. creates and enables N timers over HTTP with a thread pool; timer i has the 6-field cron
   `S M * * * *` with S = i % 60 and M = T's minute, so each fires exactly once in [T, T+60 s),
   spread over the minute's 60 seconds;
4. waits until T+60 s, then until every fire has arrived or the drain cap (`--drain`) has passed;
5. reports fires expected, received, duplicates (timer + fire time, or idempotency key, twice),
   missing, early, lateness p50/p90/p99/max (of each fire's first call) and the delivery rate,
   and writes JSON + Markdown to bench/results/load-<time>.{json,md}.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import analysis, machine, report
from bench.api import TimerMaker, XtimerClient, outside_the_run
from bench.precision import PATH_PREFIX, CpuMeter, QueueWatch, log, to_callback
from bench.stack import WORKER_PROCESSES, StackProcess
from bench.fast_receiver import FastReceiver
from tests.support.receiver import Request

APP = "bench-load"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--timers", type=int, default=10_000, help="timers, all due in the same minute")
    p.add_argument("--spread", type=int, default=60,
                   help="seconds of the minute the fires are spread over: timer i fires at second i %% spread "
                        "(1: the herd, every timer due at second 0)")
    p.add_argument("--threads", type=int, default=4, help="concurrent creatTimer/enableTimer calls")
    p.add_argument("--probe", type=int, default=40, help="timers created first to measure the creation rate")
    p.add_argument("--start-in", type=float, default=None,
                   help="seconds from the end of the probe to the target minute, at least (None: estimated; "
                        "the estimate assumes the probe's rate, but on the local stack each creation slows as "
                        "timers accumulate, so give more for thousands of timers)")
    p.add_argument("--margin", type=float, default=45.0,
                   help="seconds between the estimated end of creation and the target minute, at least")
    p.add_argument("--drain", type=float, default=600.0,
                   help="seconds after the target minute's end to wait for the last fires (later ones count as missing)")
    p.add_argument("--pollers", type=int, default=None, help="worker pollers of the local stack (None: its default)")
    p.add_argument("--worker-processes", type=int, default=WORKER_PROCESSES,
                   help="the local stack's worker processes (bench/stack.py: WORKER_PROCESSES)")
    p.add_argument("--stack-arg", action="append", default=[], metavar="ARG", help="pass ARG to `python -m xtimer_local`")
    p.add_argument("--progress", type=float, default=15.0, help="seconds between progress lines")
    p.add_argument("--out", type=Path, default=report.RESULTS, help="directory for the JSON and Markdown results")
    p.add_argument("--label", default="", help="added to the result files' names")
    args = p.parse_args(argv)
    if args.timers < 1 or args.threads < 1 or args.probe < 1:
        p.error("--timers, --threads and --probe must be positive")
    if not 1 <= args.spread <= 60:
        p.error("--spread must be 1 to 60")
    return args


def stack_env(args: argparse.Namespace) -> dict[str, str]:
    """The stack's quotas, raised so that they refuse none of the run's timers or fires."""
    return {
        "XTIMER_MAX_FIRES_PER_MINUTE_PER_APP": os.environ.get("XTIMER_MAX_FIRES_PER_MINUTE_PER_APP", "100000000"),
        "XTIMER_MAX_TIMERS_PER_APP": str(args.timers + args.probe + 100),
    }


def pick_target_minute(args: argparse.Namespace, maker: TimerMaker) -> tuple[float, int]:
    """Times the creation of --probe timers and picks the target minute T (a minute boundary) so
    that creating all timers ends before it; returns (timers made a second, T)."""
    with ThreadPoolExecutor(args.threads) as pool:
        probe_rate = maker.probe(pool, range(args.probe), outside_the_run())
    estimate = args.timers / probe_rate
    lead = args.start_in if args.start_in is not None else estimate * 1.25 + args.margin
    target = (math.ceil((time.time() + lead) / 60)) * 60
    log(f"probe: {args.probe} timers created and enabled at {probe_rate:.1f}/s; {args.timers} should take "
        f"~{estimate:.0f} s; target minute {analysis._iso(target)} ({target - time.time():.0f} s from now)")
    return probe_rate, target


def create_timers(args: argparse.Namespace, maker: TimerMaker, target: int) -> tuple[list[analysis.Timer], float]:
    """Creates and enables the timers, each due once in T's minute; returns them and the seconds it took."""
    minute = datetime.fromtimestamp(target, timezone.utc).minute
    specs = [(f"t{i:05d}", f"{i % args.spread} {minute} * * * *") for i in range(args.timers)]
    lock = threading.Lock()
    done = 0
    next_line = time.time() + args.progress
    began = time.time()

    def one(spec: tuple[str, str]) -> analysis.Timer:
        nonlocal done, next_line
        timer = maker.make(*spec)
        with lock:
            done += 1
            if time.time() >= next_line:
                next_line += args.progress
                log(f"  created and enabled {done}/{args.timers} ({done / (time.time() - began):.1f}/s), "
                    f"{target - time.time():.0f} s before the target minute")
        return timer

    with ThreadPoolExecutor(args.threads) as pool:
        timers = list(pool.map(one, specs))
    created_in = time.time() - began
    log(f"created and enabled {args.timers} timers in {created_in:.1f} s ({args.timers / created_in:.1f}/s); "
        f"{target - time.time():.0f} s before the target minute")
    if time.time() >= target:
        log("WARNING: creation ended after the target minute began")
    return timers, created_in


@dataclass
class Awaited:
    """What the wait for T's minute and its drain saw."""
    requests: list[Request]
    all_in_at: float | None          # when the last expected fire arrived (None: not all did)
    cpu_at_start: tuple[float, dict[str, float]] | None
    cpu_at_end: tuple[float, dict[str, float]]


def await_fires(args: argparse.Namespace, stack: StackProcess, receiver: FastReceiver, bodies: dict[str, str],
                timers: list[analysis.Timer], target: int) -> Awaited:
    """Waits until T + 60 s, then until every fire of the minute has arrived or --drain has passed;
    a progress line every --progress seconds."""
    end = target + 60
    expected_keys = {(t.name, f) for t in timers for f in analysis.expected_fires(t.cron, target, end)}
    cpu = CpuMeter(stack)
    queue = QueueWatch(stack.moto_endpoint())
    cap = end + args.drain
    cpu_at_start = None
    next_line = time.time() + args.progress
    all_in_at = None
    while time.time() < cap:
        now = time.time()
        if cpu_at_start is None and now >= target:
            cpu_at_start = cpu.read()
        seen = {(to_callback(r, bodies).timer_name, analysis.parse_fire_time(r.header("X-Xtimer-Fire-Time")))
                for r in receiver.received()} if now >= end or now >= next_line else set()
        if now >= end and expected_keys <= seen:
            all_in_at = now
            log(f"all {len(expected_keys)} fires arrived, {now - end:.0f} s after the minute ended")
            break
        if now >= next_line:
            log(progress_line(now - target, len(expected_keys & seen), len(expected_keys), cpu, queue))
            next_line += args.progress
        stack.raise_if_died("run")
        time.sleep(1.0 if now >= end else 0.2)
    time.sleep(3)  # a last moment for retried copies of the final fires to show up as duplicates
    cpu_at_end = cpu.read()
    return Awaited(receiver.received(), all_in_at, cpu_at_start, cpu_at_end)


def progress_line(since_target: float, got: int, expected: int, cpu: CpuMeter, queue: QueueWatch) -> str:
    depth = queue.depth()
    return (f"t{since_target:+5.0f}s  fires of the minute received {got}/{expected}  cpu% "
            + " ".join(f"{n} {p}" for n, p in cpu.since_last().items())
            + (f"  queue {depth['visible']}/{depth['in_flight']}/{depth['delayed']} (vis/flight/delayed)"
               if depth else ""))


def delivery(callbacks: list[analysis.Callback], target: int, all_in_at: float | None) -> dict[str, Any]:
    """When the minute's callbacks arrived, in seconds after T, and how many a second."""
    end = target + 60
    in_minute = [c for c in callbacks if c.fire_time is not None and target <= c.fire_time < end]
    first = min((c.arrived for c in in_minute), default=None)
    last = max((c.arrived for c in in_minute), default=None)
    return {
        "first_arrival_s_after_T": None if first is None else round(first - target, 1),
        "last_arrival_s_after_T": None if last is None else round(last - target, 1),
        "all_arrived_s_after_T": None if all_in_at is None else round(all_in_at - target, 1),
        "callbacks_per_second": None if first is None or last is None or last <= first
        else round(len(in_minute) / (last - first), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The load test, step by step: stack up, probe and pick T, create the timers, await the
    minute's fires, analyse."""
    described = machine.describe()
    stem = report.stem("load", args.label)
    env = stack_env(args)
    stack = StackProcess(args.out / "raw" / f"{stem}-stack.log", pollers=args.pollers, env=env,
                         worker_processes=args.worker_processes,
                         extra_args=tuple(args.stack_arg))
    receiver = FastReceiver().start()
    bodies: dict[str, str] = {}
    try:
        stack.start()
        log(f"stack up on {stack.url} in {stack.started_in:.1f} s (pid {stack.pid}, log {stack.log_path}); "
            f"receiver on {receiver.base_url}")
        maker = TimerMaker(XtimerClient(stack.url, pool=args.threads), APP,
                           lambda name: receiver.url(PATH_PREFIX + name), bodies)
        probe_rate, target = pick_target_minute(args, maker)
        timers, created_in = create_timers(args, maker, target)
        awaited = await_fires(args, stack, receiver, bodies, timers, target)
    finally:
        stack.stop()
        receiver.stop()
    log(f"stack stopped; analysing {len(awaited.requests)} callbacks")
    callbacks = [to_callback(r, bodies) for r in awaited.requests]
    cpu_percent = CpuMeter.percent(awaited.cpu_at_start, awaited.cpu_at_end) if awaited.cpu_at_start else {}
    return {
        "benchmark": "load",
        "command": report.command("bench.load"),
        "stem": stem,
        "machine": described,
        "config": {"timers": args.timers, "threads": args.threads, "probe": args.probe, "margin_s": args.margin,
                   "drain_s": args.drain, "pollers": args.pollers, "worker_processes": args.worker_processes, "stack_args": args.stack_arg,
                   "stack_env": env, "app": APP, "cron_form": f"S M * * * * (S = i % {args.spread}, M = T's minute)",
                   "spread_s": args.spread},
        "stack": {"command": stack.command[1:], "started_in_s": round(stack.started_in or 0, 1),
                  "probe_rate_per_s": round(probe_rate, 1), "created_and_enabled_in_s": round(created_in, 1),
                  "create_rate_per_s": round(args.timers / created_in, 1), "retries_after_500": maker.retries,
                  "target_minute": analysis._iso(target),
                  "cpu_percent_from_T": cpu_percent, "load_average_at_end": machine.load_average()},
        "delivery": delivery(callbacks, target, awaited.all_in_at),
        "result": analysis.analyse(timers, callbacks, target, target + 60),
    }


def table(run: dict[str, Any]) -> str:
    r, d, st = run["result"], run["delivery"], run["stack"]
    lat = r["lateness_ms"]
    ms = report._ms
    lines = [
        f"load: {run['config']['timers']} timers due in the minute {r['window']['start']} .. {r['window']['end']}",
        f"machine: {machine.one_line(run['machine'])}",
        f"creation: {st['created_and_enabled_in_s']} s at {st['create_rate_per_s']}/s (creatTimer + enableTimer, "
        f"{run['config']['threads']} threads; probe {st['probe_rate_per_s']}/s; retried after a 500: "
        f"{st['retries_after_500']})",
        "",
        f"  fires expected   {r['expected']:>8}   (peak {r['fires_per_second']['max']} in one second)",
        f"  fires received   {r['fires_received']:>8}",
        f"  duplicates       {r['duplicates']:>8}   (idempotency keys seen twice: {r['duplicate_idempotency_keys']})",
        f"  missing          {r['missing']:>8}",
        f"  early            {r['early']:>8}",
        f"  unexpected       {r['unexpected']:>8}",
        f"  lateness ms      p50 {ms(lat['p50'])}   p90 {ms(lat['p90'])}   p99 {ms(lat['p99'])}   max {ms(lat['max'])}",
        f"  delivery         {d['callbacks_per_second']}/s (first arrival T+{d['first_arrival_s_after_T']} s, "
        f"last T+{d['last_arrival_s_after_T']} s)",
        f"  other problems   {r['problems'] or 'none'}",
        "  cpu % of a core from T: " + " ".join(f"{k} {v}" for k, v in st["cpu_percent_from_T"].items()),
    ]
    return "\n".join(lines)


def markdown(run: dict[str, Any]) -> str:
    r, d, st, m = run["result"], run["delivery"], run["stack"], run["machine"]
    lat = r["lateness_ms"]
    ms = report._ms
    return "\n".join([
        f"# Load benchmark, {m['date']}",
        "",
        f"Command: `{run['command']}`",
        "",
        f"Machine: {machine.one_line(m)}; load average at start {m.get('load_average_at_start')}, at the end "
        f"{st.get('load_average_at_end')}; commit {m.get('git_commit')}"
        f"{' (with local changes)' if m.get('git_dirty') else ''}.",
        "",
        f"{run['config']['timers']} timers, each `S M * * * *` (S = i % {run['config'].get('spread_s', 60)}, "
        f"M = the target minute's), all due in "
        f"{r['window']['start']} .. {r['window']['end']}; created and enabled over HTTP in "
        f"{st['created_and_enabled_in_s']} s ({st['create_rate_per_s']}/s, {run['config']['threads']} threads; "
        f"calls retried after moto's occasional 500: {st['retries_after_500']}).",
        "",
        "| fires expected | received | duplicates | missing | early | p50 ms | p90 ms | p99 ms | max ms | delivery/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['expected']} | {r['fires_received']} | {r['duplicates']} | {r['missing']} | {r['early']} "
        f"| {ms(lat['p50'])} | {ms(lat['p90'])} | {ms(lat['p99'])} | {ms(lat['max'])} | {d['callbacks_per_second']} |",
        "",
        f"Idempotency keys seen twice: {r['duplicate_idempotency_keys']}; fires off the schedule: {r['unexpected']}; "
        f"checks on every callback (timer id, key, fire-time header, method and body): {r['problems'] or 'none failed'}.",
        *[f"- {kind}: {t}" for kind, texts in r.get("problem_examples", {}).items() for t in texts],
        *[f"- missing: {t}" for t in r.get("missing_examples", [])],
        "",
        f"First callback of the minute at T+{d['first_arrival_s_after_T']} s, last at T+{d['last_arrival_s_after_T']} s"
        f"; CPU from T in % of one core: " + (", ".join(f"{k} {v}" for k, v in st["cpu_percent_from_T"].items()) or "-")
        + ".",
        "",
        "Lateness by 10 s of the minute (fire time - T):",
        "",
        "| from s | fires | p50 ms | p99 ms | max ms |",
        "|---:|---:|---:|---:|---:|",
        *[f"| {b['from_s']} | {b['count']} | {ms(b['p50'])} | {ms(b['p99'])} | {ms(b['max'])} |" for b in r["timeline"]],
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run(args)
    print()
    print(table(outcome))
    json_path, md_path = report.write(outcome, outcome["stem"], args.out, render=markdown)
    print(f"\nwrote {json_path} and {md_path}")
    r = outcome["result"]
    return 0 if r["missing"] == 0 and r["duplicates"] == 0 and r["early"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

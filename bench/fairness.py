"""Issue 17's fairness series: app B's lateness while app A's receiver hangs on every call.

    python -m bench.fairness            # make bench-fairness: baseline, then the hang (about 5 minutes)
    python -m bench.fairness --quick    # smaller: about 2 minutes

Two runs, each on a fresh local stack (bench.stack) with two receivers on 127.0.0.1, one per app
(two ports: two receivers, as the worker's lanes and breakers count them):

- app A ("tenant-a"): `--a-timers` timers firing every second (10 by default: 600 fires a minute,
  a tenth of an app's XTIMER_MAX_FIRES_PER_MINUTE_PER_APP) towards A's receiver;
- app B ("tenant-b"): `--b-timers` timers firing every 2 s towards B's receiver, which answers at once.

In the baseline A's receiver answers at once too; in the hang run it holds every call until the
run ends, so each of A's attempts lasts the notifier's read timeout (10 s), then is retried. The
figures are B's fires due in the window (from --settle s after the timers are enabled, for
--window s): lateness p50/p99/max, missing and doubled; and what A's receiver got, and the
stack's FiresDeferred and CallbacksShortCircuited counters (GET /metrics). Target (issue 17):
during the hang, B's p99 <= 250 ms and none missing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from bench import analysis, machine
from bench.api import TimerMaker, XtimerClient
from bench.precision import PATH_PREFIX, log, to_callback
from bench.report import RESULTS, fairness_table
from bench.stack import StackProcess
from tests.support.receiver import Receiver, Response

APP_A, APP_B = "tenant-a", "tenant-b"
TARGET_P99_MS = 250.0
HANG_SECONDS = 3600.0  # longer than any run: the receiver's stop() ends the hang


@dataclass(frozen=True)
class FairnessConfig:
    a_timers: int = 10
    b_timers: int = 5
    window_s: int = 90   # B's fires due in [start, start + window_s) are measured
    grace_s: float = 15  # at most this long after the window for B's late callbacks
    settle_s: float = 5  # after the last enable, before the window


FULL = FairnessConfig()
QUICK = FairnessConfig(a_timers=5, b_timers=5, window_s=30, grace_s=10)


def b_cron(i: int) -> str:
    """Every 2 s, the timers' phases spread over the two seconds."""
    return f"{i % 2}/2 * * * * *"


def metric_counters(base_url: str, names: tuple[str, ...]) -> dict[str, float]:
    """Counters from the stack's GET /metrics (Prometheus text), 0 when not yet there."""
    found = dict.fromkeys(names, 0.0)
    try:
        text = requests.get(base_url + "/metrics", timeout=10).text
    except requests.RequestException:
        return found
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


COUNTERS = ("xtimer_fires_deferred_total", "xtimer_callbacks_short_circuited_total",
            "xtimer_fires_retried_total", "xtimer_fires_delivered_total")


def run_one(cfg: FairnessConfig, hang: bool, raw_dir: Path) -> dict[str, Any]:
    """One run on a fresh stack: create both apps' timers, measure B's window, stop."""
    label = "hang" if hang else "baseline"
    began = time.time()
    stack = StackProcess(raw_dir / f"fairness-{label}-stack.log")
    a_rx = Receiver(Response(200, delay=HANG_SECONDS) if hang else Response(200, body="ok")).start()
    b_rx = Receiver(Response(200, body="ok")).start()
    try:
        stack.start()
        log(f"fairness {label}: stack up on {stack.url} in {stack.started_in:.1f} s")
        client = XtimerClient(stack.url, pool=4)
        maker_a = TimerMaker(client, APP_A, lambda name: a_rx.url(PATH_PREFIX + name))
        maker_b = TimerMaker(client, APP_B, lambda name: b_rx.url(PATH_PREFIX + name))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: maker_a.make(f"a{i:03d}", "* * * * * *"), range(cfg.a_timers)))
            timers_b = list(pool.map(lambda i: maker_b.make(f"b{i:03d}", b_cron(i)), range(cfg.b_timers)))
        start = int(time.time() + cfg.settle_s) + 1
        end = start + cfg.window_s
        expected = {(t.name, f) for t in timers_b for f in analysis.expected_fires(t.cron, start, end)}
        log(f"fairness {label}: A {cfg.a_timers} timers every second ({'hanging' if hang else 'answering'}), "
            f"B {cfg.b_timers} every 2 s; measuring B's fires due in the next {cfg.window_s} s")
        while time.time() < end + cfg.grace_s:
            stack.raise_if_died(f"fairness {label} run")
            seen = {(c.timer_name, c.fire_time) for c in
                    (to_callback(r, maker_b.bodies) for r in b_rx.received())}
            if time.time() >= end + 1 and expected <= seen:
                break
            time.sleep(0.5)
        counters = metric_counters(stack.url, COUNTERS)
        b_requests, a_requests = b_rx.received(), a_rx.received()
    finally:
        stack.stop(timeout=10)
        a_rx.stop()
        b_rx.stop()
    b_calls = [to_callback(r, maker_b.bodies) for r in b_requests]
    result = analysis.analyse(timers_b, b_calls, start, end)
    lat = result["lateness_ms"]  # type: ignore[index]
    return {
        "label": label,
        "hang": hang,
        "config": asdict(cfg),
        "b": {"expected": result["expected"], "lateness_ms": lat, "missing": result["missing"],
              "doubled": result["duplicates"], "early": result["early"],
              "missing_examples": result["missing_examples"], "latest": result["latest"][:5]},
        "a": {"calls": len(a_requests),
              "first_attempts": sum(1 for r in a_requests if r.header("X-Xtimer-Attempt") == "1")},
        "counters": {name.removeprefix("xtimer_").removesuffix("_total"): value for name, value in counters.items()},
        "target": {"p99_ms": TARGET_P99_MS,
                   "met": lat["p99"] is not None and lat["p99"] <= TARGET_P99_MS and result["missing"] == 0},
        "seconds": round(time.time() - began, 1),
    }


def run(cfg: FairnessConfig, raw_dir: Path) -> dict[str, Any]:
    """The baseline, then the hang; each on a fresh stack."""
    return {"benchmark": "fairness", "command": "python -m bench.fairness", "config": asdict(cfg),
            "baseline": run_one(cfg, hang=False, raw_dir=raw_dir), "hang": run_one(cfg, hang=True, raw_dir=raw_dir)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"smaller: {QUICK}")
    p.add_argument("--a-timers", type=int, default=None, help=f"app A's timers (full {FULL.a_timers})")
    p.add_argument("--b-timers", type=int, default=None, help=f"app B's timers (full {FULL.b_timers})")
    p.add_argument("--window", type=int, default=None, help=f"seconds of B's fires measured (full {FULL.window_s})")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for fairness-<time>.json and the logs")
    return p.parse_args(argv)


def config_of(args: argparse.Namespace) -> FairnessConfig:
    base = QUICK if args.quick else FULL
    return FairnessConfig(a_timers=args.a_timers or base.a_timers, b_timers=args.b_timers or base.b_timers,
                          window_s=args.window or base.window_s, grace_s=base.grace_s, settle_s=base.settle_s)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    doc = run(config_of(args), args.out / "raw")
    doc["machine"] = machine.describe()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"fairness-{stamp}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print("\n".join(fairness_table(doc)))
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

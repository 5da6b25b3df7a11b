"""Issue 7's benchmark suite: precision (with a naive minute scheduler beside it), scale of the
minute path, cost per million fires against EventBridge Scheduler and Step Functions, and
throughput, in one run with one report.

    python -m bench.suite            # make bench: about 20 minutes on 2 cores
    python -m bench.suite --quick    # make bench ARGS=--quick: about 5 minutes

Writes bench/results/suite-<time>/ (or --out): suite.json, report.md, lateness.png, rates.png,
work.png, the scale and throughput runs' own files, and the stacks' logs under raw/; and copies
the report to bench/results/latest.md.

Steps, full (quick):
1. precision series on a fresh local stack each (bench.series), every timer firing every 5 s:
   2 timers for 30 s (30 s; the light-load target names 2), 100 for 60 s (30 s), 1,000 and 5,000 for 60 s with their crons held to
   the window's minutes (not in quick); each with the naive minute tick beside it; then the herd
   (bench.load: 300 timers all due at second 0, also in quick) and the bare loop (bench.bareloop:
   the same callbacks from a plain thread pool, no AWS: what this machine can send at all);
   the fairness series (bench.fairness, issue 17): app B's lateness while app A's receiver hangs on
   every call, and the same run without the hang, each on a fresh stack (A 10 timers, a 90 s
   window; quick: 5 timers, 30 s);
2. scale (bench.scale, a subprocess): 0, 1,000, 10,000 and 100,000 idle timers (0 and 1,000),
   XTIMER_ENQUEUE_AHEAD_SECONDS 120; then the sparse scenario alone at the deployed 600 s for
   the cost (quick: the cost at 120 s, from the same run);
3. throughput (bench.throughput, a subprocess): one worker process fed 600 fires already due
   (300), one tick over 1,000 due timers (500);
4. the AWS model (bench.aws_model, a model, not a measurement: 10,000 and 100,000 fires due in
   one second on AWS, per-fire and bucket designs), cost (bench.costs), plots (bench.plots) and
   the report (bench.report.suite_markdown).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import aws_model, costs, fairness, machine, plots, report, series
from bench.precision import log
from bench.stack import WORKER_PROCESSES


STACKS_NOTE = (f"every local stack of the series, the herd and the fairness runs has its worker in {WORKER_PROCESSES} "
               "processes (--worker-processes; bench/stack.py: WORKER_PROCESSES)")


@dataclass(frozen=True)
class Plan:
    series: list[series.SeriesConfig]
    scale_flat: list[str]
    scale_cost: list[str] | None  # None: the cost comes from the flat run
    throughput: list[str]
    herd: list[str] = field(default_factory=lambda: ["--timers", "300", "--spread", "1", "--drain", "60"])
    bareloop: list[str] = field(default_factory=lambda: ["--callbacks", "3000", "--threads", "64"])
    fairness: fairness.FairnessConfig = fairness.FULL
    notes: list[str] = field(default_factory=list)
    cost_note: str = ""


FULL = Plan(
    series=[series.SeriesConfig(timers=2, window_s=30, grace_s=10),
            series.SeriesConfig(timers=100, window_s=60, grace_s=15),
            series.SeriesConfig(timers=1000, window_s=60, grace_s=5, hold=True),
            series.SeriesConfig(timers=5000, window_s=60, grace_s=5, hold=True)],
    scale_flat=["--sizes", "0,1000,10000,100000", "--ahead", "120", "--minutes", "2", "--herd", "0"],
    scale_cost=["--sizes", "", "--ahead", "600", "--minutes", "2", "--herd", "300"],
    throughput=["--tick-timers", "1000", "--worker-fires", "600"],
    notes=[STACKS_NOTE,
           "windows shortened to fit the suite in 15 minutes: 2 timers 30 s, 100 timers 60 s, 1,000 and 5,000 "
           "timers 60 s (held to the window's minutes, so creating them does not load the stack); late callbacks "
           "are awaited 5-15 s, so a saturated stack's backlog shows as missing fires"],
    cost_note="sparse: a run of its own at the deployed XTIMER_ENQUEUE_AHEAD_SECONDS=600 (cursors written once "
              "per window); busy: from the scale run above at 120 s, as the local stack (the deployed 600 s writes "
              "cursors less often: slightly cheaper); herd: 300 timers due at second 0, in the sparse scenario's run "
              "at 600 s",
)
QUICK = Plan(
    series=[series.SeriesConfig(timers=2, window_s=30, grace_s=5),
            series.SeriesConfig(timers=100, window_s=30, grace_s=10)],
    scale_flat=["--sizes", "0,1000", "--ahead", "120", "--minutes", "2"],
    scale_cost=None,
    throughput=["--tick-timers", "500", "--worker-fires", "300"],
    fairness=fairness.QUICK,
    notes=[STACKS_NOTE, "quick mode: 30 s windows, 2 and 100 timers only, scale with 0 and 1,000 idle timers"],
    cost_note="quick mode: the cost at XTIMER_ENQUEUE_AHEAD_SECONDS=120, as the local stack (deployed: 600, "
              "which writes each cursor less often: cheaper, the sparse scenario most)",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the short suite (under 3 minutes)")
    p.add_argument("--out", type=Path, default=None,
                   help="directory for this run's files (None: bench/results/suite-<time>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _latest_json(directory: Path, pattern: str) -> dict[str, Any]:
    found = sorted(directory.glob(pattern))
    if not found:
        raise RuntimeError(f"no {pattern} in {directory}")
    return json.loads(found[-1].read_text(encoding="utf-8"))


def _relative(path: Path) -> str:
    """`path` relative to the repository (the subprocesses run there), for shorter commands in the report."""
    try:
        return str(path.resolve().relative_to(machine.ROOT))
    except ValueError:
        return str(path)


def _subprocess(args: list[str]) -> None:
    log("running " + shlex.join(["python", *args[1:]]))
    done = subprocess.run(args, cwd=machine.ROOT, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(args[1:])} exited with {done.returncode}")


class Steps:
    """Runs the suite's steps, each timed and logged into `record` (name, seconds, error). A step
    that fails logs its traceback and gives None: one failed step must not lose the others' figures."""

    def __init__(self, record: list[dict[str, Any]]) -> None:
        self.record = record

    def __call__(self, name: str, function: Callable[[], Any]) -> Any:
        t0 = time.time()
        log(f"== {name}")
        entry: dict[str, Any] = {"name": name}
        try:
            return function()
        except Exception as error:
            traceback.print_exc()
            entry["error"] = f"failed: {error}".splitlines()[0][:300]
            return None
        finally:
            entry["seconds"] = round(time.time() - t0, 1)
            self.record.append(entry)
            log(f"== {name}: {entry['seconds']} s{' (' + entry['error'] + ')' if 'error' in entry else ''}")


def out_dir(args: argparse.Namespace) -> Path:
    """--out, or bench/results/suite-<time>[-quick]; created."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or report.RESULTS / f"suite-{stamp}{'-quick' if args.quick else ''}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def new_document(args: argparse.Namespace, argv: list[str], plan: Plan, out: Path) -> dict[str, Any]:
    """suite.json before the steps: the command, the machine and the plan."""
    return {
        "benchmark": "suite", "mode": "quick" if args.quick else "full",
        "command": "python -m bench.suite" + (" " + shlex.join(argv) if argv else ""),
        "machine": machine.describe(), "out": str(out), "steps": [], "series": [], "scale": {},
        "plan": {"series": [s.__dict__ for s in plan.series], "scale_flat": plan.scale_flat,
                 "scale_cost": plan.scale_cost, "throughput": plan.throughput, "fairness": plan.fairness.__dict__,
                 "notes": plan.notes},
    }


def run_series(plan: Plan, out: Path, step: Steps, progress: bool) -> list[dict[str, Any]]:
    """Every series of the plan, each on a fresh stack; the results of those that did not fail."""
    results = []
    for cfg in plan.series:
        result = step(series.title(cfg), lambda cfg=cfg: series.run(cfg, out / "raw", series.label(cfg),
                                                                     progress=progress))
        if result is not None:
            results.append(result)
    return results


def run_scale(arguments: list[str], directory: Path) -> dict[str, Any]:
    """bench.scale in a subprocess, writing into `directory`; its JSON."""
    _subprocess([sys.executable, "-m", "bench.scale", *arguments, "--out", _relative(directory)])
    return _latest_json(directory, "scale-*.json")


def run_scales(plan: Plan, out: Path, step: Steps) -> dict[str, Any]:
    """The flat scale run, and the cost run at the deployed ahead when the plan has one."""
    scale = {"flat": step("scale: work per fire against idle timers",
                          lambda: run_scale(plan.scale_flat, out / "scale"))}
    if plan.scale_cost is not None:
        cost = plan.scale_cost
        scale["cost"] = step("scale: requests per fire as deployed (ahead 600 s)",
                             lambda: run_scale(cost, out / "scale-cost"))
    return scale


def run_throughput(plan: Plan, out: Path, no_progress: bool) -> dict[str, Any]:
    """bench.throughput in a subprocess, writing out/throughput.json; its JSON."""
    _subprocess([sys.executable, "-m", "bench.throughput", *plan.throughput,
                 "--json", _relative(out / "throughput.json")] + (["--no-progress"] if no_progress else []))
    return json.loads((out / "throughput.json").read_text(encoding="utf-8"))


def run_herd(plan: Plan, out: Path) -> dict[str, Any]:
    """bench.load with every timer due at second 0 (the herd), in a subprocess; its JSON."""
    _subprocess([sys.executable, "-m", "bench.load", *plan.herd, "--label", "herd", "--out", _relative(out / "herd")])
    return _latest_json(out / "herd", "load-*-herd.json")


def run_bareloop(plan: Plan, out: Path) -> dict[str, Any]:
    """bench.bareloop in a subprocess: the same callbacks from a plain thread pool, no AWS."""
    _subprocess([sys.executable, "-m", "bench.bareloop", *plan.bareloop, "--json", _relative(out / "bareloop.json")])
    return json.loads((out / "bareloop.json").read_text(encoding="utf-8"))


def run_aws_model(throughput: dict[str, Any] | None) -> dict[str, Any]:
    """bench.aws_model with this run's worker CPU per fire (bucket design) and the per-fire
    design's measured figure (aws_model.PER_FIRE_CPU_MS)."""
    worker = (throughput or {}).get("worker") or {}
    own = next((v for k, v in worker.get("cpu_s", {}).items() if k.startswith("bench")), None)
    if not own or not worker.get("callbacks"):
        raise RuntimeError("no worker CPU figure from the throughput step")
    return aws_model.run([10_000, 100_000], aws_model.PER_FIRE_CPU_MS, own / worker["callbacks"] * 1000)


def draw(doc: dict[str, Any], out: Path) -> None:
    """The plots of what the steps measured."""
    if doc["series"]:
        plots.lateness(doc["series"], out / "lateness.png")
        plots.rates(doc["series"], out / "rates.png")
    if doc["scale"].get("flat"):
        plots.work_per_fire(doc["scale"]["flat"]["runs"], out / "work.png")


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """The suite: the plan's series, scale, throughput, then the costs, plots and report."""
    plan = QUICK if args.quick else FULL
    out = out_dir(args)
    began = time.time()
    doc = new_document(args, argv, plan, out)
    step = Steps(doc["steps"])
    doc["series"] = run_series(plan, out, step, progress=not args.no_progress)
    doc["herd"] = step("herd: 300 timers due at second 0", lambda: run_herd(plan, out))
    doc["fairness"] = step("fairness: app B while app A's receiver hangs (and the baseline)",
                           lambda: fairness.run(plan.fairness, out / "raw"))
    doc["bareloop"] = step("bare loop: the same callbacks from a plain thread pool", lambda: run_bareloop(plan, out))
    doc["scale"] = run_scales(plan, out, step)
    doc["throughput"] = step("throughput: one tick, one worker process",
                             lambda: run_throughput(plan, out, args.no_progress))
    doc["aws_model"] = step("AWS model: the midnight herd (a model)", lambda: run_aws_model(doc["throughput"]))
    if doc["scale"].get("flat"):
        doc["costs"] = costs.compare(xtimer_scenarios(doc["scale"]["flat"], doc["scale"].get("cost")))
        doc["costs"]["note"] = plan.cost_note
    step("plots", lambda: draw(doc, out))
    doc["elapsed_s"] = round(time.time() - began, 1)
    doc["load_average_at_end"] = machine.load_average()
    write(doc, out)
    return doc


def xtimer_scenarios(flat: dict[str, Any], cost: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The columns of the cost table in docs/costs.md, from bench.scale runs: the sparse scenario (from
    `cost`, the run at the deployed XTIMER_ENQUEUE_AHEAD_SECONDS, when there is one), the busy
    scenario with the most idle timers (from `flat`), and the herd (from `cost` if it has one)."""
    sparse = next(r for r in (cost or flat)["runs"] if r["scenario"]["label"] == "sparse")
    busy_runs = [r for r in flat["runs"] if r["scenario"]["label"] == "busy"]
    ahead = busy_runs[0]["scenario"]["ahead"] if busy_runs else None
    columns = {f"sparse, 1 fire per invocation, ahead {sparse['scenario']['ahead']} s": sparse["per_fire"]}
    if busy_runs:
        busy = max((r for r in busy_runs if r["scenario"]["ahead"] == ahead), key=lambda r: r["scenario"]["idle"])
        columns[f"busy, batches of 10, {busy['scenario']['idle']:,} idle, ahead {ahead} s"] = busy["per_fire"]
    herd = next((r for run in (cost, flat) if run for r in run["runs"] if r["scenario"]["label"] == "herd"), None)
    if herd:
        columns[f"herd, {herd['scenario']['minutely']} timers due at second 0, batches of 10, "
                f"ahead {herd['scenario']['ahead']} s"] = herd["per_fire"]
    return columns


def write(doc: dict[str, Any], out: Path) -> None:
    (out / "suite.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report.suite_markdown(doc), encoding="utf-8")
    if out.parent.resolve() == report.RESULTS.resolve():
        prefix = out.name + "/"
        (report.RESULTS / "latest.md").write_text(report.suite_markdown(doc, image_prefix=prefix), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    doc = run(args, argv)
    print()
    print(report.suite_markdown(doc))
    log(f"wrote {doc['out']}/report.md, suite.json and the plots in {doc['elapsed_s']:.0f} s")
    return 1 if any(s.get("error") for s in doc["steps"]) else 0


if __name__ == "__main__":
    sys.exit(main())

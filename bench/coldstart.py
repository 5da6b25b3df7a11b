"""Cold start of the packaged functions: import plus first invocation, run from deployment.zip.

    python -m bench.coldstart                    # make bench-coldstart; 5 runs of each
    python -m bench.coldstart --runs 9 --no-importtime

Each run is a cold start as Lambda makes one: a fresh `python3.11 -I -S` on the unpacked,
read-only zip (xtimer_deploy.lambda_sandbox), timed from the spawn to the end of the handler's
import (init), then the first invocation, against a moto server provisioned as the stage
(xtimer_deploy.rehearsal). First invocations: the API answers getTimer for a timer that does not
exist (the key look-up and the timer read: its first AWS clients), the tick ticks over an empty
stage, the worker takes a fire of a deleted timer (reads it, drops it).

Four layouts of the same code, to decide whether to bundle boto3 and botocore:
    bundled            the zip as `make package` writes it (boto3, botocore inside; no .pyc)
    bundled+pyc        the same with .pyc files written before the tree is made read-only
    runtime            the zip without boto3, botocore, s3transfer, jmespath; the venv's copies
                       of those in LAMBDA_RUNTIME_DIR, standing in for the runtime's own
    runtime+pyc        that, with .pyc in both
and `python -X importtime` of app.py's import (all three functions' handlers are in it) in the
bundled and bundled+pyc layouts: where the init time goes.
Prints a table and writes JSON + Markdown to bench/results/coldstart-<time>.*.
"""
from __future__ import annotations

import argparse
import compileall
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import machine
from bench.report import RESULTS
from xtimer_deploy.lambda_sandbox import (FunctionConfig, Sandbox, function_configs, load_event, make_read_only,
                                          make_writable)
from xtimer_deploy.packaging import package
from xtimer_deploy.rehearsal import MotoStage, moto_stage
from xtimer_deploy.stage import PROJECT_DIR, load_stage

FIXTURES = PROJECT_DIR / "tests" / "e2e" / "fixtures"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath")
"""What the Lambda python3.11 runtime ships that the zip bundles (it also has dateutil, six and
urllib3 1.x; those stay in the zip: croniter needs dateutil, requests wants urllib3 2)."""
APP = "coldstart"
PHASES = ("init", "import", "first_invocation", "total", "init_cpu", "total_cpu")
"""Wall-clock seconds (spawn to handler imported, the import alone, the first invocation, their
sum) and the process's CPU seconds (to the end of init, to the end of the first invocation):
the CPU figures move far less with the load of a shared machine."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="cold starts per function and layout")
    p.add_argument("--stage", default="prod")
    p.add_argument("--package-dir", type=Path, default=None,
                   help="an existing `make package` output to use (default: package the stage into a temp dir)")
    p.add_argument("--no-importtime", action="store_true", help="skip the -X importtime breakdown")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def first_events(moto: MotoStage) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each function's first invocation (see the module's docstring); built fresh for each run."""
    key = moto.issue_key(APP)

    def fire() -> dict[str, Any]:
        body = json.dumps({"timerId": 1, "app": APP, "fireMs": int(time.time()) * 1000, "generation": 1},
                          separators=(",", ":"))
        return load_event(FIXTURES / "sqs_fire.json", MESSAGE_ID="00000000-0000-0000-0000-000000000001",
                          RECEIPT_HANDLE="not-a-real-receipt", BODY=body, MD5_OF_BODY="-", RECEIVE_COUNT=1,
                          SENT_TIMESTAMP=int(time.time() * 1000), FIRST_RECEIVE_TIMESTAMP=int(time.time() * 1000))

    return {
        "APIHandler": lambda: load_event(FIXTURES / "apigw_get_timer.json", API_KEY=key, TIMER_ID=1),
        "Tick": lambda: load_event(FIXTURES / "eventbridge_tick.json",
                                   TIME=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        "Worker": fire,
    }


def runtime_stand_in(directory: Path) -> Path:
    """The venv's boto3, botocore, s3transfer and jmespath, copied (in place of /var/runtime)."""
    import importlib

    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        source = Path(importlib.import_module(name).__file__).parent  # type: ignore[arg-type]
        shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def slim_zip(deployment_zip: Path, out: Path) -> Path:
    """The zip without RUNTIME_PACKAGES (and their .dist-info), to measure its size."""
    with zipfile.ZipFile(deployment_zip) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if not _runtime_member(info.filename):
                target.writestr(info, source.read(info))
    return out


def _runtime_member(name: str) -> bool:
    top = name.split("/", 1)[0]
    return top in RUNTIME_PACKAGES or any(re.fullmatch(rf"{p}-[^/]+\.dist-info", top) for p in RUNTIME_PACKAGES)


def runtime_members(deployment_zip: Path) -> list[str]:
    with zipfile.ZipFile(deployment_zip) as archive:
        return sorted({n.split("/", 1)[0] for n in archive.namelist() if _runtime_member(n)})


def zip_facts(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    return {"bytes": path.stat().st_size, "mb": round(path.stat().st_size / 1e6, 1), "files": len(infos),
            "unpacked_mb": round(sum(i.file_size for i in infos) / 1e6, 1)}


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"median_ms": round(statistics.median(ms)), "min_ms": round(min(ms)), "max_ms": round(max(ms))}


def cold_start(sandbox: Sandbox, config: FunctionConfig, moto: MotoStage, event: dict[str, Any]) -> dict[str, float]:
    """One cold start: a new process, its init phase, its first invocation."""
    function = sandbox.start(config, extra_env=moto.function_env)
    invocation = function.invoke(event)
    function.stop()
    return {"init": function.started_seconds, "import": function.init["import_seconds"],
            "first_invocation": invocation.seconds, "total": function.started_seconds + invocation.seconds,
            "init_cpu": function.init["cpu_seconds"], "total_cpu": invocation.cpu_seconds}


IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def import_breakdown(log: str, top: int = 8) -> dict[str, Any]:
    """`-X importtime` lines -> self time summed by top-level package, biggest first."""
    by_package: Counter[str] = Counter()
    for self_us, _cumulative, _indent, module in IMPORTTIME.findall(log):
        by_package[module.split(".", 1)[0]] += int(self_us)
    total = sum(by_package.values())
    return {"total_ms": round(total / 1000), "by_package_ms": {
        name: round(us / 1000) for name, us in by_package.most_common(top)}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    stage = load_stage(args.stage)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xtimer-coldstart-")))
        scratch.chmod(0o755)  # the functions run as nobody when this is root: they must reach the runtime dirs
        stack.callback(make_writable, scratch)
        if args.package_dir:
            directory = args.package_dir
        else:
            directory = package(stage, scratch / "package", run_lint=False).directory
        deployment_zip = directory / "deployment.zip"
        configs = function_configs(json.loads((directory / "sam.json").read_text()))
        left_out = runtime_members(deployment_zip)
        moto = stack.enter_context(moto_stage(stage))
        events = first_events(moto)
        runtime_plain = runtime_stand_in(scratch / "runtime")
        runtime_pyc = runtime_stand_in(scratch / "runtime-pyc")
        compileall.compile_dir(str(runtime_pyc), quiet=2)
        make_read_only(runtime_plain)
        make_read_only(runtime_pyc)
        layouts = {
            "bundled": dict(),
            "bundled+pyc": dict(precompile=True),
            "runtime": dict(leave_out=left_out, runtime_dir=runtime_plain),
            "runtime+pyc": dict(leave_out=left_out, runtime_dir=runtime_pyc, precompile=True),
        }
        sandboxes = {layout: stack.enter_context(Sandbox.unpack(deployment_zip, **options))  # type: ignore[arg-type]
                     for layout, options in layouts.items()}
        samples: dict[str, dict[str, list[dict[str, float]]]] = {
            layout: {logical_id: [] for logical_id in configs} for layout in layouts}
        # Round-robin, so that a change in the machine's load (it is shared) hits every layout alike.
        for number in range(1, args.runs + 1):
            for layout, sandbox in sandboxes.items():
                for logical_id, config in configs.items():
                    samples[layout][logical_id].append(cold_start(sandbox, config, moto, events[logical_id]()))
            print(f"  run {number}/{args.runs} done", flush=True)
        results = {layout: {logical_id: {phase: summary([s[phase] for s in runs])
                                         for phase in PHASES}
                            for logical_id, runs in functions.items()}
                   for layout, functions in samples.items()}
        importtime: dict[str, Any] = {}
        for layout in () if args.no_importtime else ("bundled", "bundled+pyc"):
            # The three functions import the same app.py: one import tells for all of them.
            with Sandbox.unpack(deployment_zip, **layouts[layout]) as sandbox:  # type: ignore[arg-type]
                function = sandbox.start(configs["APIHandler"], extra_env=moto.function_env,
                                         python_flags=["-X", "importtime"])
                function.stop()
                importtime[layout] = import_breakdown(function.log)
        sizes = {"bundled": zip_facts(deployment_zip),
                 "runtime": zip_facts(slim_zip(deployment_zip, scratch / "slim.zip")),
                 "left_out_of_runtime_zip": left_out}
    return {"benchmark": "coldstart", "machine": {**machine.describe(), **machine_text()},
            "config": {"runs": args.runs, "stage": args.stage}, "sizes": sizes, "results": results,
            "importtime": importtime}


def machine_text() -> dict[str, str]:
    """`lscpu | head` and `python3.11 --version`, as docs/deploying.md quotes them."""
    def output(command: str) -> str:
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        return (done.stdout + done.stderr).strip()

    from xtimer_deploy.lambda_sandbox import interpreter

    return {"lscpu_head": output("lscpu | head"), "python3_11": output("python3.11 --version"),
            "function_interpreter": output(f"{interpreter()} --version") + f" ({interpreter()})"}


def table(doc: dict[str, Any]) -> str:
    sizes = doc["sizes"]
    lines = [f"cold start, {doc['config']['runs']} runs each, {doc['machine']['date']}",
             f"zip: bundled {sizes['bundled']['mb']} MB, {sizes['bundled']['files']} files "
             f"({sizes['bundled']['unpacked_mb']} MB unpacked); without {', '.join(RUNTIME_PACKAGES)} "
             f"{sizes['runtime']['mb']} MB, {sizes['runtime']['files']} files ({sizes['runtime']['unpacked_mb']} MB)",
             "",
             "| layout | function | init (spawn to handler imported) | first invocation | total | CPU, init | CPU, total |",
             "|---|---|---|---|---|---|---|"]
    for layout, functions in doc["results"].items():
        for logical_id, r in functions.items():
            cells = [f"{r[k]['median_ms']} ({r[k]['min_ms']}-{r[k]['max_ms']})"
                     for k in ("init", "first_invocation", "total", "init_cpu", "total_cpu")]
            lines.append(f"| {layout} | {logical_id} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("ms: median (min-max)")
    for layout, breakdown in doc["importtime"].items():
        parts = ", ".join(f"{k} {v}" for k, v in breakdown["by_package_ms"].items())
        lines.append(f"-X importtime, import app ({layout}): {breakdown['total_ms']} ms in all, by package: {parts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    doc = run(args)
    text = table(doc)
    print(text)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"coldstart-{stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"coldstart-{stamp}.md").write_text(
        "# Cold start (bench/coldstart.py)\n\n" + text + "\n\nMachine:\n\n```\n" + doc["machine"]["lscpu_head"]
        + "\n" + doc["machine"]["python3_11"] + "\nfunctions ran on " + doc["machine"]["function_interpreter"]
        + "\n```\n")
    print(f"\nwrote {args.out}/coldstart-{stamp}.json and .md")


if __name__ == "__main__":
    main()

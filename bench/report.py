"""Results as a table on the terminal, a JSON file and a Markdown summary under bench/results/."""
from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench.machine import one_line

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(x: Any) -> str:
    return "-" if x is None else f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def _outside(in_window: int, anywhere: int) -> str:
    return str(in_window) + (f" (+{anywhere - in_window} outside the window)" if anywhere > in_window else "")


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the targets of issue 3."""
    p99 = result["lateness_ms"]["p99"]
    return [
        ("p99 lateness <= 500 ms", f"{_ms(p99)} ms", p99 is not None and p99 <= 500),
        ("p99 lateness <= 100 ms (stretch)", f"{_ms(p99)} ms", p99 is not None and p99 <= 100),
        ("never early", _outside(result["early"], result["problems"].get("early_anywhere", 0)),
         result["problems"].get("early_anywhere", 0) == 0),
        ("no duplicates", _outside(result["duplicates"], result["problems"].get("duplicates_anywhere", 0)),
         result["problems"].get("duplicates_anywhere", 0) == 0),
        ("none missing", str(result["missing"]), result["missing"] == 0),
    ]


def table(run: dict[str, Any]) -> str:
    r = run["result"]
    lat = r["lateness_ms"]
    lines = [
        f"precision: {run['config']['timers']} timers, {r['window']['seconds']} s window "
        f"{r['window']['start']} .. {r['window']['end']}",
        f"machine:   {one_line(run['machine'])}",
        "",
        f"  fires expected   {r['expected']:>8}   (mean {r['fires_per_second']['mean']}/s, "
        f"peak {r['fires_per_second']['max']} in one second)",
        f"  fires received   {r['fires_received']:>8}",
        f"  lateness ms      p50 {_ms(lat['p50'])}   p90 {_ms(lat['p90'])}   p99 {_ms(lat['p99'])}   "
        f"max {_ms(lat['max'])}   (min {_ms(lat['min'])}, mean {_ms(lat['mean'])})",
        f"  early            {r['early']:>8}",
        f"  duplicates       {r['duplicates']:>8}   (idempotency keys seen twice: {r['duplicate_idempotency_keys']})",
        f"  missing          {r['missing']:>8}",
        f"  unexpected       {r['unexpected']:>8}   (fires off the cron schedule)",
        f"  throughput       {r['arrivals_in_window']['per_second']:>8}/s (callbacks arriving in the window, whatever "
        f"their fire time; their lateness p50 {_ms(r['arrivals_in_window']['lateness_ms']['p50'])} ms)",
    ]
    if r["problems"]:
        lines.append(f"  other problems   {r['problems']}")
        for kind, texts in r.get("problem_examples", {}).items():
            lines += [f"    {kind}: {t}" for t in texts]
    st = run["stack"]
    if st.get("cpu_percent"):
        lines.append("  cpu, % of a core " + "   ".join(f"{k} {v}" for k, v in st["cpu_percent"].items())
                     + "   (ms per callback made: " + ", ".join(f"{k} {v}" for k, v in st["cpu_ms_per_fire"].items()) + ")")
    lines += ["", "  by cron              count     p50     p90     p99     max"]
    for cron, s in r["by_cron"].items():
        lines.append(f"  {cron:<18} {s['count']:>7} {_ms(s['p50']):>7} {_ms(s['p90']):>7} "
                     f"{_ms(s['p99']):>7} {_ms(s['max']):>7}")
    for phase, s in r["by_phase"].items():
        lines.append(f"  {phase:<26} p50 {_ms(s['p50'])}  p99 {_ms(s['p99'])}  max {_ms(s['max'])}  ({s['count']})")
    lines.append("")
    for target, measured, met in verdicts(r):
        lines.append(f"  [{'PASS' if met else 'FAIL'}] {target}: {measured}")
    return "\n".join(lines)


def _markdown_summary(run: dict[str, Any]) -> list[str]:
    """The title, command, machine, what ran, the lateness table and the targets."""
    r = run["result"]
    lat = r["lateness_ms"]
    m = run["machine"]
    cfg = run["config"]
    return [
        f"# Precision benchmark, {m['date']}",
        "",
        f"Command: `{run['command']}`",
        "",
        f"Machine: {one_line(m)}; load average at start {m.get('load_average_at_start')}; "
        f"commit {m.get('git_commit')}{' (with local changes)' if m.get('git_dirty') else ''}.",
        "",
        f"{cfg['timers']} timers ({', '.join(f'`{c}`' for c in cfg['crons'])}, spread evenly), "
        f"local stack with {cfg['pollers'] if cfg['pollers'] is not None else 'its default number of'} pollers; "
        f"window {r['window']['start']} .. {r['window']['end']} ({r['window']['seconds']} s), "
        f"{r['expected']} fires expected (mean {r['fires_per_second']['mean']}/s, "
        f"peak {r['fires_per_second']['max']} in one second).",
        "",
        "| fires | p50 ms | p90 ms | p99 ms | max ms | early | duplicates | missing |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['fires_received']} | {_ms(lat['p50'])} | {_ms(lat['p90'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} "
        f"| {r['early']} | {r['duplicates']} | {r['missing']} |",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        *[f"| {t} | {v} | {'yes' if ok else 'no'} |" for t, v, ok in verdicts(r)],
        "",
    ]


def _markdown_by_cron(r: dict[str, Any]) -> list[str]:
    """Lateness by cron and by second of the minute."""
    return [
        "By cron and by second of the minute (the tick runs at second 0):",
        "",
        "| fires of | count | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| `{k}` | {s['count']} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | {_ms(s['max'])} |"
          for k, s in r["by_cron"].items()],
        *[f"| {k} | {s['count']} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | {_ms(s['max'])} |"
          for k, s in r["by_phase"].items()],
        "",
    ]


def _markdown_throughput_and_checks(run: dict[str, Any]) -> list[str]:
    """Callbacks a second, the checks on every callback and the CPU used."""
    r = run["result"]
    m = run["machine"]
    return [
        f"Throughput: {r['arrivals_in_window']['per_second']} callbacks/s arrived during the window "
        f"(whatever their fire time; their lateness p50 {_ms(r['arrivals_in_window']['lateness_ms']['p50'])} ms, "
        f"max {_ms(r['arrivals_in_window']['lateness_ms']['max'])} ms).",
        "",
        f"Checks on every callback, inside the window or not (timer id, idempotency key, fire-time header, "
        f"method and body, early, duplicate): {r['problems'] or 'none failed'}; unexpected fires: {r['unexpected']}.",
        *[f"- {kind}: {t}" for kind, texts in r.get("problem_examples", {}).items() for t in texts],
        "",
        "CPU over the window, in % of one core (the machine has "
        f"{m['nproc']}): " + (", ".join(f"{k} {v}" for k, v in run['stack'].get('cpu_percent', {}).items()) or "-")
        + "; CPU ms per callback made: "
        + (", ".join(f"{k} {v}" for k, v in run['stack'].get('cpu_ms_per_fire', {}).items()) or "-")
        + f"; load average at the end {run['stack'].get('load_average_at_end')}.",
        "",
    ]


def markdown(run: dict[str, Any]) -> str:
    """A precision run's summary, bench/results/precision-<time>.md."""
    return "\n".join(_markdown_summary(run) + _markdown_by_cron(run["result"]) + _markdown_throughput_and_checks(run))


def stem(kind: str, label: str = "") -> str:
    """A run's result files' name: <kind>-<UTC time>[-<label>]."""
    return f"{kind}-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + (f"-{label}" if label else "")


def command(module: str) -> str:
    """This process's command line, as `python -m <module> ...`, for the reports."""
    return f"python -m {module}" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")


def write(run: dict[str, Any], stem: str, directory: Path = RESULTS,
          render: Callable[[dict[str, Any]], str] = markdown) -> tuple[Path, Path]:
    """<stem>.json (written whole or not at all) and <stem>.md, `render`ed from the run."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    md_path = directory / f"{stem}.md"
    md_path.write_text(render(run), encoding="utf-8")
    return json_path, md_path


# --- the suite (bench.suite): one report for every part ----------------------------------------

def _num(x: Any, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _ratio(x: Any) -> str:
    return "-" if x is None else f"{x:,.0f}x" if x >= 10 else f"{x:.1f}x"


def _series_rows(series: list[dict[str, Any]]) -> list[str]:
    rows = ["| timers | window s | fires due/s | delivered/s | | design | fires | p50 ms | p90 ms | p99 ms | max ms "
            "| early | duplicates | missing |",
            "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in series:
        r, n = s["xtimer"], s["naive"]["result"]
        lat = r["lateness_ms"]
        state = "**saturated**" if s["saturated"] else "keeps up"
        rows.append(f"| {s['config']['timers']:,} | {r['window']['seconds']} | {s['offered_per_s']} "
                    f"| {s['delivered_per_s']} | {state} | xtimer | {r['expected']:,} due, {r['fires_received']:,} "
                    f"came | {_ms(lat['p50'])} | {_ms(lat['p90'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} "
                    f"| {r['early']} | {r['duplicates']} | {r['missing']:,} |")
        if n:
            nl = n["lateness_ms"]
            rows.append(f"| | | | | | naive minute tick | {n['expected']:,} due, {n['fires_received']:,} came "
                        f"| {_ms(nl['p50'])} | {_ms(nl['p90'])} | {_ms(nl['p99'])} | {_ms(nl['max'])} "
                        f"| {n['early']} | {n['duplicates']} | {n['missing']:,} |")
        else:
            rows.append("| | | | | | naive minute tick | no minute boundary in the run | | | | | | | |")
    return rows


def _creation_row(s: dict[str, Any]) -> str:
    """A series' row of the second table: its window, creation, naive ticks and ratios."""
    cfg, made, nv = s["config"], s["creation"], s["naive"]
    retried = sum(made["retries_after_500"].values())
    overran = made["enable_overran_window_s"]
    window = f"{cfg['window_s']} s, grace {cfg['grace_s']:.0f} s" + (
        ", held to the window minutes" if cfg["hold"] else "")
    created = (f"{made['seconds']} s ({made['per_second']}/s" + (f", retried {retried}" if retried else "")
               + (f", enabling overran the window start by {overran} s" if overran else "") + ")")
    ticks = f"{len(nv['ticks'])} ({nv['timers']:,}" + (f", every {nv['stride']}th" if nv["stride"] > 1 else "") + ")"
    p50, p99 = _ratio(s["ratio"]["p50"]), _ratio(s["ratio"]["p99"])
    ratios = (f"{p50}, not comparable (saturated) | {p99}, not comparable (saturated)" if s["saturated"]
              else f"{p50} | {p99}")
    return f"| {cfg['timers']:,} | {window} | {created} | {ticks} | {ratios} |"


def _series_note(s: dict[str, Any]) -> str:
    """A series' line under the plots: held, saturated, CPU, failed checks."""
    notes = []
    if s["config"]["hold"]:
        notes.append(f"crons held to the window's minutes ({s['crons'][0]}, ...): the timers are created "
                     "and enabled before their first fire, and the window starts on a minute boundary")
    if s["saturated"]:
        notes.append(f"saturated: {s['delivered_per_s']} callbacks/s delivered, {s['offered_per_s']} "
                     f"due/s; the fire queue held up to {s['stack'].get('queue_max', '-')} messages; its "
                     f"lateness figures are of the {s['xtimer']['fires_received']:,} fires that came within "
                     "the grace (the backlog's first), not of all, so they and its ratios to the naive "
                     "design understate how late it is")
    cpu = s["stack"].get("cpu_percent_in_window")
    if cpu:
        notes.append("CPU in the window, % of one core: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    problems = s["xtimer"]["problems"]
    if problems:
        notes.append(f"checks on every callback: {problems}")
    n = s["config"]["timers"]
    return f"- {n:,} timer{'' if n == 1 else 's'}: " + "; ".join(notes) + "."


def _suite_header(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """The title, the command, the machine, the steps' times and the plan's notes."""
    m = doc["machine"]
    return [
        f"# Benchmark suite ({doc['mode']}), {m['date']}",
        "",
        f"Command: `{doc['command']}` (`make bench{' ARGS=--quick' if doc['mode'] == 'quick' else ''}`), "
        f"{_num(doc['elapsed_s'], 0)} s wall time.",
        "",
        f"Machine: {one_line(m)}; load average at the start {m.get('load_average_at_start')}, at the end "
        f"{doc.get('load_average_at_end')}; commit {m.get('git_commit')}"
        f"{' (with local changes)' if m.get('git_dirty') else ''}.",
        "",
        "| step | seconds | |",
        "|---|---:|---|",
        *[f"| {s['name']} | {_num(s['seconds'], 0)} | {s.get('error') or ''} |" for s in doc["steps"]],
        "",
        *[f"Note: {n}." for n in doc.get("plan", {}).get("notes", [])],
        "",
    ]


def _precision_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """The series: xtimer's and the naive design's lateness, creation, ratios, plots and notes."""
    series = doc.get("series") or []
    if not series:
        return []
    period = series[0]["config"]["period_s"]
    return [
        "## Precision: lateness of callbacks on the local stack",
        "",
        f"One fresh local stack (`python -m xtimer_local`) per series; timer i has the cron "
        f"`{{i % {period}}}/{period} * * * * *`, so every timer fires every {period} s and N / {period} fires fall "
        "due each second. Callbacks go to a receiver on 127.0.0.1; lateness is arrival minus "
        "`X-Xtimer-Fire-Time`, of each fire's first call. Fires due in the window are measured; late "
        "callbacks are awaited until all have come or the series' grace runs out, and what has not come "
        "by then counts as **missing**. A series is **saturated** when the stack delivered fewer "
        "callbacks a second during the window than fell due (5% tolerance).",
        "",
        *_series_rows(series),
        "",
        "| timers | windows and grace | created and enabled | naive ticks (timers) | naive / xtimer p50 | naive / xtimer p99 |",
        "|---:|---|---|---|---:|---:|",
        *[_creation_row(s) for s in series],
        "",
        "The naive design ticks once a minute and sends every fire that came due in the past minute "
        "right away: it runs in the benchmark's process against the same timers' schedules and posts "
        "to the same receiver (under `/naive/`), at every minute boundary during the series. Its fires "
        "are those its ticks send, i.e. the whole minutes ending at those boundaries, which can begin "
        "before xtimer's window when the window is shorter than a minute or does not start on one. "
        "When a minute holds more fires than the cap, it takes every k-th timer (all of its fires) so "
        "that one tick sends about the cap; a sample of timers has the same lateness distribution, "
        "which depends only on the second of the minute a fire falls on (and on the send burst).",
        "",
        f"![lateness]({image_prefix}lateness.png)",
        "",
        f"![offered and delivered]({image_prefix}rates.png)",
        "",
        *[_series_note(s) for s in series],
        "",
    ]


def _scale_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """bench.scale's busy runs: work per fire against idle timers."""
    flat = (doc.get("scale") or {}).get("flat")
    if not flat:
        return []
    return [
        "## Scale of the minute path: work per fire against idle timers",
        "",
        f"`{flat['command']}`: in-process on moto with a fake clock (bench/scale.py's method: every AWS call "
        "counted with a botocore handler; DynamoDB units computed from item sizes), 20 timers every "
        "minute and 1 every second beside N enabled but idle timers.",
        "",
        "| idle timers | ahead s | fires | DynamoDB req/fire | SQS req/fire | RRU/fire | WRU/fire "
        "| items the tick reads/tick | tick queries/tick | tick ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['scenario']['idle']:,} | {r['scenario']['ahead']} | {r['per_fire']['fires']} "
          f"| {r['per_fire']['dynamodb_requests']:.3f} | {r['per_fire']['sqs_requests']:.3f} "
          f"| {r['per_fire']['rru']:.3f} | {r['per_fire']['wru']:.3f} "
          f"| {r['per_fire']['tick_items_read_per_tick']:.0f} | {r['per_fire']['tick_queries_per_tick']:.0f} "
          f"| {r['per_fire']['tick_wall_ms_mean']:.0f} |"
          for r in flat["runs"] if r["scenario"]["label"] == "busy"],
        "",
        flat["verdict"],
        "",
        f"![work per fire]({image_prefix}work.png)",
        "",
    ]


def _costs_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """xtimer's measured cost per million fires beside EventBridge Scheduler's and Step Functions'."""
    costs = doc.get("costs")
    if not costs:
        return []
    out = ["## Cost per million fires", "",
           "| design | requests per fire | $ per million fires |", "|---|---|---:|"]
    for label, x in costs["xtimer"].items():
        req = ", ".join(f"{k} {v}" for k, v in x["requests_per_fire"].items())
        units = ", ".join(f"{k} {v}" for k, v in x["units_per_fire"].items())
        out.append(f"| xtimer, {label} (measured) | {req}; {units} | **{x['usd_per_million_fires']:.2f}** |")
    out.append(f"| Amazon EventBridge Scheduler (price) | 1 invocation | "
               f"**{costs['eventbridge_scheduler']['usd_per_million_fires']:.2f}** |")
    for key, what in (("step_functions_standard", "Step Functions Standard, Wait-state loop (model)"),
                      ("step_functions_standard_cron", "the same, next cron fire computed by a Lambda (model)")):
        sf = costs[key]
        out.append(f"| {what} | {sf['transitions_per_fire']} state transitions | "
                   f"**{sf['usd_per_million_fires']:.2f}** |")
    out += ["", "xtimer's cost by part ($ per million fires):", ""]
    parts = list(next(iter(costs["xtimer"].values()))["usd_by_part"])
    out += ["| part | " + " | ".join(costs["xtimer"]) + " |", "|---|" + "---:|" * len(costs["xtimer"])]
    out += [f"| {p} | " + " | ".join(f"{x['usd_by_part'][p]:.2f}" for x in costs["xtimer"].values()) + " |"
            for p in parts]
    out += ["", "The models' arithmetic:", ""]
    out += [f"- EventBridge Scheduler: {line}" for line in costs["eventbridge_scheduler"]["arithmetic"]]
    out += [f"- Step Functions: {line}" for line in costs["step_functions_standard"]["arithmetic"]]
    out += [f"- Step Functions, cron: {line}" for line in costs["step_functions_standard_cron"]["arithmetic"]]
    out += [f"- Assumed: {a}." for a in costs["assumptions"]]
    if costs.get("note"):
        out.append(f"- {costs['note']}")
    out.append("")
    return out


def _throughput_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """bench.throughput: what one tick enqueues and one worker process delivers."""
    tp = doc.get("throughput")
    if not tp:
        return []
    t, w = tp["tick"], tp["worker"]
    return [
        "## Throughput on this machine",
        "",
        f"`{tp['command']}`: the service's own Tick and worker handler in one process, against the local "
        "stack's moto in a process of its own (so on this machine moto's CPU is part of the figure).",
        "",
        "| | measured | per |",
        "|---|---:|---|",
        f"| one tick: timers due / fires enqueued | {t['timers']:,} / {t['enqueued']:,} in {t['wall_s']} s "
        f"| {t['fires_per_s']:,} fires/s, {t['timers_per_s']:,} timers/s |",
        f"| fires one tick enqueues within 55 s (ahead {t['ahead_s']} s) | **{t['fires_per_tick_budget']:,}** "
        f"| per minute ({t['timers_per_tick_budget']:,} due timers) |",
        f"| one worker process ({w['pollers']} pollers, {w['concurrency']} batches at once), fires already due "
        f"| {w['callbacks']:,} callbacks of {w['fires']:,} in {w['seconds']} s | **{_num(w['callbacks_per_s'])}** "
        "callbacks/s |",
        "",
        "CPU seconds: tick " + ", ".join(f"{k} {v}" for k, v in t["cpu_s"].items()) + "; worker "
        + ", ".join(f"{k} {v}" for k, v in w["cpu_s"].items()) + ".",
        "",
    ]


def _herd_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """bench.load's herd (every timer due at second 0) beside bench.bareloop."""
    herd, bare = doc.get("herd"), doc.get("bareloop")
    if not herd and not bare:
        return []
    lines = ["## The herd: every timer due at the same second", ""]
    if herd:
        r, lat = herd["result"], herd["result"]["lateness_ms"]
        lines += [f"`{herd['command']}`: {herd['config']['timers']} timers, all due at second 0 of one minute, "
                  "on a fresh local stack.", "",
                  "| fires | late p50 | late p99 | max | early | doubled | missing | callbacks/s once started |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {r['expected']} | {_ms(lat['p50'])} ms | {_ms(lat['p99'])} ms | {_ms(lat['max'])} ms | "
                  f"{r['early']} | {r['duplicates']} | {r['missing']} | "
                  f"{herd['delivery'].get('callbacks_per_second')} |", ""]
    if bare:
        lines += [f"The bare loop (`python -m bench.bareloop`): {bare['callbacks']:,} callbacks from {bare['threads']} "
                  f"threads with requests, no AWS: **{bare['callbacks_per_second']:,}/s**, "
                  f"{bare['cpu_ms_per_callback']} ms of CPU per callback (the sender's; the receiver, aiohttp, in a process of its own)."]
        if herd and herd["delivery"].get("callbacks_per_second"):
            share = herd["delivery"]["callbacks_per_second"] / bare["callbacks_per_second"]
            lines.append(f"The herd's delivery rate once started is {share:.0%} of the bare loop's.")
        lines.append("")
    return lines


def _aws_model_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """bench.aws_model: a model of the midnight herd on AWS."""
    model = doc.get("aws_model")
    if not model:
        return []
    from bench.aws_model import markdown as model_table
    return ["## The midnight herd on AWS: a model, not a measurement", "",
            "Simulated from AWS's documented SQS event-source scaling (5 batches at first, +300 concurrent "
            "per minute today, +60 in older documentation), account concurrency 1,000, batch size 10, and the "
            "worker's CPU per fire measured here (see `python -m bench.aws_model --help` for every figure):", "",
            model_table(model), ""]


TARGET_FAIRNESS_P99_MS = 250.0  # issue 17 (bench.fairness.TARGET_P99_MS)


def fairness_table(doc: dict[str, Any]) -> list[str]:
    """bench.fairness's runs, the baseline and the hang side by side."""
    cfg = doc["config"]
    lines = [f"`{doc['command']}`: app A has {cfg['a_timers']} timers every second towards a receiver that, in the "
             f"hang run, holds every call until the run ends; app B has {cfg['b_timers']} timers every 2 s towards a "
             f"receiver that answers at once; B's fires due in a {cfg['window_s']} s window, each run on a fresh "
             f"local stack. Target: B's p99 <= {TARGET_FAIRNESS_P99_MS:.0f} ms during the hang, none missing.", "",
             "| run | B late p50 | B late p99 | B max | B missing | B doubled | calls to A (first attempts) "
             "| deferred (lane full) | parked (circuit open, each return counted) | target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for key in ("baseline", "hang"):
        r = doc.get(key)
        if not r:
            continue
        lat, c = r["b"]["lateness_ms"], r["counters"]
        lines.append(f"| {'A hangs' if r['hang'] else 'baseline (A answers)'} | {_ms(lat['p50'])} ms | "
                     f"{_ms(lat['p99'])} ms | {_ms(lat['max'])} ms | {r['b']['missing']} of {r['b']['expected']} | "
                     f"{r['b']['doubled']} | {r['a']['calls']} ({r['a']['first_attempts']}) | "
                     f"{c.get('fires_deferred', 0):.0f} | {c.get('callbacks_short_circuited', 0):.0f} | "
                     f"{'met' if r['target']['met'] else '**not met**'} |")
    return lines + [""]


def _fairness_section(doc: dict[str, Any], image_prefix: str) -> list[str]:
    """bench.fairness: one app's hanging receiver against another app's lateness (issue 17)."""
    if not doc.get("fairness"):
        return []
    return ["## Fairness: app B's lateness while app A's receiver hangs", "", *fairness_table(doc["fairness"])]


# The report's sections in order; each takes the suite's document and the plots' prefix and gives
# its lines, none when its part is not in the document (a failed step).
SUITE_SECTIONS: tuple[Callable[[dict[str, Any], str], list[str]], ...] = (
    _suite_header, _precision_section, _herd_section, _fairness_section, _scale_section, _costs_section,
    _throughput_section, _aws_model_section)


def suite_markdown(doc: dict[str, Any], image_prefix: str = "") -> str:
    """The suite's report; `image_prefix` is put before the plots' file names (for a copy of the
    report kept in another directory)."""
    return "\n".join(line for section in SUITE_SECTIONS for line in section(doc, image_prefix))

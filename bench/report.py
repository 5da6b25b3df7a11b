"""Results as a table on the terminal, a JSON file and a Markdown summary under bench/results/."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


def markdown(run: dict[str, Any]) -> str:
    r = run["result"]
    lat = r["lateness_ms"]
    m = run["machine"]
    cfg = run["config"]
    out = [
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
        "By cron and by second of the minute (the tick runs at second 0):",
        "",
        "| fires of | count | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| `{k}` | {s['count']} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | {_ms(s['max'])} |"
          for k, s in r["by_cron"].items()],
        *[f"| {k} | {s['count']} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | {_ms(s['max'])} |"
          for k, s in r["by_phase"].items()],
        "",
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
    return "\n".join(out)


def write(run: dict[str, Any], stem: str, directory: Path = RESULTS) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    md_path = directory / f"{stem}.md"
    md_path.write_text(markdown(run), encoding="utf-8")
    return json_path, md_path

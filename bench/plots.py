"""The suite's plots, as PNG files (matplotlib's Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def _cdf(values: list[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]


def _timers(n: int) -> str:
    return f"{n:,} timer{'' if n == 1 else 's'}"


def _came(series: dict[str, Any], key: str, came: int) -> str:
    """`1,200 fires`, or `3,992 of 12,000 fires came` when some never came (a saturated stack)."""
    result = series.get("xtimer" if key.startswith("xtimer") else "naive", {})
    result = result.get("result", result) if key.startswith("naive") else result
    due = (result or {}).get("expected", came)
    return f"{came:,} fires" if due <= came else f"{came:,} of {due:,} fires came"


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lateness(series: list[dict[str, Any]], path: Path) -> Path:
    """Cumulative distribution of lateness, one line per series and one per series' naive design,
    on a log scale (ms): xtimer's milliseconds and the naive minute's tens of seconds on one axis."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colours = plt.get_cmap("tab10")
    for i, s in enumerate(series):
        for key, style, what in (("xtimer_lateness_ms", "-", "xtimer"), ("naive_lateness_ms", "--", "naive minute tick")):
            values = [max(v, 0.1) for v in s.get(key, [])]  # log axis: early or 0 ms drawn at 0.1 ms
            if not values:
                continue
            x, y = _cdf(values)
            ax.step(x, y, style, where="post", color=colours(i % 10),
                    label=f"{what}, {_timers(s['config']['timers'])} ({_came(s, key, len(values))})")
    ax.set_xscale("log")
    ax.set_xlabel("lateness of the callback after its fire time, ms (log scale)")
    ax.set_ylabel("fraction of fires")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Callback lateness: xtimer (solid) and a naive once-a-minute scheduler (dashed)")
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def rates(series: list[dict[str, Any]], path: Path) -> Path:
    """Fires offered a second against callbacks delivered a second, per series."""
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{s['config']['timers']:,}" for s in series]
    xs = range(len(series))
    ax.bar([x - 0.2 for x in xs], [s["offered_per_s"] for s in series], width=0.4, label="fires due per second")
    ax.bar([x + 0.2 for x in xs], [s["delivered_per_s"] for s in series], width=0.4, label="callbacks delivered per second")
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("timers (each firing every 5 s)")
    ax.set_yscale("log")
    ax.set_ylabel("per second (log scale)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Offered against delivered on the local stack")
    return _save(fig, path)


def work_per_fire(scale_runs: list[dict[str, Any]], path: Path) -> Path:
    """bench.scale's busy scenarios: work per fire against idle timers in the tables."""
    busy = sorted((r for r in scale_runs if r["scenario"]["label"] == "busy"), key=lambda r: r["scenario"]["idle"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [max(r["scenario"]["idle"], 1) for r in busy]  # log axis: 0 idle drawn at 1
    for key, what in (("dynamodb_requests", "DynamoDB requests"), ("sqs_requests", "SQS requests"),
                      ("rru", "read units (RRU)"), ("wru", "write units (WRU)"),
                      ("tick_items_read_per_fire", "items the tick reads")):
        ax.plot(xs, [r["per_fire"][key] for r in busy], marker="o", label=what)
    ax.set_xscale("log")
    ax.set_xlabel("idle timers in the table (log scale; 0 drawn at 1)")
    ax.set_ylabel("per fire")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ahead = sorted({r["scenario"]["ahead"] for r in busy})
    ax.set_title(f"Work per fire against idle timers (busy scenario, ahead {', '.join(map(str, ahead))} s)")
    return _save(fig, path)

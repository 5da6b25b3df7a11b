"""The suite's own arithmetic: the naive schedule, ratios, saturation, the Step Functions cost
model and the report (`.venv/bin/python -m pytest bench`; nothing here sleeps or reads the clock)."""
from __future__ import annotations

import pytest

from bench import costs, naive, series
from bench.analysis import Callback, Timer, analyse, parse_fire_time
from bench.report import suite_markdown
from bench.suite import xtimer_scenarios

pytestmark = pytest.mark.unit  # bench/'s own arithmetic: fast, no AWS

T0 = parse_fire_time("2026-03-01T12:00:00Z")  # a minute boundary
assert T0 is not None and T0 % 60 == 0


def test_naive_sends_a_fire_at_the_next_minute_boundary_or_its_own() -> None:
    assert naive.send_time(T0) == T0
    assert naive.send_time(T0 + 1) == T0 + 60
    assert naive.send_time(T0 + 59) == T0 + 60


def test_naive_ticks_are_the_minute_boundaries_of_the_run() -> None:
    assert naive.boundaries(T0 - 10, T0 + 130) == [T0, T0 + 60, T0 + 120]
    assert naive.boundaries(T0 + 1, T0 + 59) == []
    assert naive.covered_fires_window([T0 + 60, T0 + 120]) == (T0 + 1, T0 + 121)
    assert naive.covered_fires_window([]) is None


def test_a_naive_tick_sends_the_fires_of_the_past_minute_including_its_own_second() -> None:
    sent = naive.fires_sent_at(T0 + 60, [Timer("a", 1, "0/5 * * * * *"), Timer("b", 2, "3/5 * * * * *")])
    fires_a = sorted(f - T0 for t, f in sent if t.name == "a")
    fires_b = sorted(f - T0 for t, f in sent if t.name == "b")
    assert fires_a == list(range(5, 61, 5))  # 12 fires: not second 0 (the previous tick's), second 60 yes
    assert fires_b == list(range(3, 60, 5))
    assert all(naive.send_time(f) == T0 + 60 for _, f in sent)


def test_naive_takes_every_kth_timer_beyond_its_cap() -> None:
    assert naive.stride(1_200, 1_200) == 1
    assert naive.stride(12_000, 1_200) == 10
    assert naive.stride(60_000, 1_200) == 50
    assert naive.stride(5, 0) == 1


def test_ratio_of_naive_to_xtimer() -> None:
    assert naive.ratio(30_000.0, 10.0) == 3_000.0
    assert naive.ratio(30_000.0, 0.0) == 30_000.0  # zero counts as 1 ms
    assert naive.ratio(None, 10.0) is None and naive.ratio(5.0, None) is None


def test_series_crons_spread_phases_and_hold_to_the_window_minutes() -> None:
    assert [series.cron(i, 5) for i in (0, 1, 5, 7)] == [
        "0/5 * * * * *", "1/5 * * * * *", "0/5 * * * * *", "2/5 * * * * *"]
    assert series.cron(3, 5, [59, 0]) == "3/5 59,0 * * * *"
    assert series.window_minutes(T0 - 60, 120) == [59, 0]   # across the hour
    assert series.window_minutes(T0 + 10, 30) == [0]
    assert series.window_minutes(T0 + 50, 30) == [0, 1]


def test_a_series_is_saturated_when_it_delivers_less_than_falls_due() -> None:
    assert series.offered_per_second(5_000, 5) == 1_000
    assert series.saturated(1_000, 35.0)
    assert not series.saturated(20.0, 19.5)  # within the 5% tolerance
    assert series.saturated(20.0, 18.0)


def _call(name: str, timer_id: int, fire: int, late_ms: float) -> Callback:
    header = f"2026-03-01T12:{(fire - T0) // 60:02d}:{(fire - T0) % 60:02d}Z"
    return Callback(timer_name=name, timer_id=str(timer_id), fire_time=fire, fire_header=header,
                    key=f"{timer_id}-{fire * 1000}", attempt="1", arrived=fire + late_ms / 1000)


def test_lateness_values_take_the_first_call_of_each_fire_in_the_window() -> None:
    calls = [_call("a", 1, T0, 900), _call("a", 1, T0, 12), _call("a", 1, T0 + 5, 7), _call("a", 1, T0 + 10, 3)]
    assert series.lateness_values(calls, T0, T0 + 10) == [7.0, 12.0]


def test_step_functions_model_counts_three_transitions_a_fire() -> None:
    sf = costs.step_functions()
    assert sf["transitions_per_fire"] == 3
    assert sf["usd_per_million_fires"] == pytest.approx(75.00)
    assert "3 x $0.025 / 1,000 x 1,000,000 = $75.00" in sf["arithmetic"][0]
    cron = costs.step_functions(next_fire_lambda=True)
    assert cron["transitions_per_fire"] == 4
    # 4 transitions $100 + Lambda $0.20 per million requests + 128 MB x 20 ms = 0.0025 GB-s ($0.04)
    assert cron["usd_per_million_fires"] == pytest.approx(100.24, abs=0.01)
    assert costs.eventbridge_scheduler()["usd_per_million_fires"] == 1.00


def _per_fire(total: float) -> dict[str, object]:
    return {"dynamodb_requests": 4.0, "sqs_requests": 0.3, "invocations": 0.1, "wru": 2.1, "rru": 1.1,
            "gb_s": 0.04, "fires": 600, "tick_items_read_per_tick": 21, "tick_queries_per_tick": 8,
            "tick_wall_ms_mean": 50, "tick_items_read_per_fire": 0.3,
            "usd_per_million_fires": {"dynamodb_wru": 1.3, "sqs": 0.1, "total": total}}


def _scale_doc() -> dict[str, object]:
    def run(label: str, idle: int, ahead: int, total: float) -> dict[str, object]:
        return {"scenario": {"label": label, "idle": idle, "ahead": ahead}, "per_fire": _per_fire(total)}
    return {"command": "python -m bench.scale --sizes 0,1000", "verdict": "Work per fire is flat.",
            "runs": [run("busy", 0, 120, 2.5), run("busy", 1000, 120, 2.6), run("sparse", 0, 120, 9.0)]}


def test_cost_columns_are_the_sparse_run_and_the_busiest_idle_run() -> None:
    columns = xtimer_scenarios(_scale_doc())
    assert [c["usd_per_million_fires"]["total"] for c in columns.values()] == [9.0, 2.6]
    assert list(columns)[1].startswith("busy, batches of 10, 1,000 idle")


def test_the_sparse_cost_comes_from_the_run_at_the_deployed_ahead_when_there_is_one() -> None:
    deployed = {"runs": [{"scenario": {"label": "sparse", "idle": 0, "ahead": 600}, "per_fire": _per_fire(8.0)}]}
    columns = xtimer_scenarios(_scale_doc(), deployed)
    assert list(columns) == ["sparse, 1 fire per invocation, ahead 600 s", "busy, batches of 10, 1,000 idle, ahead 120 s"]
    assert [c["usd_per_million_fires"]["total"] for c in columns.values()] == [8.0, 2.6]


def test_the_herd_is_a_column_of_its_own_beside_busy_and_sparse() -> None:
    deployed = {"runs": [{"scenario": {"label": "sparse", "idle": 0, "ahead": 600}, "per_fire": _per_fire(8.0)},
                         {"scenario": {"label": "herd", "idle": 0, "ahead": 600, "minutely": 300},
                          "per_fire": _per_fire(1.5)}]}
    columns = xtimer_scenarios(_scale_doc(), deployed)
    assert list(columns) == ["sparse, 1 fire per invocation, ahead 600 s",
                             "busy, batches of 10, 1,000 idle, ahead 120 s",
                             "herd, 300 timers due at second 0, batches of 10, ahead 600 s"]
    assert [c["usd_per_million_fires"]["total"] for c in columns.values()] == [8.0, 2.6, 1.5]


def _series_result() -> dict[str, object]:
    timers = [Timer("a", 1, "0/5 * * * * *")]
    x = analyse(timers, [_call("a", 1, T0, 10), _call("a", 1, T0 + 5, 30)], T0, T0 + 15)
    n = analyse(timers, [_call("a", 1, T0 + 5, 55_000), _call("a", 1, T0 + 10, 50_000)], T0 + 1, T0 + 61)
    return {
        "config": {"timers": 1, "window_s": 15, "grace_s": 5, "hold": False, "period_s": 5},
        "crons": ["0/5 * * * * *"], "stack": {"cpu_percent_in_window": {"stack": 3}, "queue_max": 2},
        "creation": {"seconds": 0.2, "per_second": 5.0, "retries_after_500": {"creatTimer": 0, "enableTimer": 0},
                     "enable_overran_window_s": None},
        "offered_per_s": 0.2, "delivered_per_s": 0.1, "saturated": True, "xtimer": x,
        "naive": {"result": n, "ticks": ["2026-03-01T12:01:00Z"], "timers": 1, "stride": 1},
        "ratio": {"p50": naive.ratio(n["lateness_ms"]["p50"], x["lateness_ms"]["p50"]),  # type: ignore[index]
                  "p99": naive.ratio(n["lateness_ms"]["p99"], x["lateness_ms"]["p99"])},  # type: ignore[index]
    }


def test_the_report_shows_each_series_its_naive_ratio_the_costs_and_the_plots() -> None:
    scale = _scale_doc()
    doc = {
        "mode": "quick", "command": "python -m bench.suite --quick", "elapsed_s": 170.0,
        "machine": {"date": "2026-03-01T12:00:00Z", "nproc": 2, "cpu_model": "AMD EPYC", "memory_gib": 8,
                    "python_implementation": "CPython", "python": "3.11.7", "platform": "Linux",
                    "load_average_at_start": [1.0, 1.0, 1.0], "git_commit": "abc1234", "git_dirty": False},
        "load_average_at_end": [2.0, 1.0, 1.0],
        "steps": [{"name": "precision, 1 timers", "seconds": 50.0}, {"name": "throughput", "seconds": 20.0,
                                                                      "error": "failed: boom"}],
        "series": [_series_result()],
        "scale": {"flat": scale},
        "costs": costs.compare(xtimer_scenarios(scale)),
        "throughput": None,
    }
    text = suite_markdown(doc, image_prefix="suite-x/")
    assert "`python -m bench.suite --quick` (`make bench ARGS=--quick`), 170 s wall time" in text
    assert "2 cores (AMD EPYC)" in text and "failed: boom" in text
    assert "**saturated**" in text
    assert "| naive minute tick | 12 due, 2 came | 50000 | 55000 | 55000 | 55000 | 0 | 0 | 10 |" in text
    # 50,000 / 10 ms and 55,000 / 30 ms, but of a saturated series: only its fires that came are measured
    assert "| 5,000x, not comparable (saturated) | 1,833x, not comparable (saturated) |" in text
    assert "understate how late it is" in text
    doc["series"] = [dict(_series_result(), saturated=False)]
    assert "| 5,000x | 1,833x |" in suite_markdown(doc)
    assert "![lateness](suite-x/lateness.png)" in text and "![work per fire](suite-x/work.png)" in text
    assert "| Amazon EventBridge Scheduler (price) | 1 invocation | **1.00** |" in text
    assert "| 3 state transitions | **75.00** |" in text
    assert "## Throughput" not in text  # its step failed: no section, the step table says why


def _fairness_run(hang: bool, p99: float, missing: int) -> dict:
    return {"hang": hang, "b": {"expected": 75, "lateness_ms": {"p50": 30.0, "p99": p99, "max": p99 + 5},
                                "missing": missing, "doubled": 0},
            "a": {"calls": 40, "first_attempts": 30},
            "counters": {"fires_deferred": 12.0, "callbacks_short_circuited": 250.0},
            "target": {"p99_ms": 250.0, "met": p99 <= 250 and missing == 0}}


def test_the_report_shows_the_fairness_series_beside_its_baseline() -> None:
    fairness = {"command": "python -m bench.fairness", "benchmark": "fairness",
                "config": {"a_timers": 10, "b_timers": 5, "window_s": 90},
                "baseline": _fairness_run(False, 40.0, 0), "hang": _fairness_run(True, 900.0, 2)}
    from bench.report import SUITE_SECTIONS, _fairness_section
    assert _fairness_section in SUITE_SECTIONS and not _fairness_section({}, "")  # no section when its step failed
    section = "\n".join(_fairness_section({"fairness": fairness}, ""))
    assert section.startswith("## Fairness: app B's lateness while app A's receiver hangs")
    rows = [line for line in section.splitlines() if line.startswith("| baseline") or line.startswith("| A hangs")]
    assert rows == ["| baseline (A answers) | 30 ms | 40 ms | 45 ms | 0 of 75 | 0 | 40 (30) | 12 | 250 | met |",
                    "| A hangs | 30 ms | 900 ms | 905 ms | 2 of 75 | 0 | 40 (30) | 12 | 250 | **not met** |"]

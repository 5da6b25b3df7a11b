"""One precision series of the suite: N timers on a fresh local stack, and the naive design beside it.

Timer i has the cron `{i % P}/{P} * * * * *` (P = 5 s by default): every timer fires every P
seconds, and the timers' phases are spread so that N / P fires fall due every second. For large
series (`hold`), the minutes field holds the timers back until the window: `{i % P}/{P} M1,M2 * *
* *` fires only in the window's minutes, so creating and enabling thousands of timers is not
slowed by the fires of the ones already enabled (on a saturated stack enabling would crawl), and
the window starts at a minute boundary with the queue as a steady stream would leave it.

The series measures xtimer's callbacks for fires due in the window [start, end) and waits for the
late ones until all have arrived or `grace` seconds after the window (later ones count as
missing). Meanwhile bench.naive's NaiveTicker sends the same timers' fires (every `stride`-th
timer's when a minute holds more than `naive_cap` fires) at each minute boundary of the run, to
the same receiver under /naive/.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import analysis, naive
from bench.api import TimerMaker, XtimerClient
from bench.precision import PATH_PREFIX, CpuMeter, QueueWatch, log, to_callback
from bench.stack import StackProcess
from tests.support.receiver import Receiver, Request, Response

APP = "bench"


@dataclass(frozen=True)
class SeriesConfig:
    timers: int
    window_s: int          # the measured fires are due in [start, start + window_s)
    grace_s: float         # at most this long after the window for late callbacks
    hold: bool = False     # crons restricted to the window's minutes (see the module's docstring)
    period_s: int = 5      # every timer fires every period_s seconds
    naive_cap: int = 1200  # fires one naive tick sends, at most (every stride-th timer beyond)
    threads: int = 4       # concurrent creatTimer + enableTimer calls
    settle_s: float = 3.0  # after the last enable, before the window (not held)
    probe: int = 40        # held series: timers created first to time creation (they never fire)
    # held series: seconds planned between the end of creation and the window. Over a minute:
    # the tick a minute before the window queues all its fires (the local stack queues 120 s ahead),
    # and creation still going then slows to a crawl (5,000 timers: 60,000 messages at once).
    margin_s: float = 62.0


def cron(i: int, period: int, minutes: list[int] | None = None) -> str:
    """Timer i's cron: every `period` s from second i % period; only in `minutes` when given."""
    minute_field = ",".join(str(m) for m in minutes) if minutes else "*"
    return f"{i % period}/{period} {minute_field} * * * *"


def window_minutes(start: int, seconds: int) -> list[int]:
    """The minutes of the hour that [start, start + seconds) touches, in order."""
    first = start // 60 * 60
    return [(m // 60) % 60 for m in range(first, start + seconds, 60)]


def offered_per_second(timers: int, period: int) -> float:
    return timers / period


def saturated(offered: float, delivered: float, tolerance: float = 0.05) -> bool:
    """The stack could not keep up: it delivered fewer callbacks a second than fell due (with a
    small tolerance for the fires whose callbacks straddle the window's ends)."""
    return delivered < offered * (1 - tolerance)


def lateness_values(callbacks: list[analysis.Callback], start: int, end: int) -> list[float]:
    """Lateness in ms of the first call of each fire due in [start, end), ascending."""
    first: dict[tuple[str, int], float] = {}
    for c in callbacks:
        if c.fire_time is not None and start <= c.fire_time < end:
            key = (c.timer_name, c.fire_time)
            first[key] = min(first.get(key, math.inf), c.lateness_ms)
    return sorted(round(v, 1) for v in first.values())


def naive_callback(request: Request) -> analysis.Callback:
    name = request.route[len(naive.NAIVE_PREFIX):]
    header = request.header("X-Xtimer-Fire-Time")
    return analysis.Callback(timer_name=name, timer_id=request.header("X-Xtimer-Timer-Id"),
                             fire_time=analysis.parse_fire_time(header), fire_header=header,
                             key=request.header("X-Xtimer-Idempotency-Key"), attempt=request.header("X-Xtimer-Attempt"),
                             arrived=request.arrived_at, exact=True)


def run(cfg: SeriesConfig, raw_dir: Path, label: str, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    phases: dict[str, float] = {}
    began = time.time()
    env = {"XTIMER_MAX_FIRES_PER_MINUTE_PER_APP": "100000000",
           "XTIMER_MAX_TIMERS_PER_APP": str(cfg.timers + cfg.probe + cfg.threads * 2 + 100)}
    stack = StackProcess(raw_dir / f"{label}-stack.log", env=env)
    receiver = Receiver(Response(200, body="ok")).start()
    ticker: naive.NaiveTicker | None = None
    retries = {"creatTimer": 0, "enableTimer": 0}
    try:
        stack.start()
        phases["stack_start_s"] = round(time.time() - began, 1)
        log(f"{label}: stack up on {stack.url} in {stack.started_in:.1f} s (log {stack.log_path})")
        client = XtimerClient(stack.url, pool=cfg.threads)
        bodies: dict[str, str] = {}
        maker = TimerMaker(client, APP, lambda name: receiver.url(PATH_PREFIX + name), bodies)
        retries = maker.retries
        create_and_enable = maker.make

        minutes: list[int] | None = None
        planned_start: int | None = None
        probe_rate = None
        if cfg.hold:
            far = (datetime.now(timezone.utc).minute + 30) % 60  # probe timers fire once an hour, not in the run
            with ThreadPoolExecutor(cfg.threads) as pool:
                def probe(first: int, count: int) -> None:
                    list(pool.map(lambda i: create_and_enable(f"probe{i:03d}", f"0 {far} * * * *"),
                                  range(first, first + count)))
                probe(0, cfg.threads * 2)  # warm-up (the stack's and moto's first calls), not timed
                t0 = time.time()
                probe(cfg.threads * 2, cfg.probe)
            probe_rate = cfg.probe / (time.time() - t0)
            estimate = cfg.timers / probe_rate + cfg.margin_s
            planned_start = math.ceil((time.time() + estimate) / 60) * 60
            minutes = window_minutes(planned_start, cfg.window_s)
            log(f"{label}: probe {probe_rate:.1f} timers/s; window planned at {analysis._iso(planned_start)} "
                f"({planned_start - time.time():.0f} s from now), crons held to minutes {minutes}")

        specs = [(f"t{i:05d}", cron(i, cfg.period_s, minutes)) for i in range(cfg.timers)]
        t0 = time.time()
        with ThreadPoolExecutor(cfg.threads) as pool, \
                tqdm(total=cfg.timers, desc=f"{label}: create+enable", unit="timer", disable=not progress,
                     dynamic_ncols=True) as bar:
            def one(spec: tuple[str, str]) -> analysis.Timer:
                timer = create_and_enable(*spec)
                bar.update(1)
                return timer
            timers = list(pool.map(one, specs))
        enabled_at = time.time()
        phases["create_enable_s"] = round(enabled_at - t0, 1)
        create_rate = cfg.timers / max(enabled_at - t0, 1e-9)
        log(f"{label}: created and enabled {cfg.timers} timers in {enabled_at - t0:.1f} s ({create_rate:.1f}/s)")

        if planned_start is not None:
            start = planned_start
            overran = enabled_at - start
            if overran > 0:
                log(f"{label}: WARNING: enabling ended {overran:.0f} s after the window began")
        else:
            start = math.ceil(enabled_at + cfg.settle_s)
            overran = None
        end = start + cfg.window_s
        stop_at = end + cfg.grace_s

        # the naive design: every minute boundary from now to the end of the run, at least one
        naive_timers = timers[::naive.stride(cfg.timers * 60 / cfg.period_s, cfg.naive_cap)]
        ticks = naive.boundaries(time.time() + 0.5, stop_at) or [math.ceil(stop_at / 60) * 60]
        ticker = naive.NaiveTicker(naive_timers, ticks, receiver.base_url, bodies)
        ticker.start()

        expected = {(t.name, f) for t in timers for f in analysis.expected_fires(t.cron, start, end)}
        cpu = CpuMeter(stack)
        queue = QueueWatch(stack.moto_endpoint())
        cpu_at_start = cpu_at_end = None
        wait_start = time.time()
        log(f"{label}: measuring fires due in [{analysis._iso(start)}, {analysis._iso(end)}) "
            f"({len(expected)} fires, {offered_per_second(cfg.timers, cfg.period_s):.1f}/s), then up to "
            f"{cfg.grace_s:.0f} s for late callbacks; naive ticks at {[analysis._iso(t)[11:] for t in ticks]} "
            f"over {len(naive_timers)} timers")
        bar = tqdm(total=len(expected), desc=f"{label}: fires of the window", unit="fire",
                   disable=not progress, dynamic_ncols=True)
        got = 0
        depth_max = 0
        while True:
            now = time.time()
            if cpu_at_start is None and now >= start:
                cpu_at_start = cpu.read()
            if cpu_at_end is None and now >= end:
                cpu_at_end = cpu.read()
            seen = {(r.route[len(PATH_PREFIX):], analysis.parse_fire_time(r.header("X-Xtimer-Fire-Time")))
                    for r in receiver.received() if r.route.startswith(PATH_PREFIX)}
            arrived = len(expected & seen)
            bar.update(arrived - got)
            got = arrived
            depth = queue.depth() if now >= start else None
            if depth:
                depth_max = max(depth_max, depth["visible"] + depth["delayed"])
                bar.set_postfix(queue=depth["visible"] + depth["delayed"], refresh=False)
            naive_done = not ticker.is_alive()
            if now >= end and naive_done and (got == len(expected) or now >= stop_at):
                break
            if now >= max(stop_at, ticks[-1] + 30):
                break  # the naive ticker is stuck sending: give up on its last tick
            if stack.process is not None and stack.process.poll() is not None:
                raise RuntimeError(f"the local stack died during the series:\n{stack.log_tail()}")
            time.sleep(1.0)
        bar.close()
        drained_at = time.time()
        log(f"{label}: {got:,} of {len(expected):,} fires of the window arrived, "
            f"{drained_at - end:.0f} s after it; stopping the stack")
        cpu_at_end = cpu_at_end or cpu.read()
        phases["wait_for_window_s"] = round(max(0.0, start - wait_start), 1)
        phases["window_and_drain_s"] = round(drained_at - max(start, wait_start), 1)
        requests_seen = receiver.received()
    finally:
        if ticker is not None:
            ticker.stop()
        stack.stop(timeout=5)  # a saturated stack takes long to stop cleanly; nothing is measured any more
        receiver.stop()
    phases["total_s"] = round(time.time() - began, 1)

    xtimer_calls = [to_callback(r, bodies) for r in requests_seen if r.route.startswith(PATH_PREFIX)]
    naive_calls = [naive_callback(r) for r in requests_seen if r.route.startswith(naive.NAIVE_PREFIX)]
    result = analysis.analyse(timers, xtimer_calls, start, end)
    done_ticks = ticks[:len(ticker.send_seconds)] if ticker else []
    covered = naive.covered_fires_window(done_ticks)
    naive_result = analysis.analyse(naive_timers, naive_calls, *covered) if covered else None
    offered = offered_per_second(cfg.timers, cfg.period_s)
    delivered = result["arrivals_in_window"]["per_second"]  # type: ignore[index]
    lat = result["lateness_ms"]  # type: ignore[index]
    nlat = naive_result["lateness_ms"] if naive_result else {}  # type: ignore[index]
    cpu_percent = CpuMeter.percent(cpu_at_start, cpu_at_end) if cpu_at_start and cpu_at_end else {}
    return {
        "label": label,
        "config": asdict(cfg),
        "crons": [t.cron for t in timers[:min(cfg.period_s, len(timers))]],
        "stack": {"command": stack.command[1:], "env": env, "cpu_percent_in_window": cpu_percent,
                  "queue_max": depth_max},
        "creation": {"seconds": phases["create_enable_s"], "per_second": round(create_rate, 1),
                     "probe_per_second": None if probe_rate is None else round(probe_rate, 1),
                     "retries_after_500": retries, "enable_overran_window_s": None if overran is None or overran <= 0
                     else round(overran, 1)},
        "phases": phases,
        "offered_per_s": round(offered, 1),
        "delivered_per_s": delivered,
        "saturated": saturated(offered, delivered),
        "xtimer": result,
        "xtimer_lateness_ms": lateness_values(xtimer_calls, start, end),
        "naive": {
            "timers": len(naive_timers), "stride": naive.stride(cfg.timers * 60 / cfg.period_s, cfg.naive_cap),
            "ticks": [analysis._iso(t) for t in done_ticks], "fires_window": None if covered is None else
            [analysis._iso(covered[0]), analysis._iso(covered[1])],
            "sent": ticker.sent if ticker else 0, "failed": ticker.failed if ticker else 0,
            "send_seconds_per_tick": ticker.send_seconds if ticker else [],
            "result": naive_result,
        },
        "naive_lateness_ms": lateness_values(naive_calls, *covered) if covered else [],
        "ratio": {"p50": naive.ratio(nlat.get("p50"), lat["p50"]), "p99": naive.ratio(nlat.get("p99"), lat["p99"])},
    }

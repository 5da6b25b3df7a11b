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

A series is declared in bench.suite's plans (FULL, QUICK) as a SeriesConfig; here, timer_specs
decides its timers' names and crons, and label() and title() name it.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import analysis, naive
from bench.api import TimerMaker, XtimerClient, outside_the_run
from bench.precision import PATH_PREFIX, CpuMeter, QueueWatch, log, to_callback
from bench.stack import StackProcess
from bench.fast_receiver import FastReceiver
from tests.support.receiver import Request

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


def label(cfg: SeriesConfig) -> str:
    """The series' name in file names and log lines."""
    return f"precision-{cfg.timers}"


def title(cfg: SeriesConfig) -> str:
    """The series' name in the suite's step table."""
    return f"precision, {cfg.timers:,} timer{'' if cfg.timers == 1 else 's'}"


def timer_specs(cfg: SeriesConfig, minutes: list[int] | None) -> list[tuple[str, str]]:
    """Each timer's name and cron: what a series' timers do is decided here only."""
    return [(f"t{i:05d}", cron(i, cfg.period_s, minutes)) for i in range(cfg.timers)]


def stack_env(cfg: SeriesConfig) -> dict[str, str]:
    """The stack's quotas, raised so that they refuse none of the series' timers or fires."""
    return {"XTIMER_MAX_FIRES_PER_MINUTE_PER_APP": "100000000",
            "XTIMER_MAX_TIMERS_PER_APP": str(cfg.timers + cfg.probe + cfg.threads * 2 + 100)}


def naive_stride(cfg: SeriesConfig) -> int:
    return naive.stride(cfg.timers * 60 / cfg.period_s, cfg.naive_cap)


@dataclass(frozen=True)
class HeldPlan:
    """A held series' window, planned from the creation rate of a few probe timers."""
    probe_rate: float
    start: int            # a minute boundary
    minutes: list[int]    # the minutes of the hour the window touches: the crons' minutes field


@dataclass(frozen=True)
class Creation:
    timers: list[analysis.Timer]
    seconds: float        # creating and enabling them all
    enabled_at: float

    @property
    def rate(self) -> float:
        return len(self.timers) / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    stop_at: float              # the end plus the grace for late callbacks
    overran: float | None       # held series: seconds enabling ran past the planned start (<= 0: none)


@dataclass
class NaiveRun:
    timers: list[analysis.Timer]
    ticks: list[int]
    ticker: naive.NaiveTicker


@dataclass
class Watch:
    """What the wait for the window saw."""
    wait_start: float
    got: int = 0
    depth_max: int = 0
    cpu_at_start: tuple[float, dict[str, float]] | None = None
    cpu_at_end: tuple[float, dict[str, float]] | None = None
    drained_at: float = 0.0


def plan_held_window(cfg: SeriesConfig, maker: TimerMaker, label: str) -> HeldPlan:
    """Times the creation of `cfg.probe` timers and puts the window at the first minute boundary
    after all timers would be created, plus the margin."""
    cron_outside = outside_the_run()
    with ThreadPoolExecutor(cfg.threads) as pool:
        maker.probe(pool, range(cfg.threads * 2), cron_outside)  # warm-up (the stack's, moto's first calls): untimed
        probe_rate = maker.probe(pool, range(cfg.threads * 2, cfg.threads * 2 + cfg.probe), cron_outside)
    estimate = cfg.timers / probe_rate + cfg.margin_s
    start = math.ceil((time.time() + estimate) / 60) * 60
    minutes = window_minutes(start, cfg.window_s)
    log(f"{label}: probe {probe_rate:.1f} timers/s; window planned at {analysis._iso(start)} "
        f"({start - time.time():.0f} s from now), crons held to minutes {minutes}")
    return HeldPlan(probe_rate, start, minutes)


def create_timers(cfg: SeriesConfig, maker: TimerMaker, held: HeldPlan | None, label: str,
                  progress: bool) -> Creation:
    """Creates and enables timers t00000.. with their crons, `cfg.threads` at a time."""
    from tqdm import tqdm

    specs = timer_specs(cfg, held.minutes if held else None)
    t0 = time.time()
    with ThreadPoolExecutor(cfg.threads) as pool, \
            tqdm(total=cfg.timers, desc=f"{label}: create+enable", unit="timer", disable=not progress,
                 dynamic_ncols=True) as bar:
        def one(spec: tuple[str, str]) -> analysis.Timer:
            timer = maker.make(*spec)
            bar.update(1)
            return timer
        timers = list(pool.map(one, specs))
    enabled_at = time.time()
    creation = Creation(timers, enabled_at - t0, enabled_at)
    log(f"{label}: created and enabled {cfg.timers} timers in {creation.seconds:.1f} s ({creation.rate:.1f}/s)")
    return creation


def plan_window(cfg: SeriesConfig, held: HeldPlan | None, enabled_at: float, label: str) -> Window:
    """The held series' planned window, or one starting `settle_s` after the last enable."""
    if held is None:
        start = math.ceil(enabled_at + cfg.settle_s)
        return Window(start, start + cfg.window_s, start + cfg.window_s + cfg.grace_s, None)
    overran = enabled_at - held.start
    if overran > 0:
        log(f"{label}: WARNING: enabling ended {overran:.0f} s after the window began")
    end = held.start + cfg.window_s
    return Window(held.start, end, end + cfg.grace_s, overran)


def start_naive(cfg: SeriesConfig, timers: list[analysis.Timer], window: Window, base_url: str,
                bodies: dict[str, str]) -> NaiveRun:
    """The naive design beside xtimer: a tick at every minute boundary from now to the end of the
    run (at least one), over every stride-th timer."""
    naive_timers = timers[::naive_stride(cfg)]
    ticks = naive.boundaries(time.time() + 0.5, window.stop_at) or [math.ceil(window.stop_at / 60) * 60]
    ticker = naive.NaiveTicker(naive_timers, ticks, base_url, bodies)
    ticker.start()
    return NaiveRun(naive_timers, ticks, ticker)


def _arrived(receiver: FastReceiver, expected: set[tuple[str, int]]) -> int:
    """How many of the `expected` (timer name, fire time) have called back."""
    seen = {(r.route[len(PATH_PREFIX):], analysis.parse_fire_time(r.header("X-Xtimer-Fire-Time")))
            for r in receiver.received() if r.route.startswith(PATH_PREFIX)}
    return len(expected & seen)


def await_window(cfg: SeriesConfig, stack: StackProcess, receiver: FastReceiver, timers: list[analysis.Timer],
                 window: Window, naive_run: NaiveRun, label: str, progress: bool) -> Watch:
    """Polls the receiver once a second until the window's fires have all come (or the grace ran
    out) and the naive ticker is done; reads the CPU at the window's ends and the queue's depth."""
    from tqdm import tqdm

    start, end, stop_at, ticks = window.start, window.end, window.stop_at, naive_run.ticks
    expected = {(t.name, f) for t in timers for f in analysis.expected_fires(t.cron, start, end)}
    cpu = CpuMeter(stack)
    queue = QueueWatch(stack.moto_endpoint())
    watch = Watch(wait_start=time.time())
    log(f"{label}: measuring fires due in [{analysis._iso(start)}, {analysis._iso(end)}) "
        f"({len(expected)} fires, {offered_per_second(cfg.timers, cfg.period_s):.1f}/s), then up to "
        f"{cfg.grace_s:.0f} s for late callbacks; naive ticks at {[analysis._iso(t)[11:] for t in ticks]} "
        f"over {len(naive_run.timers)} timers")
    bar = tqdm(total=len(expected), desc=f"{label}: fires of the window", unit="fire",
               disable=not progress, dynamic_ncols=True)
    while True:
        now = time.time()
        if watch.cpu_at_start is None and now >= start:
            watch.cpu_at_start = cpu.read()
        if watch.cpu_at_end is None and now >= end:
            watch.cpu_at_end = cpu.read()
        arrived = _arrived(receiver, expected)
        bar.update(arrived - watch.got)
        watch.got = arrived
        depth = queue.depth() if now >= start else None
        if depth:
            watch.depth_max = max(watch.depth_max, depth["visible"] + depth["delayed"])
            bar.set_postfix(queue=depth["visible"] + depth["delayed"], refresh=False)
        naive_done = not naive_run.ticker.is_alive()
        if now >= end and naive_done and (watch.got == len(expected) or now >= stop_at):
            break
        if now >= max(stop_at, ticks[-1] + 30):
            break  # the naive ticker is stuck sending: give up on its last tick
        stack.raise_if_died("series")
        time.sleep(1.0)
    bar.close()
    watch.drained_at = time.time()
    log(f"{label}: {watch.got:,} of {len(expected):,} fires of the window arrived, "
        f"{watch.drained_at - end:.0f} s after it; stopping the stack")
    watch.cpu_at_end = watch.cpu_at_end or cpu.read()
    return watch


def run(cfg: SeriesConfig, raw_dir: Path, label: str, progress: bool = True) -> dict[str, Any]:
    """The series, step by step: stack up, (held: plan the window), create the timers, start the
    naive ticker, wait for the window's fires, stop the stack, analyse."""
    phases: dict[str, float] = {}
    began = time.time()
    env = stack_env(cfg)
    stack = StackProcess(raw_dir / f"{label}-stack.log", env=env)
    receiver = FastReceiver().start()
    naive_run: NaiveRun | None = None
    try:
        stack.start()
        phases["stack_start_s"] = round(time.time() - began, 1)
        log(f"{label}: stack up on {stack.url} in {stack.started_in:.1f} s (log {stack.log_path})")
        maker = TimerMaker(XtimerClient(stack.url, pool=cfg.threads), APP,
                           lambda name: receiver.url(PATH_PREFIX + name), {})
        held = plan_held_window(cfg, maker, label) if cfg.hold else None
        creation = create_timers(cfg, maker, held, label, progress)
        phases["create_enable_s"] = round(creation.seconds, 1)
        window = plan_window(cfg, held, creation.enabled_at, label)
        naive_run = start_naive(cfg, creation.timers, window, receiver.base_url, maker.bodies)
        watch = await_window(cfg, stack, receiver, creation.timers, window, naive_run, label, progress)
        phases["wait_for_window_s"] = round(max(0.0, window.start - watch.wait_start), 1)
        phases["window_and_drain_s"] = round(watch.drained_at - max(window.start, watch.wait_start), 1)
        requests_seen = receiver.received()
    finally:
        if naive_run is not None:
            naive_run.ticker.stop()
        stack.stop(timeout=5)  # a saturated stack takes long to stop cleanly; nothing is measured any more
        receiver.stop()
    phases["total_s"] = round(time.time() - began, 1)
    return analyse(cfg, label, env, stack, maker, held, creation, window, naive_run, watch, phases, requests_seen)


def analyse(cfg: SeriesConfig, label: str, env: dict[str, str], stack: StackProcess, maker: TimerMaker,
            held: HeldPlan | None, creation: Creation, window: Window, naive_run: NaiveRun, watch: Watch,
            phases: dict[str, float], requests_seen: list[Request]) -> dict[str, Any]:
    """The series' result: xtimer's and the naive design's callbacks analysed, side by side."""
    timers, start, end, ticker = creation.timers, window.start, window.end, naive_run.ticker
    xtimer_calls = [to_callback(r, maker.bodies) for r in requests_seen if r.route.startswith(PATH_PREFIX)]
    naive_calls = [naive_callback(r) for r in requests_seen if r.route.startswith(naive.NAIVE_PREFIX)]
    result = analysis.analyse(timers, xtimer_calls, start, end)
    done_ticks = naive_run.ticks[:len(ticker.send_seconds)]
    covered = naive.covered_fires_window(done_ticks)
    naive_result = analysis.analyse(naive_run.timers, naive_calls, *covered) if covered else None
    offered = offered_per_second(cfg.timers, cfg.period_s)
    delivered = result["arrivals_in_window"]["per_second"]  # type: ignore[index]
    lat = result["lateness_ms"]  # type: ignore[index]
    nlat = naive_result["lateness_ms"] if naive_result else {}  # type: ignore[index]
    cpu_percent = CpuMeter.percent(watch.cpu_at_start, watch.cpu_at_end) \
        if watch.cpu_at_start and watch.cpu_at_end else {}
    overran = window.overran
    return {
        "label": label,
        "config": asdict(cfg),
        "crons": [t.cron for t in timers[:min(cfg.period_s, len(timers))]],
        "stack": {"command": stack.command[1:], "env": env, "cpu_percent_in_window": cpu_percent,
                  "queue_max": watch.depth_max},
        "creation": {"seconds": phases["create_enable_s"], "per_second": round(creation.rate, 1),
                     "probe_per_second": None if held is None else round(held.probe_rate, 1),
                     "retries_after_500": maker.retries, "enable_overran_window_s": None if overran is None
                     or overran <= 0 else round(overran, 1)},
        "phases": phases,
        "offered_per_s": round(offered, 1),
        "delivered_per_s": delivered,
        "saturated": saturated(offered, delivered),
        "xtimer": result,
        "xtimer_lateness_ms": lateness_values(xtimer_calls, start, end),
        "naive": {
            "timers": len(naive_run.timers), "stride": naive_stride(cfg),
            "ticks": [analysis._iso(t) for t in done_ticks], "fires_window": None if covered is None else
            [analysis._iso(covered[0]), analysis._iso(covered[1])],
            "sent": ticker.sent, "failed": ticker.failed,
            "send_seconds_per_tick": ticker.send_seconds,
            "result": naive_result,
        },
        "naive_lateness_ms": lateness_values(naive_calls, *covered) if covered else [],
        "ratio": {"p50": naive.ratio(nlat.get("p50"), lat["p50"]), "p99": naive.ratio(nlat.get("p99"), lat["p99"])},
    }

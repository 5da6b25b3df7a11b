"""The lanes and breakers of chalicelib.delivery.fairness, on their own: which calls run now, which
wait without a thread, which are handed back, and when a host's circuit refuses calls."""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import pytest

from chalicelib.delivery.fairness import Breakers, Lane, Lanes, host_of
from chalicelib.fires.outcome import Outcome
from tests.support.fake_clock import FakeClock, at

TIMEOUT = Outcome(ok=False, http_status=None, response_body="", duration_ms=10_000,
                  error="timed out after 10.0 s (read)", retry_after=None)
ANSWER_500 = Outcome(ok=False, http_status=500, response_body="", duration_ms=5, error="HTTP 500", retry_after=None)
REFUSED_BY_POLICY = Outcome(ok=False, http_status=None, response_body="", duration_ms=0,
                            error="refused: a private address", retry_after=None, retryable=False)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


class Call:
    """A call that runs until released: `started` is set once it runs, `expired` if it was handed back."""

    def __init__(self) -> None:
        self.started, self.release, self.expired = threading.Event(), threading.Event(), threading.Event()
        self.why: str | None = None
        self.thread: str | None = None

    def run(self) -> None:
        self.thread = threading.current_thread().name
        self.started.set()
        self.release.wait(10)

    def expire(self, why: str) -> None:
        self.why = why
        self.expired.set()


def enter_in_background(lanes: Lanes, lane: Lane, call: Call) -> threading.Thread:
    thread = threading.Thread(target=lanes.enter, args=(lane, call.run, call.expire), name=f"caller-{id(call)}")
    thread.start()
    return thread


def test_an_app_at_its_cap_waits_without_a_thread_and_starts_when_a_call_of_its_lane_ends(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "2")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    first, second, third = Call(), Call(), Call()
    lane = Lane("a", "slow:80", retry=False)
    callers = [enter_in_background(lanes, lane, c) for c in (first, second)]
    assert first.started.wait(5) and second.started.wait(5)
    lanes.enter(lane, third.run, third.expire)  # returns at once: the third waits, holding no thread
    assert not third.started.is_set() and lanes.in_flight()["waiting"] == 1
    first.release.set()
    assert third.started.wait(5)  # room in its lane: it starts, on the call pool
    assert third.thread is not None and third.thread.startswith("ThreadPoolExecutor")
    second.release.set(), third.release.set()
    for caller in callers:
        caller.join(5)
    assert not third.expired.is_set()


def test_another_app_is_admitted_while_one_app_is_at_its_cap(pool: ThreadPoolExecutor,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    hanging, fast = Call(), Call()
    caller = enter_in_background(lanes, Lane("a", "slow:80", retry=False), hanging)
    assert hanging.started.wait(5)
    fast.release.set()
    lanes.enter(Lane("b", "fast:80", retry=False), fast.run, fast.expire)  # runs now, on this thread
    assert fast.thread == threading.current_thread().name
    hanging.release.set()
    caller.join(5)


def test_a_call_that_waits_past_the_lane_wait_is_handed_back_with_the_reason(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_HOST", "1")
    lanes = Lanes(pool, lane_wait=lambda: 0.05)
    hanging, waiting = Call(), Call()
    caller = enter_in_background(lanes, Lane("a", "slow:80", retry=False), hanging)
    assert hanging.started.wait(5)
    lanes.enter(Lane("b", "slow:80", retry=False), waiting.run, waiting.expire)
    assert waiting.expired.wait(5)
    assert waiting.why == "host slow:80 has 1 callbacks in flight (XTIMER_MAX_INFLIGHT_PER_HOST=1)"
    hanging.release.set()
    caller.join(5)
    assert not waiting.started.is_set()  # handed back: it never runs here as well
    assert lanes.in_flight() == {"apps": {}, "hosts": {}, "retries": 0, "waiting": 0}


def test_with_no_lane_wait_a_call_over_the_cap_is_handed_back_at_once(pool: ThreadPoolExecutor,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_RETRIES", "1")
    lanes = Lanes(pool, lane_wait=lambda: 0.0)
    hanging, retry, first_attempt = Call(), Call(), Call()
    caller = enter_in_background(lanes, Lane("a", "slow:80", retry=True), hanging)
    assert hanging.started.wait(5)
    lanes.enter(Lane("b", "other:80", retry=True), retry.run, retry.expire)
    assert retry.expired.is_set() and retry.why == "1 retries are in flight (XTIMER_MAX_INFLIGHT_RETRIES=1)"
    first_attempt.release.set()
    lanes.enter(Lane("b", "other:80", retry=False), first_attempt.run, first_attempt.expire)  # not a retry: runs
    assert first_attempt.started.is_set()
    hanging.release.set()
    caller.join(5)


def test_a_host_circuit_opens_after_its_failures_in_a_row_and_lets_one_probe_through_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_BREAKER_FAILURES", "3")
    clock = FakeClock(at("2026-03-01T12:00:00"))
    breakers = Breakers(clock)
    for _ in range(2):
        assert breakers.refuse("slow:80") is None
        breakers.record("slow:80", TIMEOUT)
    breakers.record("slow:80", ANSWER_500)  # an answer, even a 500: the host is alive, the count starts again
    for _ in range(3):
        breakers.record("slow:80", TIMEOUT)
    assert breakers.refuse("slow:80") == ("circuit open for host slow:80 since 2026-03-01T12:00:00Z after 3 timeouts "
                                          "or connection failures in a row; next probe at 2026-03-01T12:00:30Z "
                                          "(no call made)")
    assert breakers.refuse("fast:80") is None  # per host
    clock.advance(30)
    assert breakers.refuse("slow:80") is None  # the probe
    assert breakers.refuse("slow:80") is not None  # only one
    breakers.record("slow:80", TIMEOUT)  # the probe failed: open for another period
    assert "since 2026-03-01T12:00:30Z after 4 timeouts" in (breakers.refuse("slow:80") or "")
    clock.advance(30)
    assert breakers.refuse("slow:80") is None
    breakers.record("slow:80", ANSWER_500)
    assert breakers.refuse("slow:80") is None and not breakers.is_open("slow:80")


def test_a_destination_refused_by_policy_does_not_count_against_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_BREAKER_FAILURES", "1")
    breakers = Breakers(FakeClock(at("2026-03-01T12:00:00")))
    breakers.record("internal:80", REFUSED_BY_POLICY)
    assert breakers.refuse("internal:80") is None


@pytest.mark.parametrize("url, host", [
    ("http://Example.com/hook", "example.com:80"),
    ("https://example.com/hook", "example.com:443"),
    ("http://127.0.0.1:8080/a?b", "127.0.0.1:8080"),
    ("http://[::1]:9000/", "::1:9000"),
])
def test_a_receiver_is_its_host_and_port(url: str, host: str) -> None:
    assert host_of(url) == host


def test_callbacks_of_several_apps_waiting_for_one_host_start_oldest_first(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_HOST", "1")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    running = Call()
    caller = enter_in_background(lanes, Lane("a", "shared:80", retry=False), running)
    assert running.started.wait(5)
    order: list[str] = []
    done = threading.Semaphore(0)

    def call(name: str) -> Callable[[], None]:
        def run() -> None:
            order.append(name)
            done.release()
        return run

    for name, app in (("b1", "b"), ("a1", "a"), ("b2", "b"), ("c1", "c"), ("a2", "a")):
        lanes.enter(Lane(app, "shared:80", retry=False), call(name), lambda why: None)
    running.release.set()
    for _ in range(5):
        assert done.acquire(timeout=5)
    caller.join(5)
    assert order == ["b1", "a1", "b2", "c1", "a2"]


def test_a_call_behind_many_of_a_full_lane_starts_when_its_own_lane_makes_room(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    a_running, b_running, b_next = Call(), Call(), Call()
    lane_a, lane_b = Lane("a", "shared:80", retry=False), Lane("b", "shared:80", retry=False)
    callers = [enter_in_background(lanes, lane_a, a_running), enter_in_background(lanes, lane_b, b_running)]
    assert a_running.started.wait(5) and b_running.started.wait(5)
    a_waiting = [Call() for _ in range(50)]
    for call in a_waiting:  # app a's herd waits first, its lane full
        lanes.enter(lane_a, call.run, call.expire)
    lanes.enter(lane_b, b_next.run, b_next.expire)  # then one of app b, behind all of them
    b_running.release.set()
    assert b_next.started.wait(5)  # its lane has room now: it starts, a's herd notwithstanding
    assert not any(call.started.is_set() for call in a_waiting) and lanes.in_flight()["waiting"] == 50
    a_running.release.set()
    assert a_waiting[0].started.wait(5) and lanes.in_flight()["waiting"] == 49  # then a's, oldest first
    for call in [b_next, *a_waiting]:
        call.release.set()
    for caller in callers:
        caller.join(5)


def test_a_late_claim_waits_for_room_in_its_own_lane_only_and_goes_once_a_call_of_it_ends(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cap 1, so BACKLOG_ROUNDS (2) callbacks waiting in a lane fill it for late claims.
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    lane, other = Lane("a", "slow:80", retry=False), Lane("b", "fast:80", retry=False)
    running, waiting = Call(), [Call(), Call()]
    caller = enter_in_background(lanes, lane, running)
    assert running.started.wait(5)
    assert lanes.wait_for_room(lane, timeout=0.0)  # one round waits at most: room
    lanes.release_room(lane)
    for call in waiting:
        lanes.enter(lane, call.run, call.expire)
    assert lanes.wait_for_room(other, timeout=0.0)  # another app's lane is not held back
    lanes.release_room(other)
    assert not lanes.wait_for_room(lane, timeout=0.05)  # two rounds wait and none ends: no room in time
    got_room = threading.Event()
    claimer = threading.Thread(target=lambda: lanes.wait_for_room(lane, timeout=10) and got_room.set())
    claimer.start()
    assert not got_room.wait(0.1)
    running.release.set()  # a call of the lane ends: the first waiting one starts, one round is left
    assert waiting[0].started.wait(5) and got_room.wait(5)
    for call in waiting:
        call.release.set()
    assert waiting[1].started.wait(5)
    caller.join(5), claimer.join(5)
    assert not any(call.expired.is_set() for call in waiting)


def test_late_claims_waiting_on_one_lane_take_its_room_one_by_one_until_each_gives_it_back(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cap 1: two callbacks waiting fill the lane for late claims. One waits, so there is room for
    # one more, and eight claimers wait for room at once: one gets it, the others wait until it
    # gives the room back (its fire in the lane by then, or dropped), not all at once.
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    lane = Lane("a", "slow:80", retry=False)
    running, queued = Call(), Call()
    caller = enter_in_background(lanes, lane, running)
    assert running.started.wait(5)
    lanes.enter(lane, queued.run, queued.expire)  # one waits in the lane: room for one more
    let_through = threading.Semaphore(0)
    claimers = [threading.Thread(target=lambda: lanes.wait_for_room(lane, timeout=10) and let_through.release())
                for _ in range(8)]
    for claimer in claimers:
        claimer.start()
    assert let_through.acquire(timeout=5)
    assert not let_through.acquire(timeout=0.1)  # the room is held: nobody else is let through
    assert not lanes.has_room(lane)
    for _ in range(7):
        lanes.release_room(lane)  # given back (say its claim found the fire done): the next goes
        assert let_through.acquire(timeout=5)
        assert not let_through.acquire(timeout=0.05)
    lanes.release_room(lane)
    assert lanes.has_room(lane)
    running.release.set(), queued.release.set()
    assert queued.started.wait(5)
    caller.join(5)
    for claimer in claimers:
        claimer.join(5)


def test_a_lane_that_drains_is_waited_for_and_only_a_stuck_one_hands_back(
        pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    # One app's herd to a fast receiver: six calls of 0.1 s through a cap of one, a lane wait of
    # 0.2 s. Calls of the lane keep ending, so none is handed back although most wait past 0.2 s.
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    lanes = Lanes(pool, lane_wait=lambda: 0.2)
    ran: list[int] = []
    expired: list[str] = []
    done = threading.Semaphore(0)

    def call(n: int) -> None:
        threading.Event().wait(0.1)  # the receiver's answer takes 0.1 s
        ran.append(n)
        done.release()

    def hand_back(why: str) -> None:
        expired.append(why)
        done.release()

    lane = Lane("herd", "fast:80", retry=False)
    first = threading.Thread(target=lanes.enter, args=(lane, lambda: call(0), hand_back))
    first.start()
    for n in range(1, 6):
        lanes.enter(lane, lambda n=n: call(n), hand_back)
    for _ in range(6):
        assert done.acquire(timeout=10)
    first.join(5)
    assert expired == [] and sorted(ran) == [0, 1, 2, 3, 4, 5]


def open_circuit(clock: FakeClock, host: str) -> Breakers:
    """Breakers whose circuit for `host` opened now, after the default 5 timeouts in a row."""
    breakers = Breakers(clock)
    for _ in range(5):
        breakers.record(host, TIMEOUT)
    return breakers


def test_fires_to_an_open_circuit_are_parked_until_after_its_next_probe_spread_over_a_period() -> None:
    clock = FakeClock(at("2026-03-01T12:00:00"))
    breakers = open_circuit(clock, "dead:80")
    clock.advance(12)
    assert breakers.seconds_to_probe("dead:80") == 18  # opened at 12:00:00 for 30 s
    assert breakers.blocked("dead:80") == breakers.refuse("dead:80") is not None
    assert breakers.blocked("dead:80", due=clock() + 18) is None  # due by the probe: claimed, its call decides
    rng = random.Random(7)
    delays = [breakers.park_delay("dead:80", rng) for _ in range(200)]
    assert min(delays) >= 18 + 13 and max(delays) <= 48 + 13  # after the probe's answer, within a period of it
    assert len(set(delays)) > 20  # spread: not all back in the probe's second
    assert breakers.blocked("alive:80") is None and breakers.seconds_to_probe("alive:80") is None


def test_parking_never_takes_the_probe_and_the_probe_still_goes_once() -> None:
    clock = FakeClock(at("2026-03-01T12:00:00"))
    breakers = open_circuit(clock, "dead:80")
    clock.advance(30)
    assert breakers.blocked("dead:80") is None and breakers.blocked("dead:80") is None  # claimed, then decided
    assert breakers.refuse("dead:80") is None  # the probe
    assert breakers.blocked("dead:80") is not None and breakers.refuse("dead:80") is not None


def test_a_parked_fire_is_noted_once_per_open_period() -> None:
    clock = FakeClock(at("2026-03-01T12:00:00"))
    breakers = open_circuit(clock, "dead:80")
    assert breakers.first_notice("dead:80", "f1") and breakers.first_notice("dead:80", "f2")
    assert not breakers.first_notice("dead:80", "f1")
    clock.advance(30)
    assert breakers.refuse("dead:80") is None
    breakers.record("dead:80", TIMEOUT)  # the probe failed: a new open period
    assert breakers.first_notice("dead:80", "f1")


def test_a_waiting_call_is_handed_back_with_its_room_when_the_pool_has_shut_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_MAX_INFLIGHT_PER_APP", "1")
    pool = ThreadPoolExecutor(max_workers=2)
    lanes = Lanes(pool, lane_wait=lambda: 10.0)
    running, waiting = Call(), Call()
    lane = Lane("a", "slow:80", retry=False)
    lanes.enter(lane, running.run, running.expire, inline=False)
    assert running.started.wait(5)
    lanes.enter(lane, waiting.run, waiting.expire)  # waits for the running call's room
    pool.shutdown(wait=False)  # the process stops while a call is still in flight
    running.release.set()  # its end finds the waiting one room: the pool takes nothing any more

    assert waiting.expired.wait(5) and waiting.why == "the worker is stopping"
    assert not waiting.started.is_set()
    assert lanes.in_flight() == {"apps": {}, "hosts": {}, "retries": 0, "waiting": 0}
    pool.shutdown(wait=True)

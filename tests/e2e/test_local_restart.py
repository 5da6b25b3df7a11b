"""`make run` keeps its state across restarts, a `kill -9` included, and stops cleanly on Ctrl-C.

Each test starts `python -m xtimer_local` as a subprocess (tests/support/stack_process.py), with
its state in a temporary directory, and talks to it over HTTP as a developer's client would;
callbacks go to a receiver on 127.0.0.1.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack_process import StackProcess
from xtimer_cli.client import XtimerClient

EVERY_2_S = "*/2 * * * * *"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def client(stack: StackProcess, key: str | None = None) -> XtimerClient:
    session = requests.Session()
    if key:
        session.headers["X-Xtimer-Key"] = key
    return XtimerClient(stack.url, session=session)


def create_enabled(api: XtimerClient, app: str, name: str, url: str) -> int:
    timer_id = int(api.create_timer(app, name, EVERY_2_S, {"url": url, "method": "POST"})["timerId"])
    api.enable_timer(app, timer_id)
    return timer_id


def fires_by_timer(rx: Receiver) -> Counter[str]:
    return Counter(r.header("X-Xtimer-Idempotency-Key") or "" for r in rx.received())


def test_a_timer_and_its_key_survive_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"XTIMER_AUTH": "required"}
    stack = StackProcess(tmp_path / "stack.log", "--state-dir", str(state), env=env).start()
    try:
        key = stack.found(r"development key for app 'demo': (\S+)")
        api = client(stack, key)
        timer_id = int(api.create_timer("demo", "survivor", "0 3 * * *",
                                        {"url": "http://127.0.0.1:9/hook", "method": "POST"})["timerId"])
        secret = api.call("GET", "/xtimer/getSigningSecret", {"app": "demo"})
        api.enable_timer("demo", timer_id)
        stack.kill()  # right after the acknowledged enableTimer: moto first, then the stack

        stack = StackProcess(tmp_path / "stack.log", "--state-dir", str(state), env=env).start()
        api = client(stack, key)  # the old key still works
        timer = api.get_timer("demo", timer_id)
        assert timer["timerId"] == timer_id and timer["name"] == "survivor" and timer["status"] == 2
        assert api.call("GET", "/xtimer/getSigningSecret", {"app": "demo"}) == secret
    finally:
        stack.stop()


def test_fresh_starts_empty(tmp_path: Path) -> None:
    state = tmp_path / "state"
    stack = StackProcess(tmp_path / "stack.log", "--state-dir", str(state)).start()
    try:
        api = client(stack)
        timer_id = int(api.create_timer("demo", "old", "0 3 * * *",
                                        {"url": "http://127.0.0.1:9/hook", "method": "POST"})["timerId"])
        code, _ = stack.interrupt()
        assert code == 0
        stack = StackProcess(tmp_path / "stack.log", "--state-dir", str(state), "--fresh").start()
        with pytest.raises(Exception, match="not found"):
            client(stack).get_timer("demo", timer_id)
    finally:
        stack.stop()


@pytest.mark.parametrize("processes", [1, 2], ids=["one-worker-process", "two-worker-processes"])
def test_a_restart_in_the_middle_of_firing_loses_no_fire_and_doubles_none(tmp_path: Path, receiver: Receiver,
                                                                          processes: int) -> None:
    state = tmp_path / "state"
    args = ("--state-dir", str(state), "--worker-processes", str(processes))
    stack = StackProcess(tmp_path / "stack.log", *args).start()
    try:
        api = client(stack)
        timers = [create_enabled(api, "demo", f"t{n}", receiver.url(f"/t{n}")) for n in range(3)]
        receiver.wait_for(9, timeout=30)  # a few rounds of fires made
        # Ctrl-C 1.3 s after an even second: the next fires (visible a second or two early) are
        # then most likely received and waiting for their second, so they are handed back.
        time.sleep((1.3 - time.time()) % 2)
        code, _ = stack.interrupt()
        assert code == 0
        stopped_at = time.time()
        made_before = {k for k in fires_by_timer(receiver)}
        time.sleep(3)  # fires fall due while it is down

        stack = StackProcess(tmp_path / "stack.log", *args).start()
        # Every fire from the first one made to a few seconds after the restart, once each. A fire
        # held at the Ctrl-C was claimed; it is made again once that claim's lease (60 s) is over.
        until_ms = int((time.time() + 4) * 1000) // 2000 * 2000
        deadline = time.monotonic() + 120

        def missing() -> dict[int, list[int]]:
            made = fires_by_timer(receiver)
            gaps = {}
            for timer_id in timers:
                times = sorted(int(k.split("-")[1]) for k in made if k.startswith(f"{timer_id}-"))
                expected = range(times[0], until_ms + 1, 2000) if times else range(0)
                gaps[timer_id] = [t for t in expected if f"{timer_id}-{t}" not in made]
            return {t: g for t, g in gaps.items() if g}

        while missing() and time.monotonic() < deadline:
            time.sleep(1)
        assert missing() == {}, f"fires never made (stopped at {stopped_at:.0f})"
        doubled = {k: n for k, n in fires_by_timer(receiver).items() if n > 1}
        assert doubled == {}
        api = client(stack)  # and the task records of the fires made before the restart are there
        recorded = {f"{t}-{task['fireMs']}" for t in timers
                    for task in api.get_tasks("demo", t, page_size=100)["tasks"]}
        assert made_before <= recorded
    finally:
        stack.stop()


@pytest.mark.parametrize("processes", [1, 2], ids=["one-worker-process", "two-worker-processes"])
def test_ctrl_c_stops_the_stack_quickly_and_cleanly(tmp_path: Path, receiver: Receiver, processes: int) -> None:
    stack = StackProcess(tmp_path / "stack.log", "--state-dir", str(tmp_path / "state"),
                         "--worker-processes", str(processes)).start()
    try:
        api = client(stack)
        for n in range(5):
            create_enabled(api, "demo", f"t{n}", receiver.url(f"/t{n}"))
        receiver.wait_for(15, timeout=40)  # every timer has fired a few times; more are held now
        children = stack.children()  # its moto, and its other worker processes
        assert len(children) == processes, stack.output()
        code, seconds = stack.interrupt()
        print(f"Ctrl-C to exit: {seconds:.2f} s")
        output = stack.output()
        assert code == 0, output
        assert seconds < 15, output
        assert "Traceback" not in output and "Error" not in output, output
        assert "stopped in" in output
        assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == [], "a child process outlived the stack"
    finally:
        stack.stop()


def test_loopback_callbacks_can_be_refused_locally(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "stack.log", "--ephemeral",
                         env={"XTIMER_ALLOW_LOOPBACK_CALLBACKS": "false"}).start()
    try:
        reply = requests.post(stack.url + "/xtimer/creatTimer", timeout=10, json={
            "app": "demo", "name": "ssrf", "cron": EVERY_2_S,
            "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "POST"}}).json()
        assert reply["code"] != 0
        assert "loopback" in reply["message"]
    finally:
        stack.stop()

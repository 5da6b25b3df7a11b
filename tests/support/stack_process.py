"""`python -m xtimer_local` as a subprocess in a process group of its own, for the e2e tests:
started, interrupted as a terminal's Ctrl-C does (SIGINT to the group), or killed (SIGKILL)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from xtimer_local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


class StackProcess:
    def __init__(self, log_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path, self.args = log_path, args
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        for name in ("AWS_ENDPOINT_URL", "XTIMER_STAGE", "XTIMER_ALLOW_LOOPBACK_CALLBACKS"):  # the stack's own
            if name not in (env or {}):
                self.env.pop(name, None)
        self.port = 0
        self._log_start = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> StackProcess:
        self.port = free_port()
        self._log_start = len(self.output()) if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xtimer_local", "--port", str(self.port), *self.args],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                process_group=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the stack exited:\n{self.output()}"
            if "xtimer is running on" in self.output()[self._log_start:]:  # after the dev key, if any
                if requests.get(self.url + "/health", timeout=5).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"no /health within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def found(self, pattern: str) -> str:
        """The last match of `pattern`'s group in the output of this run."""
        match = re.findall(pattern, self.output()[self._log_start:])
        assert match, f"{pattern!r} not in the output:\n{self.output()}"
        return match[-1]

    def moto_pid(self) -> int:
        return int(self.found(r"embedded AWS \(moto\) on \S+ \(process (\d+)\)"))

    def children(self) -> list[int]:
        """The stack's child processes: its moto, and its other worker processes (--worker-processes)."""
        assert self.process is not None
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children", encoding="ascii") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def interrupt(self, timeout: float = 60.0) -> tuple[int, float]:
        """Ctrl-C in a terminal: SIGINT to the whole process group. Returns (exit code, seconds)."""
        assert self.process is not None
        began = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout)
        return code, time.monotonic() - began

    def kill(self) -> None:
        """kill -9 of the moto child first (it cannot flush anything), then of the stack's group."""
        assert self.process is not None
        moto = self.moto_pid()
        os.kill(moto, signal.SIGKILL)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        _wait_gone(moto)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)

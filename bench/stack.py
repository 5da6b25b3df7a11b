"""The local stack (`python -m xtimer_local`) as a subprocess, started and stopped by a benchmark.

The benchmark never imports the service: it talks to it over HTTP, as a user would, so what it
measures includes everything a user's callback goes through.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

from bench.machine import ROOT


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


WORKER_PROCESSES = 2
"""The worker processes of every stack a benchmark starts (`--worker-processes`): two, as Lambda
runs a herd's batches in several containers, and because one process sends no faster than one
Python process can (the bare loop's rate). Until 2026-12-06 the suite ran with one; that A/B is in
docs/benchmarks.md."""


class StackError(RuntimeError):
    pass


class StackProcess:
    """`python -m xtimer_local --port <free port>` with its output in `log_path`."""

    def __init__(self, log_path: Path, *, pollers: int | None = None, extra_args: tuple[str, ...] = (),
                 host: str = "127.0.0.1", env: dict[str, str] | None = None,
                 worker_processes: int = WORKER_PROCESSES) -> None:
        self.log_path = log_path
        self.host = host
        self.port = 0
        self.pollers = pollers
        self.worker_processes = worker_processes
        self.extra_args = extra_args
        self.env = dict(env or {})  # added to this process's environment
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def command(self) -> list[str]:
        # --ephemeral: a fresh, empty service whose moto keeps nothing on disk (no journal fsyncs in
        # the figures; `make run` journals every write, about 1 ms each on this machine's disk).
        args = [sys.executable, "-m", "xtimer_local", "--host", self.host, "--port", str(self.port), "--ephemeral"]
        if self.pollers is not None:
            args += ["--pollers", str(self.pollers)]
        if self.worker_processes != 1:
            args += ["--worker-processes", str(self.worker_processes)]
        return args + list(self.extra_args)

    def start(self, timeout: float = 90.0) -> StackProcess:
        self.port = free_port(self.host)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        env.pop("AWS_ENDPOINT_URL", None)  # always its own embedded moto: a fresh, empty service
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        began = time.monotonic()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with requests.Session() as http:
            while time.monotonic() - began < timeout:
                if self.process.poll() is not None:
                    raise StackError(f"the local stack exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if http.get(self.url + "/health", timeout=2).status_code == 200:
                        self.started_in = time.monotonic() - began
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.2)
        self.stop()
        raise StackError(f"the local stack did not answer /health within {timeout} s:\n{self.log_tail()}")

    def moto_endpoint(self) -> str | None:
        """The embedded moto's URL, as the stack logs it."""
        match = re.search(r"embedded AWS \(moto\) on (\S+)", self.log_path.read_text(errors="replace"))
        return match.group(1) if match else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def children(self) -> list[int]:
        """Child processes of the stack (its moto, unless it runs in the stack's own process)."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children", encoding="ascii") as f:
                return [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return []

    def raise_if_died(self, during: str) -> None:
        """RuntimeError with the log's tail if the stack has exited; `during` names what ran ("run", "series")."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the local stack died during the {during}:\n{self.log_tail()}")

    def cpu_seconds(self, pid: int | None = None) -> float | None:
        """CPU time (user + system) the stack process (or `pid`) used so far, from /proc."""
        return process_cpu_seconds(pid or self.pid)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (the stack stops cleanly), then SIGKILL if it does not."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None

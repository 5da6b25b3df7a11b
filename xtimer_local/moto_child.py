"""Starting and stopping the local stack's moto child (`python -m xtimer_local.moto_server`).

The one way it is started, by the stack, the tests and the benchmarks alike: in a session of its
own, so a Ctrl-C in the terminal (SIGINT to the foreground process group) does not reach it and
the stack can stop it last; it ends when its standard input closes, so it also ends when the
stack dies, `kill -9` included.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


class MotoDidNotStart(RuntimeError):
    """The moto child exited before it was ready, or took too long."""


class MotoChild:
    def __init__(self, host: str, port: int, *, state_dir: Path | None = None, fresh: bool = False,
                 sqs_speedups: bool = True, dynamodb_speedups: bool = True,
                 stderr: IO[bytes] | int | None = None) -> None:
        self.host, self.port = host, port
        self.endpoint = f"http://{host}:{port}"
        self.command = [sys.executable, "-m", "xtimer_local.moto_server", "--host", host, "--port", str(port)]
        if state_dir is not None:
            self.command += ["--state-dir", str(state_dir)]
        if fresh:
            self.command.append("--fresh")
        if not sqs_speedups:
            self.command.append("--no-speedups")
        elif not dynamodb_speedups:
            self.command.append("--no-dynamodb-speedups")
        self._stderr = stderr
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120.0) -> MotoChild:
        """Start it and wait for "ready"; MotoDidNotStart if it exits or takes longer than `timeout`."""
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, cwd=ROOT, start_new_session=True)
        ready = threading.Event()
        output = self.process.stdout

        def wait_for_ready() -> None:
            if output is not None and output.readline() == b"ready\n":
                ready.set()

        threading.Thread(target=wait_for_ready, name="moto-ready", daemon=True).start()
        began = time.monotonic()
        while not ready.wait(0.1):
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise MotoDidNotStart(f"the embedded moto exited with code {code} before it was ready "
                                      "(its reason is printed above)")
            if time.monotonic() - began > timeout:
                self.stop()
                raise MotoDidNotStart(f"the embedded moto was not ready on port {self.port} within {timeout:g} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close its standard input (it stops), and kill it if it has not stopped within `timeout`."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(5)

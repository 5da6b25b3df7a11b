"""Helpers for the browser tests: Debian's Chromium (installed if missing, where that is possible),
and the whole local stack (`python -m xtimer_local`) in a subprocess on a free port.

Chromium is Debian's package, driven by Playwright for Python with `executable_path`; Playwright's
own browser download (`playwright install`) is never used.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from xtimer_local.stack import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("XTIMER_CHROMIUM", "/usr/bin/chromium"))
INSTALL_TIMEOUT_SECONDS = float(os.environ.get("XTIMER_CHROMIUM_INSTALL_TIMEOUT", "900"))
# The flags a closed network needs (no calls home, no component updates) and a container allows.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@dataclass
class ChromiumLookup:
    path: Path | None
    how: str  # what was done, or why there is no browser (the skip message)
    seconds: float = 0.0


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def find_or_install_chromium() -> ChromiumLookup:
    """Debian's /usr/bin/chromium; installed with apt-get when missing and we are root on Debian."""
    if CHROMIUM.exists():
        return ChromiumLookup(CHROMIUM, f"found {CHROMIUM}")
    can_install = (hasattr(os, "geteuid") and os.geteuid() == 0 and Path("/etc/debian_version").exists()
                   and shutil.which("apt-get") is not None)
    if not can_install:
        return ChromiumLookup(None, (
            f"no Chromium at {CHROMIUM}, and it cannot be installed here (that needs root on Debian): "
            "install Debian's package (`sudo apt-get install --no-install-recommends chromium`), "
            "or set XTIMER_CHROMIUM to a Chromium binary"))
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_wait = ["-o", "DPkg::Lock::Timeout=120"]
    for command in (["apt-get", *lock_wait, "update", "-q"],
                    ["apt-get", *lock_wait, "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        remaining = INSTALL_TIMEOUT_SECONDS - (time.monotonic() - started)
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=max(remaining, 1),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return ChromiumLookup(None, f"installing Chromium took longer than {INSTALL_TIMEOUT_SECONDS:.0f} s "
                                        f"(`{' '.join(command)}`); set XTIMER_CHROMIUM_INSTALL_TIMEOUT to wait longer")
        if done.returncode != 0:
            return ChromiumLookup(None, f"`{' '.join(command)}` failed ({done.returncode}), so there is no "
                                        f"browser:\n{_tail(done.stdout + done.stderr)}")
    seconds = time.monotonic() - started
    if not CHROMIUM.exists():
        return ChromiumLookup(None, f"apt-get installed chromium, but there is still no {CHROMIUM}")
    return ChromiumLookup(CHROMIUM, f"installed Debian's chromium with apt-get in {seconds:.0f} s", seconds)


class LocalService:
    """`python -m xtimer_local` on a free port, as `make run` starts it; stopped with SIGTERM."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> LocalService:
        env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
        # One attempt per fire: a failed callback is final at once, so a test sees it without waiting
        # out the retries.
        env.update({"XTIMER_STAGE": "console", "XTIMER_MAX_ATTEMPTS": "1", "PYTHONUNBUFFERED": "1", **self.extra_env})
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                # --ephemeral: every run starts empty, and never touches the checkout's .xtimer-local/.
                [sys.executable, "-m", "xtimer_local", "--host", "127.0.0.1", "--port", str(self.port), "--pollers", "2",
                 "--ephemeral"],
                # In the test run's process group: whatever ends the run (Ctrl-C, a CI timeout) ends it too.
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self._process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the local stack did not answer /health within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return _tail(self.log_path.read_text(errors="replace"), 40) if self.log_path.exists() else ""

    def development_key(self, timeout: float = 15.0) -> str:
        """The key for app `demo` that the stack prints when started with XTIMER_AUTH=required
        (once it is up, which can be just after /health first answers)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(r"development key for app 'demo': (xtk_\S+)", self.log_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"the stack printed no development key within {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

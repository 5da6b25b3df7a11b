"""The local stack's write-ahead log: one JSON object a line, on disk before moto's reply leaves.

`append()` writes a line and fsyncs it, so an entry the caller has been told about survives a
`kill -9` of any process and a crash of the machine's page cache. `rewrite()` replaces the whole
log atomically (a new file, fsynced, renamed over the old one, the directory fsynced): that is
how the log is compacted. A torn last line, left by a process killed in the middle of a write
that was never acknowledged, is skipped when the log is read.

One process at a time may hold a state directory: `lock()` takes an exclusive `flock` on
`<dir>/lock`, waiting for a previous holder (a moto child still on its way out) to let go.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger("xtimer.local")

LOG_NAME = "moto-journal.jsonl"


class StateDirBusy(RuntimeError):
    """Another local stack holds the state directory."""


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOG_NAME
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.entries_written = 0  # since the last rewrite, or since it was opened

    def lock(self, timeout: float = 15.0) -> None:
        """Hold the state directory for this process, waiting up to `timeout` for another holder."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise StateDirBusy(f"{self.directory} is in use by another local stack "
                                       f"(stop it, or pass another --state-dir)") from None
                time.sleep(0.1)
        self._lock_fd = fd

    def read(self) -> Iterator[dict[str, Any]]:
        """The entries on disk, oldest first (a torn last line is skipped)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                if number < len(lines) - 1:  # not the last line: the log is damaged, say so
                    log.warning("%s: line %s is not JSON; skipped", self.path, number)

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_directory(self.directory)

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        """Write `entries` and return once they are on disk."""
        data = b"".join(_line(entry) for entry in entries)
        if not data:
            return
        with self._lock:
            assert self._fd is not None, "open() first"
            os.write(self._fd, data)
            os.fsync(self._fd)
            self.entries_written += data.count(b"\n")

    def rewrite(self, entries: Iterable[dict[str, Any]]) -> int:
        """Replace the log with `entries`, atomically; returns how many were written."""
        temporary = self.path.with_suffix(".tmp")
        count = 0
        with self._lock:
            with open(temporary, "wb") as f:
                for entry in entries:
                    f.write(_line(entry))
                    count += 1
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
            _fsync_directory(self.directory)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            self.entries_written = 0
        return count

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


def _line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The benchmarks' callback receiver: aiohttp in a process of its own, answering 200 "ok" to everything.

The tests' receiver (tests.support.receiver) serves each connection on a thread of the process
that runs it, with http.server's parser: on this 2-core machine it takes about 680 requests a
second at most, so a benchmark of 300 callbacks due in one second measured the receiver, not
xtimer. This one parses with aiohttp's C parser on an event loop, in a child process (so it has
a core's worth of GIL to itself and takes 2,000 callbacks a second and more). It records every
request as tests.support.receiver.Request, and hands them to the benchmark on `received()`, only
the new ones crossing the pipe each time.

    with FastReceiver() as rx:
        url = rx.url("/bench/t1")
        ... the stack calls it ...
        requests = rx.received()
"""
from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from tests.support.receiver import Request

_START_TIMEOUT_S = 30.0


def _serve(conn: Connection) -> None:
    """The child: an aiohttp server on 127.0.0.1 (any free port); answers the parent's "get"
    with the requests that arrived since the last one, and stops on "stop"."""
    from aiohttp import web

    arrived: list[Request] = []
    lock = threading.Lock()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = Request(method=request.method, path=request.path_qs, headers=dict(request.headers),
                         body=body, arrived_at=time.time(), client=tuple(peer[:2]) if peer else ("", 0))
        with lock:
            arrived.append(record)
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        conn.send(port)
        loop = asyncio.get_running_loop()
        while True:  # the pipe is read on a thread: the loop keeps serving meanwhile
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            with lock:
                new, arrived[:] = list(arrived), []
            conn.send(new)
        await runner.cleanup()

    asyncio.run(main())


class FastReceiver:
    """Receives callbacks on 127.0.0.1 in a child process; the interface of the tests' Receiver
    that the benchmarks use (start, url, base_url, received, stop)."""

    def __init__(self) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._port = 0
        self._seen: list[Request] = []
        self._lock = threading.Lock()

    def start(self) -> FastReceiver:
        context = multiprocessing.get_context("spawn")  # nothing of the benchmark's threads inherited
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="fast-receiver", daemon=True)
        self._process.start()
        if not parent.poll(_START_TIMEOUT_S):
            self._process.kill()
            raise RuntimeError(f"the benchmark receiver did not start within {_START_TIMEOUT_S} s")
        self._port = parent.recv()
        self._conn = parent
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def received(self) -> list[Request]:
        """Every request so far, in the order they arrived."""
        with self._lock:
            if self._conn is not None:
                self._conn.send("get")
                self._seen.extend(self._conn.recv())
            return list(self._seen)

    def stop(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._seen.extend(self._fetch_last())
                self._conn = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def _fetch_last(self) -> list[Request]:
        assert self._conn is not None
        try:
            self._conn.send("get")
            last = self._conn.recv()
            self._conn.send("stop")
            return last
        except (EOFError, OSError):
            return []

    def __enter__(self) -> FastReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

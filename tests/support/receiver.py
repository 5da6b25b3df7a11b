"""A callback receiver on 127.0.0.1 for tests and benchmarks.

It records every request it gets and answers as it was told, per path:

    with Receiver() as rx:
        rx.respond("/hook", Response(500), Response(200, body="ok"))   # 500 once, then 200 forever
        rx.respond("/slow", Response(delay=2.0))
        rx.respond("/echo", lambda req: Response(200, body=req.body))
        ... send callbacks to rx.url("/hook") ...
        [first, second] = rx.wait_for(2, timeout=5)

As a pytest fixture:  ``receiver = pytest.fixture(receiver_fixture)`` in a conftest or test module.

The server speaks HTTP/1.1 with keep-alive and always frames its answers with Content-Length, so a
pooled client reuses connections. One thread serves each connection (daemon threads), and the
listen backlog is large, so it takes hundreds of callbacks per second.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Request:
    """One request as it arrived."""

    method: str
    path: str                  # the request target as sent, query string included
    headers: dict[str, str]    # names as sent; use header() for a case-insensitive look-up
    body: bytes
    arrived_at: float          # time.time() once the whole request was read
    client: tuple[str, int]    # the client's address: one port per TCP connection

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header `name`, matched case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


@dataclass(frozen=True)
class Response:
    """How to answer one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    delay: float = 0.0         # seconds to wait before answering
    close: bool = False        # close the connection without answering
    reset: bool = False        # abort the connection (TCP RST) without answering
    chunk_size: int = 0        # > 0: send the body in pieces of this many bytes ...
    chunk_delay: float = 0.0   # ... with this pause before each piece (a trickling server)

    @property
    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Responder = Callable[[Request], Response]


class _Program:
    """What one path answers: a function, or a sequence whose last answer repeats."""

    def __init__(self, responses: tuple[Response | int | Responder, ...]) -> None:
        if not responses:
            raise ValueError("give at least one response")
        if len(responses) == 1 and callable(responses[0]):
            self._function: Responder | None = responses[0]
            self._sequence: list[Response] = []
        else:
            self._function = None
            self._sequence = [Response(r) if isinstance(r, int) else r for r in responses]
            if not all(isinstance(r, Response) for r in self._sequence):
                raise TypeError("a sequence holds Response objects or status codes")
        self._next = 0
        self._lock = threading.Lock()

    def answer(self, request: Request) -> Response:
        if self._function is not None:
            return self._function(request)
        with self._lock:
            response = self._sequence[min(self._next, len(self._sequence) - 1)]
            self._next += 1
        return response


class _Server(ThreadingHTTPServer):
    daemon_threads = True          # a stuck connection never keeps the process alive
    request_queue_size = 1024      # listen backlog: bursts of new connections are not refused
    allow_reuse_address = True

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive unless the client says otherwise
    server_version = "xtimer-test-receiver/1.0"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, opened=False)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True  # the client hung up or reset: normal, nothing to answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class name
        """Quiet: a benchmark would otherwise print a line per request."""

    def _serve(self) -> None:
        receiver = self.server.receiver
        request = Request(
            method=self.command,
            path=self.path,
            headers=dict(self.headers.items()),
            body=self._read_body(),
            arrived_at=time.time(),
            client=self.client_address[:2],
        )
        receiver._record(request)
        try:
            response = receiver._program_for(request.route).answer(request)
        except Exception:  # a broken responder function is a test bug: answer 500 and say why
            response = Response(500, body=traceback.format_exc())
            receiver.errors.append(response.body)
        if response.delay > 0 and receiver._stopping.wait(response.delay):
            self.close_connection = True
            return
        if response.reset:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            # Close at once: socketserver would send a FIN first, which reads as a clean close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if response.close:
            self.close_connection = True
            return
        self._write(response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, response: Response) -> None:
        body = response.body_bytes
        has_body = not (response.status in (204, 304) or 100 <= response.status < 200)
        self.send_response(response.status)
        names = {name.lower() for name in response.headers}
        for name, value in response.headers.items():
            self.send_header(name, value)
        if has_body and "content-length" not in names and "transfer-encoding" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not has_body or self.command == "HEAD":
            return
        if response.chunk_size <= 0:
            self.wfile.write(body)
            return
        stopping = self.server.receiver._stopping
        for start in range(0, len(body), response.chunk_size):
            if response.chunk_delay > 0 and stopping.wait(response.chunk_delay):
                self.close_connection = True
                return
            self.wfile.write(body[start:start + response.chunk_size])
            self.wfile.flush()


for _method in METHODS:
    setattr(_Handler, f"do_{_method}", _Handler._serve)
del _method


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers as programmed."""

    def __init__(self, default: Response | Responder = Response()) -> None:
        self._default = _Program((default,))
        self._programs: dict[str, _Program] = {}
        self._requests: list[Request] = []
        self._counts: Counter[str] = Counter()   # requests per path and per route, for wait_for
        self.errors: list[str] = []              # tracebacks of responder functions that raised
        self._arrived = threading.Condition()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Listen on a free port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the receiver is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"receiver:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed answers and drop every open connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked reading the next request
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this receiver."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- programming answers ----------------------------------------------------------------------

    def respond(self, path: str | None, *responses: Response | int | Responder) -> None:
        """Program the answers for `path` (None: every path without its own program).

        Either one function Request -> Response, or a sequence of Response (or bare status codes)
        given in order, the last one repeating forever.
        """
        program = _Program(responses)
        with self._arrived:
            if path is None:
                self._default = program
            else:
                self._programs[path] = program

    def _program_for(self, route: str) -> _Program:
        with self._arrived:
            return self._programs.get(route, self._default)

    # -- what arrived -----------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._arrived:
            self._requests.append(request)
            self._counts.update({request.path, request.route})
            self._arrived.notify_all()

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def received(self, path: str | None = None) -> list[Request]:
        """Requests so far, oldest first; only those to `path` (with or without query) if given."""
        with self._arrived:
            return [r for r in self._requests if path is None or path in (r.path, r.route)]

    def wait_for(self, count: int, timeout: float = 5.0, path: str | None = None) -> list[Request]:
        """Block until at least `count` requests (to `path`, if given) arrived; return them all.

        Raises TimeoutError, saying how many did arrive, if they are not all there in time.
        """
        def how_many() -> int:
            return len(self._requests) if path is None else self._counts[path]

        with self._arrived:
            if not self._arrived.wait_for(lambda: how_many() >= count, timeout=timeout):
                where = f" on {path}" if path else ""
                raise TimeoutError(
                    f"expected {count} request(s){where} within {timeout} s, got {how_many()}"
                )
            return [r for r in self._requests if path is None or path in (r.path, r.route)]

    def clear(self) -> None:
        """Forget the requests received so far (programs stay)."""
        with self._arrived:
            self._requests.clear()
            self._counts.clear()


def receiver_fixture() -> Iterator[Receiver]:
    """Body of a pytest fixture: ``receiver = pytest.fixture(receiver_fixture)``."""
    with Receiver() as receiver:
        yield receiver

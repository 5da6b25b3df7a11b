"""`python -m xtimer_local.moto_server --port N [--state-dir D]`: the local stack's moto.

moto is pure Python and does most of the local stack's work (about three quarters of its CPU
time per fire: DynamoDB's expression evaluation above all). Sharing a process, and so a GIL,
with the worker, it would delay the worker threads that wake at each fire time to make their
call; in a process of its own it runs on the other core and the worker wakes on time.

Every local-stack patch applies (xtimer_local/patches.py). With a state directory, every write
moto accepts is journaled before its reply (xtimer_local/durable.py) and replayed at the next
start; without one, the state lives in memory only.

It ignores SIGINT: a Ctrl-C in the terminal reaches the whole foreground process group, and the
stack must stop its worker before its moto (the stack also starts it in a session of its own).
It prints "ready" once it listens and stops when its standard input closes, which happens when
the local stack stops or dies, however it dies.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from chalicelib import heap
from xtimer_local import patches

log = logging.getLogger("xtimer.local")


class MotoServer:
    """moto's WSGI app, patched, optionally journaled, served by werkzeug on a thread."""

    def __init__(self, host: str, port: int, *, state_dir: Path | None = None, fresh: bool = False,
                 sqs_speedups: bool = True, dynamodb_speedups: bool = True, compact_after: int = 20_000) -> None:
        self.host, self.port = host, port
        self.compact_after = compact_after
        self.state_dir, self.fresh, self.sqs_speedups = state_dir, fresh, sqs_speedups
        self.dynamodb_speedups = dynamodb_speedups
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.journal: Any = None

    def start(self) -> MotoServer:
        patches.apply_all(sqs_speedups=self.sqs_speedups, dynamodb_speedups=self.dynamodb_speedups)
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.state_dir is not None:
            app = self._durable(app)
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        return self

    def _durable(self, app: Any) -> Any:
        from xtimer_local.durable import DurableMoto
        from xtimer_local.journal import Journal

        assert self.state_dir is not None
        self.journal = Journal(self.state_dir)
        self.journal.lock()
        if self.fresh and self.journal.path.exists():
            self.journal.path.unlink()
            log.info("state %s: started empty (--fresh)", self.state_dir)
        durable = DurableMoto(app, self.journal, compact_after=self.compact_after)
        counts = durable.recover()
        log.info("state %s: %s requests and %s queued messages replayed", self.state_dir,
                 counts["requests"], counts["messages"])
        return durable

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.journal is not None:
            self.journal.close()


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, last (see the docstring)
    parser = argparse.ArgumentParser(prog="python -m xtimer_local.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="journal every accepted write here and replay it at start (default: memory only)")
    parser.add_argument("--fresh", action="store_true", help="forget the state directory's journal first")
    parser.add_argument("--no-speedups", action="store_true",
                        help="leave out every speed-up: SQS's (moto_speedups) and DynamoDB's (moto_dynamodb_speedups)")
    parser.add_argument("--no-dynamodb-speedups", action="store_true",
                        help="leave out DynamoDB's speed-ups only (moto_dynamodb_speedups)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("botocore", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        server = MotoServer(args.host, args.port, state_dir=args.state_dir, fresh=args.fresh,
                            sqs_speedups=not args.no_speedups,
                            dynamodb_speedups=not (args.no_speedups or args.no_dynamodb_speedups)).start()
    except Exception as exc:  # a clear line for the parent's log, not a traceback
        print(f"moto could not start: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    heap.freeze_startup()  # moto's start-up lives as long as the process (chalicelib.heap)
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes it, or is gone
    finally:
        server.stop()
        # The journal is closed and every entry was fsynced before its reply: skip the
        # interpreter's teardown of moto (a second or more, while the stack waits for it).
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()

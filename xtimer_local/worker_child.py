"""An extra worker process of the local stack (`--worker-processes N`): `python -m xtimer_local.worker_child`.

One Python process sends a few hundred callbacks a second at most (the GIL: about 1 ms of CPU
each), so a herd of fires due at one second, sent from one process, is as late as its last
callback's turn. Lambda spreads such a herd over concurrent invocations in containers of their
own; these processes do the same locally. Each runs the worker's handler (app.worker) with its
own pollers and invocation slots on the stack's queue, against the stack's moto; nothing else
is shared, as between Lambda containers, so a fire's exactly-once rests on its conditional
claim in DynamoDB (one moto, atomic: xtimer_local/moto_atomic.py), not on the process.

Like the moto child it runs in a session of its own (a terminal's Ctrl-C does not reach it) and
stops when its standard input closes: the stack closes it first when it stops, and the process
then stops as the stack's own worker does (pollers, running invocations, held messages handed
back). A stack killed outright closes it too, and the messages the child held come back after
the queue's visibility timeout.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from xtimer_local.stopping import StoppableSleep

ROOT = Path(__file__).resolve().parent.parent

STOP_BUDGET_SECONDS = 3.5
"""What a worker process gives its invocations once told to stop: within the stack's own budget
(xtimer_local.stack.STOP_BUDGET_SECONDS), so its held messages are handed back before moto stops."""


class WorkerDidNotStart(RuntimeError):
    """A worker process exited before it was ready, or took too long."""


class WorkerChild:
    """The stack's handle on one extra worker process."""

    def __init__(self, number: int, *, pollers: int, concurrency: int, stderr: IO[bytes] | int | None = None) -> None:
        self.number = number
        self.command = [sys.executable, "-m", "xtimer_local.worker_child", "--number", str(number),
                        "--pollers", str(pollers), "--concurrency", str(concurrency)]
        self._stderr = stderr
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> WorkerChild:
        """Start it with this process's environment (the stack's endpoint and stage) and wait for "ready"."""
        # "ready" comes on a pipe of its own: the child's standard output is the stack's, for its logs.
        ready_read, ready_write = os.pipe()
        try:
            self.process = subprocess.Popen(self.command + ["--ready-fd", str(ready_write)], stdin=subprocess.PIPE,
                                            stderr=self._stderr, cwd=ROOT, env=dict(os.environ),
                                            start_new_session=True, pass_fds=(ready_write,))
        finally:
            os.close(ready_write)
        ready = threading.Event()

        def wait_for_ready() -> None:
            with open(ready_read, "rb") as signal:
                if signal.readline() == b"ready\n":
                    ready.set()

        threading.Thread(target=wait_for_ready, name=f"worker-process-{self.number}-ready", daemon=True).start()
        began = time.monotonic()
        while not ready.wait(0.1):
            code = self.process.poll()
            if code is not None or time.monotonic() - began > timeout:
                self.kill()
                raise WorkerDidNotStart(f"worker process {self.number} " + (
                    f"exited with code {code} before it was ready (its reason is printed above)" if code is not None
                    else f"was not ready within {timeout:g} s"))
        return self

    def ask_to_stop(self) -> None:
        """Close its standard input: it stops taking fires, finishes or hands back what it holds, exits."""
        if self.process is not None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass

    def wait(self, timeout: float) -> bool:
        """Wait until it has exited (after ask_to_stop); kill it if it has not within `timeout`.
        True if it exited on its own."""
        process, self.process = self.process, None
        if process is None:
            return True
        try:
            process.wait(max(0.1, timeout))
            return True
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return False

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)


def serve(number: int, pollers: int, concurrency: int, ready_fd: int) -> None:
    """The child: the worker's pollers on the stack's queue until standard input closes, then the
    orderly stop."""
    import app as chalice_app  # the environment (endpoint, stage) is the stack's, inherited
    from chalicelib import config, heap, wiring
    from chalicelib.storage import aws
    from xtimer_local.worker_pool import WorkerPool

    stop = threading.Event()
    wiring.use(wiring.build(sleep=StoppableSleep(stop)))
    sqs = aws.sqs()
    url = sqs.get_queue_url(QueueName=config.fire_queue())["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pool = WorkerPool(sqs, url, arn, chalice_app.worker, stop, pollers=pollers, concurrency=concurrency,
                      name=f"worker-p{number}")
    pool.start()
    heap.freeze_startup()
    logging.getLogger("xtimer.local").info("worker process %s (pid %s): %s pollers, up to %s batches at once",
                                           number, os.getpid(), pollers, concurrency)
    with open(ready_fd, "wb") as ready:
        ready.write(b"ready\n")
    sys.stdin.buffer.read()  # until the stack closes it (or dies)
    deadline = time.monotonic() + STOP_BUDGET_SECONDS
    stop.set()
    pool.join_pollers(deadline)
    pool.finish(deadline)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xtimer_local.worker_child", description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, required=True)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ready-fd", type=int, required=True, help="where to write \"ready\" once polling")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)-7s %(name)s[p{args.number}]: %(message)s")
    for noisy in ("botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    serve(args.number, args.pollers, args.concurrency, args.ready_fd)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown of everything imported (as the stack does)


if __name__ == "__main__":
    main()

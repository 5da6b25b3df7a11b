"""`python -m xtimer_local` (what `make run` calls): start the whole service locally."""
from __future__ import annotations

import logging
import os
import signal
import sys

from pathlib import Path

import click

from xtimer_local.journal import StateDirBusy
from xtimer_local.moto_child import MotoDidNotStart
from xtimer_local.moto_internals import UnsupportedMoto
from xtimer_local.stack import DEFAULT_STATE_DIR, LocalStack
from xtimer_local.worker_child import WorkerDidNotStart


@click.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="$HOST or 127.0.0.1")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000")
@click.option("--pollers", type=int, default=4, show_default=True, help="Concurrent worker pollers (per worker process).")
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True,
              help="Batches the worker handles at once (Lambda's concurrency), per worker process.")
@click.option("--worker-processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes the worker runs in, as Lambda's containers: this one and N-1 more "
                   "(xtimer_local/worker_child.py); more send a herd of callbacks faster.")
@click.option("--endpoint-url", default=lambda: os.environ.get("AWS_ENDPOINT_URL") or None,
              help="Use this AWS endpoint (LocalStack, a shared moto) instead of starting moto.")
@click.option("--moto-speedups/--no-moto-speedups", default=True, show_default=True,
              help="The embedded moto's speed-ups: O(1) SQS, DynamoDB's constant work done once "
                   "(xtimer_local/moto_speedups.py, moto_dynamodb_speedups.py).")
@click.option("--moto-process/--no-moto-process", default=True, show_default=True,
              help="Run the embedded moto in a process of its own (see xtimer_local/moto_server.py).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get("XTIMER_LOCAL_STATE") or str(DEFAULT_STATE_DIR),
              show_default="$XTIMER_LOCAL_STATE or .xtimer-local/ in the checkout",
              help="Where the embedded moto keeps its state across restarts.")
@click.option("--fresh", is_flag=True, help="Start empty: forget the state kept in --state-dir.")
@click.option("--ephemeral", is_flag=True, help="Keep nothing on disk: the state is gone when the stack stops.")
def main(host: str, port: int, pollers: int, concurrency: int, worker_processes: int, endpoint_url: str | None,
         moto_speedups: bool, moto_process: bool, state_dir: Path, fresh: bool, ephemeral: bool) -> None:
    """Run the API, the minute tick and the worker on an embedded moto-backed AWS."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stdout)
    for noisy in ("botocore", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = LocalStack(host=host, port=port, pollers=pollers, concurrency=concurrency, worker_processes=worker_processes,
                       endpoint_url=endpoint_url, moto_speedups=moto_speedups, moto_process=moto_process,
                       state_dir=None if ephemeral else state_dir.resolve(), fresh=fresh)
    # SIGINT (Ctrl-C) and SIGTERM both ask for the orderly stop. Set explicitly: a process started
    # in the background by a non-interactive shell inherits SIGINT ignored, and Python then leaves
    # it so; and a KeyboardInterrupt could land anywhere in the main thread.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stack.stop_event.set())
    problem = None
    try:
        stack.start()
    except (StateDirBusy, UnsupportedMoto, MotoDidNotStart, WorkerDidNotStart) as exc:
        problem = str(exc)
    except OSError as exc:
        problem = f"could not start: {exc} (is port {port} taken? set PORT=...)"
    except BaseException:
        stack.stop()
        raise
    if problem is None:
        click.echo(f"xtimer is running on {stack.api_url}; Ctrl-C stops it.")
        click.echo(f"Web console: {stack.api_url}/console")
        stack.wait()
        click.echo("stopping...")
    # A second Ctrl-C must not cut the orderly stop short (it takes a few seconds at most).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stack.stop()
    if problem is not None:
        click.echo(f"Error: {problem}", err=True)
    # Everything is stopped and on disk; what is left is the interpreter's own teardown of
    # everything imported (boto, Chalice, PynamoDB...), which took 2 s of a Ctrl-C's 5.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if problem is not None else 0)


if __name__ == "__main__":
    main()

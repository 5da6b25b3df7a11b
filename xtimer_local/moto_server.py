"""`python -m xtimer_local.moto_server --port N`: the local stack's moto, in a process of its own.

moto is pure Python and does most of the local stack's work (about three quarters of its CPU
time per fire: DynamoDB's expression evaluation above all). Sharing a process, and so a GIL,
with the worker, it would delay the worker threads that wake at each fire time to make their
call; in a process of its own it runs on the other core and the worker wakes on time.

It prints "ready" once it listens and stops when its standard input closes, which happens when
the local stack stops or dies, however it dies.
"""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xtimer_local.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-speedups", action="store_true",
                        help="moto as it is (see moto_speedups and moto_transactions)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("botocore", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.no_speedups:
        from xtimer_local import moto_speedups, moto_transactions
        moto_speedups.apply()
        moto_transactions.apply()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes it, or is gone
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()

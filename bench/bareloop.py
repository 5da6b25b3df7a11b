"""The bare loop: the same callbacks xtimer makes, sent by a plain thread pool with requests, no AWS.

    python -m bench.bareloop [--callbacks 3000] [--threads 64] [--json FILE]

What this machine can send at all, to put xtimer's delivery rate in proportion: each callback is
a POST of a small body with the headers xtimer adds (timer id, fire time, attempt, idempotency
key, an HMAC-SHA256 signature), over a pooled keep-alive session, to the benchmarks' receiver
(bench.fast_receiver: aiohttp in a process of its own, as the stack's series use it). No claim,
no record, no queue: everything xtimer does beyond the HTTP call is what the difference between
the two rates measures. The CPU per callback is this process's: the sender's alone.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from bench.fast_receiver import FastReceiver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bareloop", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--callbacks", type=int, default=3000, help="callbacks to send")
    p.add_argument("--threads", type=int, default=64, help="threads sending them (xtimer's worker: 256 per process)")
    p.add_argument("--json", type=Path, default=None, help="write the result here (else print it)")
    return p.parse_args(argv)


def _headers(n: int, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = hmac.new(b"bench-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "User-Agent": "xtimer/1.0", "X-Xtimer-Timer-Id": str(n),
            "X-Xtimer-Fire-Time": "2026-03-01T12:00:00Z", "X-Xtimer-Attempt": "1",
            "X-Xtimer-Idempotency-Key": f"{n}-1772366400000", "X-Xtimer-Timestamp": stamp,
            "X-Xtimer-Signature": f"t={stamp},v1={signature}"}


def run(callbacks: int = 3000, threads: int = 64) -> dict[str, Any]:
    """Sends `callbacks` callbacks; their rate and the CPU this process spent per callback."""
    body = b'{"bench": "bare loop"}'
    with FastReceiver() as receiver, requests.Session() as session:
        adapter = HTTPAdapter(pool_connections=threads, pool_maxsize=threads, max_retries=0)
        session.mount("http://", adapter)
        url = receiver.url("/bare")

        def send(n: int) -> int:
            return session.post(url, data=body, headers=_headers(n, body), timeout=(3, 10)).status_code

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, range(min(threads, callbacks))))  # warm-up: connections opened, not counted
            cpu0, wall0 = time.process_time(), time.monotonic()
            statuses = list(pool.map(send, range(callbacks)))
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    return {"benchmark": "bareloop", "callbacks": callbacks, "threads": threads,
            "ok": sum(1 for s in statuses if s == 200), "seconds": round(wall, 2),
            "callbacks_per_second": round(callbacks / wall, 1),
            "cpu_ms_per_callback": round(cpu / callbacks * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args.callbacks, args.threads)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Signed callbacks: each callback carries an HMAC-SHA256 of its timestamp and body, keyed with a
secret of the timer's app, so a receiver can check that it came from this service and is fresh.

    X-Xtimer-Timestamp: 1795593495
    X-Xtimer-Signature: v1=5257a869...   (one v1= per valid secret, comma-separated, during a rotation)

The signed bytes are `<timestamp>.<body>` (an empty body for requests without one). `verify` is
the reference check; the README shows the same in a few lines.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Iterable


TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(secrets_: Iterable[str], timestamp: int, body: bytes) -> dict[str, str]:
    signatures = ",".join(f"v1={sign(s, timestamp, body)}" for s in secrets_)
    return {"X-Xtimer-Timestamp": str(timestamp), "X-Xtimer-Signature": signatures} if signatures else {}


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True if one of the header's v1 signatures is `secret`'s and the timestamp is fresh."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, part.strip()[3:])
               for part in signature_header.split(",") if part.strip().startswith("v1="))

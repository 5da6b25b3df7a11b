"""Signed callbacks: each callback carries HMAC-SHA256 signatures keyed with a secret of the
timer's app, so a receiver can check that it came from this service, unchanged, and is fresh.

    X-Xtimer-Timestamp: 1795593495
    X-Xtimer-Signature: v1=5257a869...,v2=9f1c0e2d...   (a v1= and a v2= per valid secret)

v2 signs the request itself (docs/security.md, "Signed callbacks"), the newline-joined lines of

    v2, <timestamp>, <METHOD>, <url>, <timer id>, <fire time>, <idempotency key>, <hex SHA-256 of the body>

where the url is the timer's callback URL as stored and the fire time is X-Xtimer-Fire-Time's
value. v1 signs only `<timestamp>.<body>`: a captured callback still verified after its method,
URL or X-Xtimer-* headers were changed. v1 is still sent, next to v2, while receivers move over.
`verify` is the reference check; the README shows the same in a few lines.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Iterable


TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Signed:
    """What a v2 signature covers besides the timestamp."""

    method: str
    url: str
    timer_id: int
    fire_time: str              # X-Xtimer-Fire-Time's value
    idempotency_key: str
    body: bytes


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """v1: over `<timestamp>.<body>` only (kept for receivers that have not moved to v2)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def canonical_v2(timestamp: int, request: Signed) -> bytes:
    return "\n".join(["v2", str(timestamp), request.method.upper(), request.url, str(request.timer_id),
                      request.fire_time, request.idempotency_key,
                      hashlib.sha256(request.body).hexdigest()]).encode("utf-8")


def sign_v2(secret: str, timestamp: int, request: Signed) -> str:
    return hmac.new(secret.encode(), canonical_v2(timestamp, request), hashlib.sha256).hexdigest()


def signature_headers(secrets_: Iterable[str], timestamp: int, request: Signed) -> dict[str, str]:
    parts = []
    for secret in secrets_:
        parts += [f"v1={sign(secret, timestamp, request.body)}", f"v2={sign_v2(secret, timestamp, request)}"]
    return {"X-Xtimer-Timestamp": str(timestamp), "X-Xtimer-Signature": ",".join(parts)} if parts else {}


def _fresh(timestamp_header: str, now: float | None, tolerance: int) -> int | None:
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return None
    return timestamp if abs((time.time() if now is None else now) - timestamp) <= tolerance else None


def _carries(signature_header: str, version: str, expected: str) -> bool:
    prefix = f"{version}="
    return any(hmac.compare_digest(expected, part.strip()[len(prefix):])
               for part in signature_header.split(",") if part.strip().startswith(prefix))


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True if one of the header's v1 signatures is `secret`'s and the timestamp is fresh."""
    timestamp = _fresh(timestamp_header, now, tolerance)
    return timestamp is not None and _carries(signature_header, "v1", sign(secret, timestamp, body))


def verify_v2(secret: str, timestamp_header: str, signature_header: str, request: Signed, *,
              now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True if one of the header's v2 signatures is `secret`'s for this very request, and it is fresh."""
    timestamp = _fresh(timestamp_header, now, tolerance)
    return timestamp is not None and _carries(signature_header, "v2", sign_v2(secret, timestamp, request))

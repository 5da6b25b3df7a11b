"""Sends a timer's HTTP callback for one fire and reports what happened.

One call of Notifier.notify() is one attempt: no retries happen here. The queue retries a failed
fire after backoff_delay() seconds, so every attempt is recorded on its own.

Callbacks go out through urllib3's connection pools directly, not through a requests Session:
requests' per-request work (merging session settings, preparing and wrapping the request and
the response, cookies) made a callback cost 1.34 ms of CPU instead of 0.84 on the benchmark
machine, and a second's herd of callbacks is bound by that CPU.
"""
from __future__ import annotations

import email.message
import errno
import http.client
import math
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import urllib3
import urllib3.exceptions

from chalicelib.clock import rfc3339
from chalicelib.delivery.callback_policy import CallbackRefused
from chalicelib.delivery.redaction import credential_values, redact
from chalicelib.delivery.safe_http import policy_pools
from chalicelib.delivery.signing import Signed, signature_headers
from chalicelib.fires.outcome import Outcome
from chalicelib.timers.status import METHODS

USER_AGENT = "xtimer/1.0"
DEFAULT_HEADERS = {  # sent unless the timer's own headers name them: what requests sent before
    "User-Agent": USER_AGENT,
    "Accept-Encoding": urllib3.util.make_headers(accept_encoding=True)["accept-encoding"],
    "Accept": "*/*",
    "Connection": "keep-alive",
}
RESPONSE_BODY_LIMIT = 512         # bytes (UTF-8) of the response body kept in an Outcome: with it a
                                  # task record stays under 1 KB, one DynamoDB write unit per write
RETRY_AFTER_MAX = 3600.0          # seconds; a longer Retry-After is clamped to this
POOL_SIZE = 50                    # hosts kept in the pool
CONNECTIONS_PER_HOST = 256        # pooled connections per host: the worker's callback threads, so a
                                  # second's fires to one host do not open a new connection each

_READ_CHUNK = 16384
_ERROR_TEXT_LIMIT = 200
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})  # we frame the body ourselves


@dataclass(frozen=True)
class Callback:
    """What the timer says to call."""

    url: str
    method: str                   # GET POST PUT PATCH DELETE
    headers: dict[str, str]
    body: str | None


@dataclass(frozen=True)
class Delivery:
    """Which fire of which timer this attempt is for."""

    timer_id: int
    fire_time: int                # epoch seconds
    attempt: int                  # 1-based
    idempotency_key: str          # the same for every attempt of one fire, e.g. f"{timer_id}-{fire_time}"
    signing_secrets: tuple[str, ...] = ()  # the app's secrets; each adds a v1= and a v2= signature (chalicelib.delivery.signing)


def make_pools(hosts: int = POOL_SIZE) -> urllib3.PoolManager:
    """Connection pools fit for sending callbacks from many threads at once. They keep no cookie
    (one user's Set-Cookie must never go along with another user's callback to the same host),
    read no proxy settings or ~/.netrc from the environment, never retry, and connect only to
    addresses the callback policy allows (chalicelib.delivery.safe_http: SSRF)."""
    return policy_pools(hosts, max(hosts, CONNECTIONS_PER_HOST))


class _Refused(Exception):
    """A callback we will not send as it is; the message says why."""


class Notifier:
    """Sends callbacks. One Notifier is meant to be shared by all the threads of a worker."""

    def __init__(
        self,
        pools: urllib3.PoolManager | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_response_bytes: int = 65536,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`pools` defaults to make_pools(); given ones are used as they are.

        `clock` (monotonic seconds) measures duration_ms and is called exactly twice per notify().
        The deadline on reading an answer uses time.monotonic() itself, whatever clock is given.
        """
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._pools = pools if pools is not None else make_pools()
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._max_response_bytes = max(0, max_response_bytes)
        self._clock = clock
        self._wall_clock = wall_clock

    @property
    def budget(self) -> float:
        """Seconds one attempt may take in all, DNS look-up aside: connect plus read timeout."""
        return self._connect_timeout + self._read_timeout

    def close(self) -> None:
        """Close the pooled connections."""
        self._pools.clear()

    def notify(self, callback: Callback, delivery: Delivery, *, timeout: float | None = None) -> Outcome:
        """Send one callback. Never raises for network or HTTP problems: every failure is an Outcome.

        `timeout` (a timer's timeoutSeconds) is the attempt's whole budget instead of the notifier's
        own: connecting takes at most the shorter of it and the connect timeout, and the answer,
        body included, must be in within it."""
        connect, read = self._connect_timeout, self._read_timeout
        if timeout is not None:
            connect, read = min(connect, float(timeout)), float(timeout)
        budget = read if timeout is not None else self.budget
        started = self._clock()
        deadline = time.monotonic() + budget
        status: int | None = None
        body = b""
        content_type: str | None = None
        retry_after: float | None = None
        error: str | None = None
        retryable = True
        try:
            response = self._send(callback, delivery, urllib3.Timeout(connect=connect, read=read))
            try:
                status = response.status
                content_type = response.headers.get("Content-Type")
                if status in (429, 503):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                body, body_error = self._read_body(response, deadline, read, budget)
            finally:
                # A body read to its end gave the connection back to the pool already; one
                # read only in part leaves it open mid-answer, so it is dropped, not reused.
                response.close()
                response.release_conn()
            error = _status_error(status) or body_error
        except Exception as exc:  # noqa: BLE001 - every failure must become an Outcome
            error = describe_error(exc, connect_timeout=connect, read_timeout=read, host=_host_of(callback.url))
            retryable = not is_final(exc)
        duration_ms = max(0, round((self._clock() - started) * 1000))
        # Redacted before it is clipped: a credential cut at the limit would no longer match.
        secrets = credential_values(callback.headers, delivery.signing_secrets)
        return Outcome(
            ok=status is not None and 200 <= status < 300,
            http_status=status,
            response_body=_clip(redact(_decode(body, content_type), secrets) or "", RESPONSE_BODY_LIMIT),
            duration_ms=duration_ms,
            error=redact(error, secrets),
            retry_after=retry_after,
            retryable=retryable,
        )

    def _send(self, callback: Callback, delivery: Delivery, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """Send exactly the callback, plus our headers; return once the answer's headers are in."""
        method = callback.method.upper()
        if method not in METHODS:
            raise _Refused(f"unsupported method {callback.method!r}")
        data = callback.body.encode("utf-8") if callback.body is not None else None
        headers = build_headers(callback.headers, delivery)
        signed = Signed(method=method, url=callback.url, timer_id=delivery.timer_id,
                        fire_time=headers["X-Xtimer-Fire-Time"], idempotency_key=delivery.idempotency_key,
                        body=data or b"")
        headers.update(signature_headers(delivery.signing_secrets, int(self._wall_clock()), signed))
        _check_headers(headers)
        url = _parsed_url(callback.url)
        pool = self._pools.connection_from_host(url.host, port=url.port, scheme=url.scheme)
        return pool.urlopen(
            method, url.request_uri, body=data, headers=headers, timeout=timeout, assert_same_host=False,
            # A redirect could lead to an internal address the callback policy would refuse.
            redirect=False, retries=False,
            # Headers first; _read_body then takes no more of the body than it should.
            preload_content=False, decode_content=False,
        )

    def _read_body(self, raw: urllib3.BaseHTTPResponse, deadline: float, read_timeout: float,
                   budget: float) -> tuple[bytes, str | None]:
        """Up to max_response_bytes of the body, and why reading stopped early if it broke off.

        read1() returns whatever has arrived instead of waiting for a full chunk, and each socket
        wait is shortened to the time left, so a server trickling bytes is cut off at the deadline.
        Reaching the end of the body hands the connection back to the pool; stopping short of it
        makes the caller's close() drop the connection.
        """
        chunks: list[bytes] = []
        size = 0
        try:
            while size < self._max_response_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return b"".join(chunks), _deadline_error(budget)
                _limit_next_wait(raw, min(left, read_timeout))
                chunk = raw.read1(min(_READ_CHUNK, self._max_response_bytes - size), decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken body still leaves the status we got
            if time.monotonic() >= deadline - 0.01:
                return b"".join(chunks), _deadline_error(budget)
            return b"".join(chunks), "response body: " + self._describe(exc, None)
        return b"".join(chunks), None

    def _describe(self, exc: BaseException, host: str | None) -> str:
        return describe_error(
            exc, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout, host=host
        )


def _deadline_error(budget: float) -> str:
    return f"timed out after {budget} s (whole response)"


def build_headers(user_headers: dict[str, str], delivery: Delivery) -> dict[str, str]:
    """The user's headers, a default User-Agent, and our X-Xtimer-* headers, which win over any
    user header of the same name. Content-Length and Transfer-Encoding are ours to set."""
    ours = {
        "X-Xtimer-Timer-Id": str(delivery.timer_id),
        "X-Xtimer-Fire-Time": rfc3339(delivery.fire_time),
        "X-Xtimer-Attempt": str(delivery.attempt),
        "X-Xtimer-Idempotency-Key": delivery.idempotency_key,
    }
    reserved = {name.lower() for name in ours} | _FRAMING_HEADERS
    headers = {name: value for name, value in user_headers.items() if name.lower() not in reserved}
    given = {name.lower() for name in headers}
    headers.update((name, value) for name, value in DEFAULT_HEADERS.items() if name.lower() not in given)
    headers.update(ours)
    return headers


def _parsed_url(url: str) -> urllib3.util.Url:
    """The URL to send to, or _Refused saying what is wrong with it."""
    parsed = urllib3.util.parse_url(url)  # LocationParseError (an invalid URL) for a bad port
    if parsed.scheme not in ("http", "https"):
        raise _Refused(f"invalid URL {_short(url)!r}: it must start with http:// or https://")
    if not parsed.host:
        raise _Refused(f"invalid URL {_short(url)!r}: it names no host")
    return parsed


_HEADER_NAME = re.compile(r"[^:\s][^:\r\n]*")
_HEADER_VALUE = re.compile(r"(\S[^\r\n]*)?")


def _check_headers(headers: dict[str, str]) -> None:
    """_Refused for a header that cannot be sent as it is (a line break would smuggle in another)."""
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise _Refused(f"invalid header {_short(name)!r}: a name or value with a line break, a colon in "
                           f"the name or leading white space cannot be sent")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), clamped to
    [0, RETRY_AFTER_MAX]; None if there is none or it makes no sense. `now` is epoch seconds."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return RETRY_AFTER_MAX if len(value) > 9 else min(float(value), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def backoff_delay(attempt: int, *, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None) -> int:
    """Seconds to wait before retry number `attempt`+1 after `attempt` failed: exponential with full jitter
    (AWS architecture blog style), at least 1 s, at most cap, whole seconds (SQS visibility is whole seconds).

    The window doubles with each attempt: uniform over (0, min(cap, base * 2**(attempt-1))], rounded up.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    window = min(cap, base * 2.0 ** min(attempt - 1, 64))
    delay = math.ceil((rng or _rng).uniform(0.0, window))
    return max(1, min(delay, math.floor(cap)))


_rng = random.Random()


def _host_of(url: str) -> str | None:
    """The host of `url`, or None if there is none to be had."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def describe_error(
    exc: BaseException, *, connect_timeout: float, read_timeout: float, host: str | None = None
) -> str:
    """A short human text for why a request failed."""
    chain = list(_causes(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if isinstance(exc, _Refused):
        return str(exc)
    refused = next((e for e in chain if isinstance(e, CallbackRefused)), None)
    if refused is not None:
        return _short(str(refused))
    if has(urllib3.exceptions.LocationParseError):
        return _short(f"invalid URL: {exc}")
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return f"DNS lookup failed for {host}" if host else "DNS lookup failed"
    # urllib3's NewConnectionError is a ConnectTimeoutError too, for old times' sake.
    if any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(e, urllib3.exceptions.NewConnectionError)
        for e in chain
    ):
        return f"timed out after {connect_timeout} s (connect)"
    if has(urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return f"timed out after {read_timeout} s (read)"
    if has(ssl.SSLCertVerificationError):
        error = next(e for e in chain if isinstance(e, ssl.SSLCertVerificationError))
        return _short(f"SSL error: certificate verify failed: {error.verify_message}")
    if has(ssl.SSLError, urllib3.exceptions.SSLError):
        return _short(f"SSL error: {next(e for e in reversed(chain) if _is_ssl(e))}")
    if has(http.client.RemoteDisconnected):  # a ConnectionResetError too, so ask first
        return "connection closed without a response"
    if has(ConnectionResetError):
        return "connection reset"
    if has(BrokenPipeError, ConnectionAbortedError):
        return "connection closed while sending"
    if has(http.client.IncompleteRead):
        return "connection closed before the whole response arrived"
    if has(urllib3.exceptions.DecodeError):
        return "could not decode the response body (Content-Encoding)"
    if has(http.client.HTTPException):
        return _short(f"bad HTTP response: {next(e for e in chain if isinstance(e, http.client.HTTPException))!r}")
    for e in chain:
        if isinstance(e, OSError) and e.errno is not None:
            return _short(e.strerror or errno.errorcode.get(e.errno, str(e.errno))).lower()
    return _short(f"{type(exc).__name__}: {exc}")


def is_final(exc: BaseException) -> bool:
    """Whether a failed request would fail the same way every time: the destination is refused
    by the callback policy, or the URL, method or a header cannot be sent at all."""
    return any(isinstance(e, (_Refused, CallbackRefused, urllib3.exceptions.LocationParseError))
               for e in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: cause or context, urllib3's `reason`, exceptions among its args."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        elif current.__context__ is not None and not current.__suppress_context__:
            pending.append(current.__context__)


def _is_ssl(exc: BaseException) -> bool:
    return isinstance(exc, (ssl.SSLError, urllib3.exceptions.SSLError))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 3] + "..."


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


def _limit_next_wait(raw: urllib3.response.BaseHTTPResponse, seconds: float) -> None:
    """Make the next socket read give up after `seconds`. urllib3 sets the socket's timeout again
    for the next request on this connection, so shortening it here does not leak."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def _clip(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 encoding fits in `limit` bytes (no broken character)."""
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", errors="ignore")


def _decode(body: bytes, content_type: str | None) -> str:
    """The body as text: in the charset the answer names, else UTF-8; bad bytes replaced."""
    charset = "utf-8"
    if content_type:
        message = email.message.Message()
        message["Content-Type"] = content_type
        charset = message.get_content_charset() or charset
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, TypeError, ValueError):  # unknown charset, or not a text encoding
        return body.decode("utf-8", errors="replace")

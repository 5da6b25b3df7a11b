"""The callback sender: what it sends, how it reads answers, how it fails.

Every request goes to a Receiver on 127.0.0.1; nothing here leaves the machine.
"""
from __future__ import annotations

import gzip
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from chalicelib.delivery.notifier import (
    RESPONSE_BODY_LIMIT,
    RETRY_AFTER_MAX,
    Callback,
    Delivery,
    Notifier,
    backoff_delay,
    make_pools,
    parse_retry_after,
)
from tests.support.receiver import Response, receiver_fixture

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FIRE_TIME = 1772366405                      # 2026-03-01T12:00:05Z
DELIVERY = Delivery(timer_id=42, fire_time=FIRE_TIME, attempt=3, idempotency_key=f"42-{FIRE_TIME}")

receiver = pytest.fixture(receiver_fixture)


@pytest.fixture
def notifier() -> Iterator[Notifier]:
    notifier = Notifier(connect_timeout=1.0, read_timeout=2.0)
    yield notifier
    notifier.close()


def call(url: str, method: str = "POST", headers: dict[str, str] | None = None, body: str | None = None) -> Callback:
    return Callback(url=url, method=method, headers=headers or {}, body=body)


def free_port() -> int:
    """A port nothing listens on: bound once, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- what is sent ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_each_method_sends_its_method_url_headers_and_body_exactly(receiver, notifier, method):
    url = receiver.url("/hooks/fired?timer=42&x=a%20b")
    headers = {"Content-Type": "application/json", "Authorization": "Bearer s3cret", "X-Custom": "v"}

    outcome = notifier.notify(call(url, method, headers, '{"event": "fired"}'), DELIVERY)

    assert outcome.ok, outcome
    [request] = receiver.wait_for(1)
    assert request.method == method
    assert request.path == "/hooks/fired?timer=42&x=a%20b"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Authorization") == "Bearer s3cret"
    assert request.header("X-Custom") == "v"
    assert request.body == b'{"event": "fired"}'


def test_a_text_body_is_sent_as_utf8(receiver, notifier):
    notifier.notify(call(receiver.url("/"), "POST", body="héllo ✓"), DELIVERY)

    [request] = receiver.wait_for(1)
    assert request.body == "héllo ✓".encode()
    assert request.header("Content-Length") == str(len("héllo ✓".encode()))


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_no_body_is_sent_when_the_callback_has_none(receiver, notifier, method):
    notifier.notify(call(receiver.url("/"), method, body=None), DELIVERY)

    [request] = receiver.wait_for(1)
    assert request.body == b""
    assert request.header("Content-Length") in (None, "0")
    assert request.header("Transfer-Encoding") is None


def test_the_xtimer_headers_name_the_timer_the_fire_time_the_attempt_and_the_idempotency_key(receiver, notifier):
    notifier.notify(call(receiver.url("/")), DELIVERY)

    [request] = receiver.wait_for(1)
    assert request.header("X-Xtimer-Timer-Id") == "42"
    assert request.header("X-Xtimer-Fire-Time") == "2026-03-01T12:00:05Z"
    assert request.header("X-Xtimer-Attempt") == "3"
    assert request.header("X-Xtimer-Idempotency-Key") == f"42-{FIRE_TIME}"


def test_our_headers_win_over_user_headers_of_the_same_name_in_any_case(receiver, notifier):
    spoofed = {"x-xtimer-attempt": "99", "X-XTIMER-TIMER-ID": "1", "X-Xtimer-Idempotency-Key": "forged"}

    notifier.notify(call(receiver.url("/"), headers=spoofed), DELIVERY)

    [request] = receiver.wait_for(1)
    names = [name.lower() for name in request.headers]
    assert names.count("x-xtimer-attempt") == 1 and names.count("x-xtimer-timer-id") == 1
    assert request.header("X-Xtimer-Attempt") == "3"
    assert request.header("X-Xtimer-Timer-Id") == "42"
    assert request.header("X-Xtimer-Idempotency-Key") == f"42-{FIRE_TIME}"


def test_the_user_agent_is_xtimer_unless_the_user_sets_one(receiver, notifier):
    notifier.notify(call(receiver.url("/default")), DELIVERY)
    notifier.notify(call(receiver.url("/own"), headers={"user-agent": "my-app/2"}), DELIVERY)

    assert receiver.wait_for(1, path="/default")[0].header("User-Agent") == "xtimer/1.0"
    assert receiver.wait_for(1, path="/own")[0].header("User-Agent") == "my-app/2"


def test_a_user_content_length_cannot_break_the_framing(receiver, notifier):
    headers = {"Content-Length": "1000", "Transfer-Encoding": "chunked"}

    outcome = notifier.notify(call(receiver.url("/"), "POST", headers, "abc"), DELIVERY)

    assert outcome.ok, outcome
    [request] = receiver.wait_for(1)
    assert request.body == b"abc"
    assert request.header("Content-Length") == "3"


# -- how answers are read ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_answer_is_ok(receiver, notifier, status):
    receiver.respond("/", Response(status, body="" if status == 204 else "thanks"))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert outcome.ok and outcome.http_status == status and outcome.error is None
    assert outcome.response_body == ("" if status == 204 else "thanks")
    assert outcome.retry_after is None


def test_a_500_answer_is_a_failure_that_keeps_its_status_and_body(receiver, notifier):
    receiver.respond("/", Response(500, body="database on fire"))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert not outcome.ok
    assert outcome.http_status == 500
    assert outcome.error == "HTTP 500"
    assert outcome.response_body == "database on fire"


def test_a_404_answer_is_a_failure(receiver, notifier):
    receiver.respond("/", Response(404))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert (outcome.ok, outcome.http_status, outcome.error) == (False, 404, "HTTP 404")


def test_a_redirect_is_not_followed(receiver, notifier):
    receiver.respond("/", Response(302, headers={"Location": receiver.url("/elsewhere")}))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert not outcome.ok
    assert outcome.http_status == 302
    assert outcome.error == "HTTP 302 (redirects are not followed)"
    time.sleep(0.1)
    assert receiver.received("/elsewhere") == []


def test_a_429_with_retry_after_in_seconds_tells_when_to_retry(receiver, notifier):
    receiver.respond("/", Response(429, headers={"Retry-After": "120"}))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert (outcome.ok, outcome.http_status, outcome.error) == (False, 429, "HTTP 429")
    assert outcome.retry_after == 120.0


def test_a_503_with_retry_after_as_an_http_date_tells_when_to_retry(receiver, notifier):
    when = datetime.now(timezone.utc) + timedelta(seconds=90)
    receiver.respond("/", Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert outcome.http_status == 503
    assert 85 <= outcome.retry_after <= 90


def test_retry_after_is_ignored_on_other_statuses(receiver, notifier):
    receiver.respond("/", Response(500, headers={"Retry-After": "30"}))

    assert notifier.notify(call(receiver.url("/")), DELIVERY).retry_after is None


def test_retry_after_parsing_clamps_and_ignores_garbage():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("86400") == RETRY_AFTER_MAX
    assert parse_retry_after("99999999999999999999") == RETRY_AFTER_MAX
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 -0000", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0   # already past
    assert parse_retry_after("Mon, 01 Mar 2027 00:00:00 GMT", now=now) == RETRY_AFTER_MAX
    for garbage in (None, "", "soon", "-5", "1.5", "12 seconds", "Sun, 99 Foo 2026"):
        assert parse_retry_after(garbage, now=now) is None, garbage


def test_a_response_body_is_decoded_leniently_in_its_charset(receiver, notifier):
    receiver.respond("/utf8", Response(200, body=b"ok \xff\xfe done"))
    receiver.respond("/latin1", Response(200, headers={"Content-Type": "text/plain; charset=iso-8859-1"},
                                         body="café".encode("latin-1")))
    receiver.respond("/bogus", Response(200, headers={"Content-Type": "text/plain; charset=nope"}, body=b"fine"))

    assert notifier.notify(call(receiver.url("/utf8")), DELIVERY).response_body == "ok \ufffd\ufffd done"
    assert notifier.notify(call(receiver.url("/latin1")), DELIVERY).response_body == "café"
    assert notifier.notify(call(receiver.url("/bogus")), DELIVERY).response_body == "fine"


def test_a_huge_response_body_is_truncated_and_does_not_hang(receiver):
    receiver.respond("/", Response(200, body=b"x" * 5_000_000))
    notifier = Notifier(connect_timeout=1.0, read_timeout=2.0, max_response_bytes=65536)

    started = time.monotonic()
    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert time.monotonic() - started < 1.0
    assert outcome.ok and outcome.error is None
    assert outcome.response_body == "x" * RESPONSE_BODY_LIMIT


def test_a_compressed_bomb_is_not_inflated_past_the_limit(receiver, notifier):
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)   # about 20 KB on the wire
    receiver.respond("/", Response(200, headers={"Content-Encoding": "gzip"}, body=bomb))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert outcome.ok
    assert outcome.response_body == "\0" * RESPONSE_BODY_LIMIT


def test_a_trickling_server_is_cut_off_near_the_deadline(receiver):
    # One byte every 50 ms never trips the read timeout, which counts per socket read.
    receiver.respond("/", Response(200, body=b"z" * 100_000, chunk_size=1, chunk_delay=0.05))
    notifier = Notifier(connect_timeout=0.2, read_timeout=0.5)   # a budget of 0.7 s in all

    started = time.monotonic()
    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)
    elapsed = time.monotonic() - started

    assert 0.6 <= elapsed < 1.0
    assert outcome.ok and outcome.http_status == 200          # the answer was a 2xx ...
    assert outcome.error == "timed out after 0.7 s (whole response)"   # ... whose body broke off
    assert 5 <= len(outcome.response_body) <= 15 and set(outcome.response_body) == {"z"}


# -- how attempts fail ------------------------------------------------------------------------------


def test_a_server_slower_than_the_read_timeout_is_a_read_timeout(receiver):
    receiver.respond("/", Response(200, delay=3.0))
    notifier = Notifier(connect_timeout=0.5, read_timeout=0.3)

    started = time.monotonic()
    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert time.monotonic() - started < 1.0
    assert not outcome.ok and outcome.http_status is None
    assert outcome.error == "timed out after 0.3 s (read)"


def test_a_refused_connection_is_reported_as_refused(notifier):
    outcome = notifier.notify(call(f"http://127.0.0.1:{free_port()}/hook"), DELIVERY)

    assert (outcome.ok, outcome.http_status, outcome.error) == (False, None, "connection refused")


def test_a_connect_that_never_completes_is_a_connect_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(10):   # fill the accept queue until the kernel drops new handshakes
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.skip("this kernel accepts handshakes past a full backlog")
            notifier = Notifier(connect_timeout=0.3, read_timeout=0.3)

            outcome = notifier.notify(call(f"http://127.0.0.1:{port}/"), DELIVERY)
        finally:
            for filler in fillers:
                filler.close()

    assert (outcome.ok, outcome.http_status) == (False, None)
    assert outcome.error == "timed out after 0.3 s (connect)"


def test_a_connection_closed_without_an_answer_is_a_failure(receiver, notifier):
    receiver.respond("/", Response(close=True))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert (outcome.ok, outcome.http_status) == (False, None)
    assert outcome.error == "connection closed without a response"


def test_a_reset_connection_is_reported_as_reset(receiver, notifier):
    receiver.respond("/", Response(reset=True))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert (outcome.ok, outcome.http_status, outcome.error) == (False, None, "connection reset")


def test_a_dns_failure_names_the_host(notifier, monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)   # no resolver is ever asked

    outcome = notifier.notify(call("http://callbacks.example.invalid/hook"), DELIVERY)

    assert (outcome.ok, outcome.http_status) == (False, None)
    assert outcome.error == "DNS lookup failed for callbacks.example.invalid"


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://127.0.0.1:99999/", "http:///nohost"])
def test_an_invalid_url_is_a_failure_not_an_exception(notifier, url):
    outcome = notifier.notify(call(url), DELIVERY)

    assert (outcome.ok, outcome.http_status) == (False, None)
    assert outcome.error.startswith("invalid URL"), outcome.error


def test_an_unsupported_method_is_a_failure_not_an_exception(receiver, notifier):
    outcome = notifier.notify(call(receiver.url("/"), "TRACE"), DELIVERY)

    assert outcome.error == "unsupported method 'TRACE'"
    assert receiver.received() == []


def test_a_header_value_with_a_newline_is_refused_not_sent(receiver, notifier):
    outcome = notifier.notify(call(receiver.url("/"), headers={"X-Evil": "a\r\nX-Injected: 1"}), DELIVERY)

    assert not outcome.ok and outcome.error.startswith("invalid header")
    assert receiver.received() == []


def test_a_failed_attempt_is_not_retried_underneath(receiver, notifier):
    receiver.respond("/", Response(close=True), Response(200))

    outcome = notifier.notify(call(receiver.url("/")), DELIVERY)

    assert not outcome.ok
    time.sleep(0.1)
    assert len(receiver.received()) == 1


# -- sharing one Notifier -----------------------------------------------------------------------


def test_connections_are_reused_from_one_callback_to_the_next(receiver, notifier):
    for _ in range(5):
        assert notifier.notify(call(receiver.url("/")), DELIVERY).ok

    assert len({request.client for request in receiver.wait_for(5)}) == 1


def test_a_requests_head_and_body_leave_in_one_write() -> None:
    """One sendall per callback, not a head and a body (safe_http._OneWrite): half the segments
    for a receiver to wake up for, and less of the sender's CPU in a second's herd."""
    from chalicelib.delivery.safe_http import PolicyHTTPConnection

    class RecordingSocket:
        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def sendall(self, data: bytes) -> None:
            self.writes.append(bytes(data))

        def settimeout(self, timeout: object) -> None:
            pass

    connection = PolicyHTTPConnection("127.0.0.1", 80)
    connection.sock = RecordingSocket()  # type: ignore[assignment]
    connection.request("POST", "/hook", body=b'{"n": 1}', headers={"X-Xtimer-Attempt": "1"})

    assert len(connection.sock.writes) == 1  # type: ignore[union-attr]
    head, _, body = connection.sock.writes[0].partition(b"\r\n\r\n")  # type: ignore[union-attr]
    assert head.startswith(b"POST /hook HTTP/1.1\r\n") and b"Content-Length: 8" in head and body == b'{"n": 1}'


def test_cookies_set_by_one_callback_are_not_sent_with_the_next(receiver, notifier):
    receiver.respond("/login", Response(200, headers={"Set-Cookie": "session=user-a; Path=/"}))

    notifier.notify(call(receiver.url("/login")), DELIVERY)
    notifier.notify(call(receiver.url("/other")), DELIVERY)

    assert receiver.wait_for(1, path="/other")[0].header("Cookie") is None


def test_many_threads_share_one_notifier(receiver, notifier):
    receiver.respond("/", Response(200, delay=0.01))

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(
            lambda i: notifier.notify(call(receiver.url(f"/?n={i}")), DELIVERY), range(200)
        ))

    assert all(outcome.ok for outcome in outcomes)
    requests_ = receiver.wait_for(200)
    assert sorted(r.path for r in requests_) == sorted(f"/?n={i}" for i in range(200))
    assert len({r.client for r in requests_}) <= 20   # pooled: no new connection per callback


def test_the_pools_keep_a_connection_per_callback_thread_and_never_retry():
    pools = make_pools()

    assert pools.connection_pool_kw["retries"].total is False
    assert pools.connection_pool_kw["maxsize"] == 256 and pools.pools._maxsize == 50  # 256: the worker's callback threads


def test_a_callback_carries_requests_usual_headers_unless_the_timer_sets_its_own(receiver, notifier):
    notifier.notify(call(receiver.url("/plain")), DELIVERY)
    notifier.notify(call(receiver.url("/own"), headers={"accept": "application/json", "User-Agent": "mine"}), DELIVERY)

    plain, own = receiver.wait_for(1, path="/plain")[0], receiver.wait_for(1, path="/own")[0]
    assert (plain.header("Accept"), plain.header("User-Agent")) == ("*/*", "xtimer/1.0")
    assert "gzip" in plain.header("Accept-Encoding")
    assert (own.header("Accept"), own.header("User-Agent")) == ("application/json", "mine")


# -- timing ----------------------------------------------------------------------------------------


def test_duration_ms_is_measured_with_the_injected_clock(receiver):
    ticks = iter([1000.0, 1000.25])
    notifier = Notifier(clock=lambda: next(ticks))

    assert notifier.notify(call(receiver.url("/")), DELIVERY).duration_ms == 250


def test_duration_ms_is_measured_on_failures_too():
    ticks = iter([5.0, 5.5])
    notifier = Notifier(clock=lambda: next(ticks))

    outcome = notifier.notify(call(f"http://127.0.0.1:{free_port()}/"), DELIVERY)

    assert outcome.error == "connection refused" and outcome.duration_ms == 500


def test_backoff_delay_stays_within_one_second_and_the_doubling_window():
    rng = random.Random(7)
    for attempt in range(1, 12):
        window = min(300.0, 2.0 * 2 ** (attempt - 1))
        for _ in range(200):
            delay = backoff_delay(attempt, rng=rng)
            assert isinstance(delay, int)
            assert 1 <= delay <= max(1, int(window)), (attempt, delay)


def test_backoff_delay_grows_with_the_attempt_and_is_capped():
    def mean(attempt: int) -> float:
        rng = random.Random(1234)
        return sum(backoff_delay(attempt, rng=rng) for _ in range(2000)) / 2000

    means = [mean(attempt) for attempt in range(1, 10)]
    assert means == sorted(means) and means[0] < 3 and means[7] > 100
    rng = random.Random(5)
    assert max(backoff_delay(50, rng=rng) for _ in range(2000)) == 300
    assert max(backoff_delay(10_000, cap=60, rng=rng) for _ in range(500)) == 60


def test_backoff_delay_is_repeatable_with_a_seeded_rng_and_rejects_attempt_zero():
    first = [backoff_delay(a, rng=random.Random(99)) for a in range(1, 10)]
    again = [backoff_delay(a, rng=random.Random(99)) for a in range(1, 10)]
    assert first == again
    with pytest.raises(ValueError):
        backoff_delay(0)


# -- the receiver itself ----------------------------------------------------------------------------


def test_the_receiver_answers_every_method_including_head(receiver):
    receiver.respond("/", Response(200, body="hello"))
    session = requests.Session()
    session.trust_env = False

    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]:
        answer = session.request(method, receiver.url("/"), timeout=2)
        assert answer.status_code == 200
        assert answer.content == (b"" if method == "HEAD" else b"hello")
        assert answer.headers["Content-Length"] == "5"

    assert [r.method for r in receiver.received()] == ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def test_the_receiver_plays_a_sequence_then_repeats_its_last_answer(receiver, notifier):
    receiver.respond("/", 500, 503, Response(200))

    statuses = [notifier.notify(call(receiver.url("/")), DELIVERY).http_status for _ in range(5)]

    assert statuses == [500, 503, 200, 200, 200]


def test_the_receiver_wait_for_wakes_on_arrival_and_says_what_is_missing(receiver, notifier):
    threading.Timer(0.1, notifier.notify, args=(call(receiver.url("/later")), DELIVERY)).start()

    assert len(receiver.wait_for(1, timeout=5, path="/later")) == 1
    with pytest.raises(TimeoutError, match="expected 2 request"):
        receiver.wait_for(2, timeout=0.1, path="/later")


def test_a_kept_answer_never_ends_in_a_broken_character(receiver: "Receiver") -> None:
    receiver.respond("/hook", Response(200, body="é" * 1000, headers={"Content-Type": "text/plain; charset=utf-8"}))
    outcome = Notifier().notify(Callback(receiver.url("/hook"), "GET", {}, None), DELIVERY)
    assert outcome.response_body == "é" * (RESPONSE_BODY_LIMIT // 2)

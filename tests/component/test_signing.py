"""Signed callbacks: receivers can check a callback came from the service, unchanged and fresh."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from chalice.test import Client

from chalicelib.apps.secrets import SigningSecrets
from chalicelib.delivery import signing
from chalicelib.delivery.notifier import Notifier
from chalicelib.storage.models import AppModel
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver


HOOK_BODY = '{"invoice": 7}'


def fire_one(client: Client, service: Services, receiver: Receiver, name: str = "signed", method: str = "POST",
             path: str = "/hook", body: str | None = HOOK_BODY) -> str:
    """Make one callback; returns its URL."""
    hook = {"url": receiver.url(path), "method": method, "body": body}
    timer_id = post(client, "/xtimer/creatTimer", timer(name=name, notifyHTTPParam=hook))[1]["data"]["timerId"]
    get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    deliver(service)
    return hook["url"]


def signed_request(url: str, call: Any) -> signing.Signed:
    return signing.Signed(method=call.method, url=url, timer_id=int(call.header("X-Xtimer-Timer-Id")),
                          fire_time=call.header("X-Xtimer-Fire-Time"),
                          idempotency_key=call.header("X-Xtimer-Idempotency-Key"), body=call.body)


def test_each_callback_carries_a_signature_the_apps_secret_verifies(
    client: Client, service: Services, receiver: Receiver
) -> None:
    fire_one(client, service, receiver)
    secret = get(client, "/xtimer/getSigningSecret?app=billing")[1]["data"]["signingSecret"]
    [call] = receiver.received()
    stamp, signature = call.header("X-Xtimer-Timestamp"), call.header("X-Xtimer-Signature")
    assert signature.startswith("v1=") and ",v2=" in signature and secret.startswith("xts_")
    assert signing.verify(secret, stamp, signature, call.body, now=int(stamp))
    assert not signing.verify(secret, stamp, signature, call.body + b" ", now=int(stamp))  # body changed
    assert not signing.verify(secret, stamp, signature, call.body, now=int(stamp) + 301)  # too old
    assert not signing.verify("xts_other", stamp, signature, call.body, now=int(stamp))


def test_apps_have_different_secrets(client: Client, service: Services) -> None:
    ours = service.signing.for_app("billing")
    theirs = service.signing.for_app("shipping")
    assert ours != theirs and service.signing.for_app("billing") == ours


def test_during_a_rotation_callbacks_verify_with_the_old_and_the_new_secret(
    client: Client, service: Services, receiver: Receiver
) -> None:
    old = service.signing.for_app("billing")[0]
    service.signing.rotate("billing", grace_seconds=3600)
    data = get(client, "/xtimer/getSigningSecret?app=billing")[1]["data"]
    assert data["previousSecret"] == old and data["signingSecret"] != old
    url = fire_one(client, service, receiver)
    [call] = receiver.received()
    stamp, signature = call.header("X-Xtimer-Timestamp"), call.header("X-Xtimer-Signature")
    assert signature.count("v1=") == 3 and signature.count("v2=") == 3  # new, old, and the next one
    for secret in (old, data["signingSecret"]):
        assert signing.verify(secret, stamp, signature, call.body, now=int(stamp))
        assert signing.verify_v2(secret, stamp, signature, signed_request(url, call), now=int(stamp))


def test_v2_covers_method_url_timer_fire_and_idempotency_key(
    client: Client, service: Services, receiver: Receiver
) -> None:
    """A captured callback does not verify once any part of the request it was made for changes,
    and two empty-bodied callbacks of one app in the same second carry different signatures."""
    url = fire_one(client, service, receiver, "get-a", method="GET", path="/a", body=None)
    fire_one(client, service, receiver, "delete-b", method="DELETE", path="/b", body=None)
    secret = service.signing.for_app("billing")[0]
    first, second = receiver.received()
    v2 = [c.header("X-Xtimer-Signature").split(",v2=")[1] for c in (first, second)]
    assert v2[0] != v2[1]
    stamp, signature = first.header("X-Xtimer-Timestamp"), first.header("X-Xtimer-Signature")
    original = signed_request(url, first)
    assert signing.verify_v2(secret, stamp, signature, original, now=int(stamp))
    for change in ({"method": "DELETE"}, {"url": url.replace("/a", "/b")}, {"timer_id": original.timer_id + 1},
                   {"fire_time": "2030-01-01T00:00:00Z"}, {"idempotency_key": "other"}, {"body": b"{}"}):
        assert not signing.verify_v2(secret, stamp, signature, dataclasses.replace(original, **change),
                                     now=int(stamp)), change


def test_v2_matches_the_documented_vector_computed_with_openssl() -> None:
    """The example of docs/security.md, whose signature was computed with `openssl dgst -hmac`."""
    request = signing.Signed(method="post", url="https://example.com/hook?order=7", timer_id=224209356431360,
                             fire_time="2026-11-23T04:38:15Z", idempotency_key="224209356431360-1795593495",
                             body=b'{"invoice": 7}')
    expected = "44eb336414cc6246ff4093110198dbfed9d2865fa491b1f7ba2f471e86a5c197"
    assert signing.sign_v2("xts_example", 1795593495, request) == expected
    docs = open("docs/security.md", encoding="utf-8").read()
    assert expected in docs and "xts_example" in docs
    snippet = open("README.md", encoding="utf-8").read().split("<!-- verifier -->")[1].split("```python")[1]
    namespace: dict = {}
    exec(snippet.split("```")[0], namespace)  # noqa: S102 - the README's own example, checked
    headers = {"X-Xtimer-Timestamp": "1795593495", "X-Xtimer-Signature": f"v1=00,v2={expected}",
               "X-Xtimer-Timer-Id": "224209356431360", "X-Xtimer-Fire-Time": "2026-11-23T04:38:15Z",
               "X-Xtimer-Idempotency-Key": "224209356431360-1795593495"}
    assert namespace["verify_xtimer"]("xts_example", "POST", "https://example.com/hook?order=7", headers,
                                      b'{"invoice": 7}', now=1795593495)


def test_the_readme_verifier_works_as_written(client: Client, service: Services, receiver: Receiver) -> None:
    url = fire_one(client, service, receiver)
    secret = service.signing.for_app("billing")[0]
    [call] = receiver.received()
    readme = open("README.md", encoding="utf-8").read()
    snippet = readme.split("<!-- verifier -->")[1].split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the README's own example, checked
    verify = namespace["verify_xtimer"]
    headers = {name: call.header(name) for name in ("X-Xtimer-Timestamp", "X-Xtimer-Signature", "X-Xtimer-Timer-Id",
                                                    "X-Xtimer-Fire-Time", "X-Xtimer-Idempotency-Key")}
    now = int(headers["X-Xtimer-Timestamp"])
    assert verify(secret, "POST", url, headers, call.body, now=now)
    assert not verify(secret, "POST", url, headers, json.dumps({"x": 1}).encode(), now=now)
    assert not verify(secret, "PUT", url, headers, call.body, now=now)
    assert not verify(secret, "POST", url + "x", headers, call.body, now=now)
    assert not verify(secret, "POST", url, headers, call.body, now=now + 301)


# An HMAC-SHA256 computed outside the project, so a bug shared by `sign` and `verify` (the
# signed bytes, the key's encoding, the hex form) cannot pass:
#   printf '%s' '1795593495.{"k":1}' | openssl dgst -sha256 -hmac xts_test
VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY = "xts_test", 1795593495, b'{"k":1}'
VECTOR_SIGNATURE = "3e8a04ebf4125e8528683854d3e7405009e7cb1ab4dee5829e647dcc04c2ffe8"


def test_signatures_match_a_vector_computed_with_openssl() -> None:
    assert signing.sign(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert signing.verify(VECTOR_SECRET, str(VECTOR_TIMESTAMP), f"v1={VECTOR_SIGNATURE}", VECTOR_BODY,
                          now=VECTOR_TIMESTAMP)


def test_a_callback_carries_the_vectors_signature(
    client: Client, service: Services, receiver: Receiver
) -> None:
    AppModel("billing", signing_secret=VECTOR_SECRET, created_at=VECTOR_TIMESTAMP).save()
    service.worker._notifier = Notifier(connect_timeout=1.0, read_timeout=2.0,
                                        wall_clock=lambda: float(VECTOR_TIMESTAMP))
    hook = {"url": receiver.url("/hook"), "method": "POST", "body": VECTOR_BODY.decode()}
    timer_id = post(client, "/xtimer/creatTimer", timer(name="vector", notifyHTTPParam=hook))[1]["data"]["timerId"]
    get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    deliver(service)
    [call] = receiver.received()
    assert call.body == VECTOR_BODY
    assert call.header("X-Xtimer-Timestamp") == str(VECTOR_TIMESTAMP)
    # v1 with the vector's secret; beside it the v2 signature and those of the app's next secret
    assert f"v1={VECTOR_SIGNATURE}" in call.header("X-Xtimer-Signature").split(",")


def test_a_rotation_without_grace_is_seen_at_once_by_a_worker_that_cached_the_secrets(
    client: Client, service: Services, receiver: Receiver, clock: Any
) -> None:
    """The operator rotates from another process (xtimer_admin); this worker cached the app's
    secrets a moment ago and keeps them for a minute, yet its next callback carries the new one."""
    fire_one(client, service, receiver, "before")
    assert service.signing.for_app("billing")  # cached
    admin = SigningSecrets(clock=clock)
    old = admin.load("billing").signing_secret
    new = admin.rotate("billing", grace_seconds=0) and admin.load("billing").signing_secret
    assert new != old
    clock.advance(1)
    fire_one(client, service, receiver, "after")
    call = receiver.received()[-1]
    stamp, signature = call.header("X-Xtimer-Timestamp"), call.header("X-Xtimer-Signature")
    assert signing.verify(new, stamp, signature, call.body, now=int(stamp))
    data = get(client, "/xtimer/getSigningSecret?app=billing")[1]["data"]
    assert data["signingSecret"] == new and "previousSecret" not in data

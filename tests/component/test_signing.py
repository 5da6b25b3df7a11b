"""Signed callbacks: receivers can check a callback came from the service, unchanged and fresh."""
from __future__ import annotations

import json

from chalice.test import Client

from chalicelib.delivery import signing
from chalicelib.delivery.notifier import Notifier
from chalicelib.storage.models import AppModel
from chalicelib.wiring import Services
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.pipeline import deliver
from tests.support.receiver import Receiver


def fire_one(client: Client, service: Services, receiver: Receiver, name: str = "signed") -> None:
    hook = {"url": receiver.url("/hook"), "method": "POST", "body": '{"invoice": 7}'}
    timer_id = post(client, "/xtimer/creatTimer", timer(name=name, notifyHTTPParam=hook))[1]["data"]["timerId"]
    get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    deliver(service)


def test_each_callback_carries_a_signature_the_apps_secret_verifies(
    client: Client, service: Services, receiver: Receiver
) -> None:
    fire_one(client, service, receiver)
    secret = get(client, "/xtimer/getSigningSecret?app=billing")[1]["data"]["signingSecret"]
    [call] = receiver.received()
    stamp, signature = call.header("X-Xtimer-Timestamp"), call.header("X-Xtimer-Signature")
    assert signature.startswith("v1=") and secret.startswith("xts_")
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
    fire_one(client, service, receiver)
    [call] = receiver.received()
    stamp, signature = call.header("X-Xtimer-Timestamp"), call.header("X-Xtimer-Signature")
    assert signature.count("v1=") == 2
    for secret in (old, data["signingSecret"]):
        assert signing.verify(secret, stamp, signature, call.body, now=int(stamp))


def test_the_readme_verifier_works_as_written(client: Client, service: Services, receiver: Receiver) -> None:
    fire_one(client, service, receiver)
    secret = service.signing.for_app("billing")[0]
    [call] = receiver.received()
    readme = open("README.md", encoding="utf-8").read()
    snippet = readme.split("<!-- verifier -->")[1].split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the README's own example, checked
    headers = {"X-Xtimer-Timestamp": call.header("X-Xtimer-Timestamp"),
               "X-Xtimer-Signature": call.header("X-Xtimer-Signature")}
    assert namespace["verify_xtimer"](secret, headers, call.body, now=int(headers["X-Xtimer-Timestamp"]))
    assert not namespace["verify_xtimer"](secret, headers, json.dumps({"x": 1}).encode())


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
    assert call.header("X-Xtimer-Signature") == f"v1={VECTOR_SIGNATURE}"

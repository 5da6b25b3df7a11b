"""Callbacks cannot be turned against the service's own network (SSRF)."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.delivery import callback_policy
from chalicelib.delivery.notifier import Callback, Delivery, Notifier
from tests.support.api_helpers import client, get, post, timer  # noqa: F401  (client is a fixture)
from tests.support.pipeline import dead_letters, deliver
from tests.support.receiver import Receiver

DELIVERY = Delivery(timer_id=1, fire_time=1_772_366_460, attempt=1, idempotency_key="1-1772366460000")


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a deployed stage: no loopback, no allow-list."""
    monkeypatch.setenv("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "false")
    monkeypatch.delenv("XTIMER_CALLBACK_ALLOWLIST", raising=False)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names the fake name service answers, name -> address; anything else does not resolve."""
    table: dict[str, str] = {}

    def resolve(host: str, port: int, family: int = 0, kind: int = 0, *rest: Any) -> list[tuple[Any, ...]]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = table[host]
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(fam, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(callback_policy, "resolve", resolve)
    return table


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.1.20/hook",
    "http://172.16.5.4/hook",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://100.64.0.1/hook",
])
def test_a_deployed_stage_refuses_internal_callback_addresses(client: Client, deployed: None, url: str) -> None:
    status, reply = post(client, "/xtimer/creatTimer", timer(notifyHTTPParam={"url": url, "method": "GET"}))
    assert status == 400
    assert reply["data"]["field"] == "notifyHTTPParam.url"
    assert "callbacks must go to a public host" in reply["message"]


def test_the_allow_list_admits_a_named_internal_network(client: Client, deployed: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_CALLBACK_ALLOWLIST", "10.20.0.0/16, hooks.internal")
    ok = post(client, "/xtimer/creatTimer", timer(notifyHTTPParam={"url": "http://10.20.3.4/x", "method": "GET"}))
    refused = post(client, "/xtimer/creatTimer",
                   timer(name="other", notifyHTTPParam={"url": "http://10.21.3.4/x", "method": "GET"}))
    assert ok[0] == 200 and refused[0] == 400


def test_a_name_that_resolves_to_an_internal_address_is_refused_at_send_time(
    deployed: None, fake_dns: dict[str, str], receiver: Receiver
) -> None:
    fake_dns["rebind.example"] = "127.0.0.1"  # public when stored, loopback when called
    outcome = Notifier().notify(Callback(f"http://rebind.example:{receiver.port}/x", "GET", {}, None), DELIVERY)
    assert not outcome.ok and outcome.http_status is None
    assert outcome.error.startswith("callback refused: rebind.example (127.0.0.1) is a loopback address")
    assert receiver.received() == []


def test_a_name_is_called_at_the_address_it_resolves_to_when_allowed(
    fake_dns: dict[str, str], receiver: Receiver
) -> None:
    fake_dns["hooks.example"] = "127.0.0.1"  # loopback allowed, as on the local stack
    outcome = Notifier().notify(Callback(f"http://hooks.example:{receiver.port}/x", "GET", {}, None), DELIVERY)
    assert outcome.ok
    assert receiver.received()[0].header("Host") == f"hooks.example:{receiver.port}"


def test_metadata_address_is_refused_at_send_time_even_if_stored_earlier(deployed: None) -> None:
    outcome = Notifier().notify(Callback("http://169.254.169.254/latest/meta-data/", "GET", {}, None), DELIVERY)
    assert not outcome.ok and "link-local" in outcome.error


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "017700000001", "0177.0.0.1", "0",
                                  "0x08080808", "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "\u2460\u2461\u2466.0.0.1"])
def test_numeric_aliases_of_addresses_are_refused_when_stored(client: Client, deployed: None, host: str) -> None:
    """The C resolver reads "127.1" or "2130706433" as 127.0.0.1; full-width and enclosed digits
    are IDNA-mapped to ASCII ones. Each is refused at creation, not only at connect time."""
    status, reply = post(client, "/xtimer/creatTimer",
                         timer(notifyHTTPParam={"url": f"http://{host}:8080/hook", "method": "GET"}))
    assert status == 400 and reply["data"]["field"] == "notifyHTTPParam.url", host
    assert "non-canonical" in reply["message"] or "callbacks must go to a public host" in reply["message"]


def test_an_international_host_is_stored_idna_encoded(client: Client, service: Any) -> None:
    status, reply = post(client, "/xtimer/creatTimer",
                         timer(notifyHTTPParam={"url": "https://B\u00fccher.example:8443/h?q=\u00e4", "method": "GET"}))
    assert status == 200
    stored = get(client, f"/xtimer/getTimer?id={reply['data']['timerId']}&app=billing")[1]["data"]
    assert stored["notifyHTTPParam"]["url"] == "https://xn--bcher-kva.example:8443/h?q=\u00e4"


def test_a_refused_destination_fails_at_once_instead_of_being_retried(
    client: Client, service: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timer stored while loopback was allowed, fired once it is not: the policy refuses the
    connection, which no retry can change, so the task fails on its first attempt."""
    timer_id = post(client, "/xtimer/creatTimer",
                    timer(notifyHTTPParam={"url": receiver.url("/hook"), "method": "GET"}))[1]["data"]["timerId"]
    monkeypatch.setenv("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "false")
    get(client, f"/xtimer/triggerTimer?id={timer_id}&app=billing")
    deliver(service)
    [task] = get(client, f"/xtimer/getTasks?id={timer_id}&app=billing")[1]["data"]["tasks"]
    assert (task["statusName"], task["attempts"]) == ("failed", 1) and "loopback" in task["error"]
    assert receiver.received() == [] and len(dead_letters(service)) == 1

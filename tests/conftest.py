"""Fixtures in layers: fake AWS credentials -> moto -> tables and queues -> the service, with a clock
the test controls. No test reaches the network except servers on 127.0.0.1 (pytest-socket)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Iterator

import pytest
from moto import mock_aws

from chalicelib import aws, models, resources, wiring
from chalicelib.fire_queue import FireQueue
from chalicelib.notifier import Notifier
from tests.receiver import Receiver


class FakeClock:
    """A clock that moves only when told to, or when somebody sleeps on it."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Sleeping on a fake clock advances it to the end of the sleep (never backwards)."""
        with self._lock:
            self.slept.append(seconds)
            self._now = max(self._now, self._now + seconds)


def at(text: str) -> float:
    """Epoch seconds of an ISO time written in UTC, e.g. at("2026-03-01T12:00:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "XTIMER_STAGE": "dev",
        "XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "XTIMER_RESOURCE_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws_mock(aws_environment: None) -> Iterator[None]:
    with mock_aws():
        aws.forget_clients()
        models.reset_connections()
        yield
    aws.forget_clients()
    models.reset_connections()


@pytest.fixture
def provisioned(aws_mock: None) -> None:
    models.bind()
    resources.provision(aws.dynamodb(), aws.sqs())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2026-03-01T12:00:30"))


@pytest.fixture
def service(provisioned: None, clock: FakeClock) -> Iterator[wiring.Services]:
    """The whole service on moto, with the test's clock; fires are visible in the queue at once
    (the worker still waits for each fire time on the fake clock)."""
    queue = FireQueue(clock=clock, sleep=clock.sleep, max_delay_seconds=0)
    services = wiring.build(clock=clock, sleep=clock.sleep, queue=queue,
                            notifier=Notifier(connect_timeout=1.0, read_timeout=2.0),
                            max_early_seconds=float("inf"))
    wiring.use(services)
    yield services
    wiring.use(None)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx

"""AWS clients, built on first use with the endpoint and region configured at that moment.

Never at import time: moto must be active before a client exists, and the local stack points
clients at its own endpoint after start-up.
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from chalicelib import config

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str], Any] = {}

MAX_POOL_CONNECTIONS = 256
"""HTTP connections each client keeps: the worker claims a second's fires from its 256 callback
threads at once (with 50, most claims of a herd found the pool full and opened a new connection)."""

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},  # throttling and 5xx are retried with backoff
    max_pool_connections=MAX_POOL_CONNECTIONS,
    connect_timeout=3,
    read_timeout=25,
)


def client(service: str) -> Any:
    key = (service, config.endpoint_url(), config.region())
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = boto3.session.Session().client(
                    service, region_name=key[2], endpoint_url=key[1], config=_CLIENT_CONFIG
                )
                _clients[key] = found
    return found


def sqs() -> Any:
    return client("sqs")


def dynamodb() -> Any:
    return client("dynamodb")


def forget_clients() -> None:
    """Drop every cached client (tests start a fresh moto per test)."""
    with _lock:
        _clients.clear()

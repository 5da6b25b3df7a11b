"""The local stack picks moto's port: never the API's own, which is chosen free but not yet bound."""
from __future__ import annotations

from typing import Any

import pytest

from xtimer_local import stack


class ScriptedProbe:
    """A socket whose bind to port 0 gets the next port of a script, as the OS would hand them out."""

    ports: list[int] = []

    def __init__(self, *args: Any) -> None:
        self._port = 0

    def __enter__(self) -> ScriptedProbe:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self._port = ScriptedProbe.ports.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_moto_never_gets_the_port_the_api_is_about_to_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    # The OS offers the API's port first (it is still free: the API binds it only after moto is up).
    monkeypatch.setattr(stack.socket, "socket", ScriptedProbe)
    ScriptedProbe.ports = [36365, 36365, 41000]
    assert stack.free_port("127.0.0.1", avoid={36365}) == 41000


def test_a_free_port_is_one_the_os_offers() -> None:
    port = stack.free_port()
    assert 0 < port < 65536
    assert stack.free_port(avoid={port}) != port

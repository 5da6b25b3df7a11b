"""urllib3 connection pools that connect only to addresses the callback policy allows.

urllib3 resolves the host name itself when it opens a connection; checking the URL beforehand
would leave a window in which DNS could answer differently. Here the check happens on the very
addresses the socket connects to. TLS still verifies the certificate against the host name.
"""
from __future__ import annotations

import socket
from typing import Any

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import _set_socket_options  # type: ignore[attr-defined]
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from chalicelib.delivery import callback_policy


class _PolicyConnect:
    """Mixin for urllib3 connections: resolve, keep the allowed addresses, connect to the first that answers."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            addresses = callback_policy.connect_addresses(self._dns_host, self.port)  # type: ignore[attr-defined]
        except callback_policy.CallbackRefused as exc:
            raise NewConnectionError(self, str(exc)) from exc  # type: ignore[arg-type]
        last_error: OSError | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                _set_socket_options(sock, self.socket_options)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                last_error = exc
        raise NewConnectionError(  # type: ignore[arg-type]
            self, f"Failed to establish a new connection: {last_error}") from last_error


class _OneWrite:
    """Mixin for urllib3 connections: a request's head and body leave in one write.

    urllib3 writes a request's header block and then its body, two `sendall`s (and, on an open
    connection, two TCP segments for the receiver to wake up for). A callback is small (its body
    at most chalicelib.api.limits.MAX_BODY_BYTES), and a second's herd of them is bound by the
    sender's CPU, so the parts of one request are gathered and written once."""

    _gathered: list[bytes] | None = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **options: Any) -> None:
        self._gathered = []
        try:
            super().request(method, url, body=body, headers=headers, **options)  # type: ignore[misc]
        finally:
            gathered, self._gathered = self._gathered, None
        if gathered:  # (a request that failed on its way sends nothing: its error is raised above)
            super().send(b"".join(gathered))  # type: ignore[misc]

    def send(self, data: Any) -> None:
        if self._gathered is not None and isinstance(data, bytes):
            self._gathered.append(data)
            return
        if self._gathered:  # something unusual (a file-like body): what was gathered goes first
            gathered, self._gathered = self._gathered, []
            super().send(b"".join(gathered))  # type: ignore[misc]
        super().send(data)  # type: ignore[misc]


class PolicyHTTPConnection(_OneWrite, _PolicyConnect, HTTPConnection):
    pass


class PolicyHTTPSConnection(_OneWrite, _PolicyConnect, HTTPSConnection):
    pass


class _PolicyHTTPPool(HTTPConnectionPool):
    ConnectionCls = PolicyHTTPConnection


class _PolicyHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PolicyHTTPSConnection


def policy_pools(hosts: int, connections_per_host: int) -> PoolManager:
    """A pool manager whose connections obey the callback policy: `hosts` pools kept, each of up
    to `connections_per_host` kept-alive connections. It never retries (retries=False): a retry
    here would be invisible, and the queue retries a failed attempt after a backoff instead. TLS
    verifies against certifi's CA bundle, as requests does."""
    manager = PoolManager(num_pools=hosts, maxsize=connections_per_host, retries=False,
                          cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    manager.pool_classes_by_scheme = {"http": _PolicyHTTPPool, "https": _PolicyHTTPSPool}
    return manager

"""Requests a browser marks as cross-site are refused: with authentication off (the local stack's
default) any web page a developer opens could otherwise drive their `make run`, since
enableTimer, deleteTimer and triggerTimer are GETs and text/plain bodies are taken (no CORS
preflight stops either).

A browser says where a request comes from: `Sec-Fetch-Site` (cross-site, same-site, same-origin,
none) and, on most requests that are not plain navigations, `Origin`. A request is refused if
it is cross-site, or names an Origin other than the service's own (the console's, which the
service itself serves from /console). curl, SDKs and servers send neither header and are
unaffected.

A page can also get past both by DNS rebinding: its own name, re-pointed at 127.0.0.1, makes its
requests same-origin. So a local stack without authentication answers only requests whose Host is a
loopback address, `localhost`, or a name listed in XTIMER_ALLOWED_HOSTS (the way development
servers refuse an "invalid Host header"); with authentication on, a page has no key to send.
"""
from __future__ import annotations

import ipaddress
from typing import Mapping

from chalicelib import config
from chalicelib.errors import ErrorCode, XtimerError


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return None if value is None else str(value).strip()


def own_origins(headers: Mapping[str, str]) -> set[str]:
    """The origins this service is reached at, as the request's Host header names it."""
    host = (_header(headers, "host") or "").lower()
    return {f"http://{host}", f"https://{host}"} if host else set()


def host_name(host: str) -> str:
    """`host` (a Host header) without its port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_local_host(host: str) -> bool:
    name = host_name(host)
    if name == "localhost" or name.endswith(".localhost") or name in config.allowed_hosts():
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_cross_site(headers: Mapping[str, str]) -> None:
    """Raise a 403 XtimerError if a browser marks this request as coming from another site, or,
    on a local stack without authentication, if it names a Host that is not local (a deployed
    stage without authentication is open to anyone already: it is reached at its own name)."""
    host = _header(headers, "host")
    if host and not config.auth_required() and not config.deployed() and not is_local_host(host):
        raise XtimerError(ErrorCode.FORBIDDEN,
                          f"host {host[:100]!r} refused: this stage runs without authentication, so it answers "
                          "only requests to localhost or a loopback address (a web page could otherwise reach it "
                          "by DNS rebinding). Call it at 127.0.0.1, or list the name in XTIMER_ALLOWED_HOSTS")
    fetch_site = (_header(headers, "sec-fetch-site") or "").lower()
    origin = _header(headers, "origin")
    if fetch_site == "cross-site":
        raise _refused("another site")
    if origin is not None and origin.lower().rstrip("/") not in own_origins(headers):
        raise _refused(repr(origin[:100]))


def _refused(source: str) -> XtimerError:
    return XtimerError(ErrorCode.FORBIDDEN,
                       f"cross-site request refused: a web page from {source} may not call this API. Use the "
                       "console this service serves at /console, or call it from curl, a script or a server")

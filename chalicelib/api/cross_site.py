"""Requests a browser marks as cross-site are refused: with authentication off (the local stack's
default) any web page a developer opens could otherwise drive their `make run`, since
enableTimer, deleteTimer and triggerTimer are GETs and text/plain bodies are taken (no CORS
preflight stops either).

A browser says where a request comes from: `Sec-Fetch-Site` (cross-site, same-site, same-origin,
none) and, on most requests that are not plain navigations, `Origin`. A request is refused if
it is cross-site, or names an Origin other than the service's own (the console's, which the
service itself serves from /console). curl, SDKs and servers send neither header and are
unaffected.
"""
from __future__ import annotations

from typing import Mapping

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


def refuse_cross_site(headers: Mapping[str, str]) -> None:
    """Raise a 403 XtimerError if a browser marks this request as coming from another site."""
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

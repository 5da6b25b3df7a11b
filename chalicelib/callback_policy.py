"""Which callback hosts the service may call.

Deployed stages refuse hosts that point back into the service's own network; the local stack
turns loopback on through configuration (XTIMER_ALLOW_LOOPBACK_CALLBACKS), not a code path.
"""
from __future__ import annotations

import ipaddress

from chalicelib import config

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def refusal(host: str) -> str | None:
    """Why a callback to `host` is refused, or None if it is allowed."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    is_loopback = host in _LOOPBACK_NAMES or host.endswith(".localhost") or (
        address is not None and address.is_loopback
    )
    if is_loopback:
        if config.allow_loopback_callbacks():
            return None
        return f"host {host!r} is a loopback address; callbacks must go to a public host"
    if address is not None and (
        address.is_private or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    ):
        return f"host {host!r} is a private, link-local or reserved address; callbacks must go to a public host"
    return None

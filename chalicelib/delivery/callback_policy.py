"""Which callback hosts the service may call, checked twice: when a timer is stored (the URL's
literal host) and when each callback connects (every address the name resolves to then, since
DNS can change between the two).

Deployed stages refuse loopback, private, link-local (169.254.169.254 included), multicast and
reserved addresses, unless the host or address is on the allow-list (XTIMER_CALLBACK_ALLOWLIST:
comma-separated host names, addresses or CIDR blocks). The local stack allows loopback through
configuration (XTIMER_ALLOW_LOOPBACK_CALLBACKS), not through a code path.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any, Callable

import idna

from chalicelib import config

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

Resolver = Callable[..., list[tuple[Any, ...]]]
resolve: Resolver = socket.getaddrinfo  # the name service; tests put a fake one here


class CallbackRefused(OSError):
    """A callback host or address the policy does not allow."""


def _allowlist() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names: set[str] = set()
    networks = []
    for entry in os.environ.get("XTIMER_CALLBACK_ALLOWLIST", "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return names, networks


def _normal(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


def address_refusal(address: str, host: str | None = None) -> str | None:
    """Why connecting to `address` (an IP literal, for `host`) is refused, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    names, networks = _allowlist()
    if (host and _normal(host) in names) or any(ip in net for net in networks):
        return None
    shown = f"{host} ({ip})" if host and _normal(host) != str(ip) else str(ip)
    if ip.is_loopback:
        if config.allow_loopback_callbacks():
            return None
        return f"{shown} is a loopback address; callbacks must go to a public host"
    if ip.is_link_local:
        return f"{shown} is a link-local address (cloud metadata lives there); callbacks must go to a public host"
    if ip.is_private or ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{shown} is a private, multicast or reserved address; callbacks must go to a public host"
    return None


def ascii_host(host: str) -> str:
    """`host` as it goes on the wire: a non-ASCII name IDNA-encoded (UTS 46, which also maps
    full-width and enclosed digits, so "１２７.０.０.１" is 127.0.0.1); ValueError if it cannot be."""
    if host.isascii():
        return host
    try:
        return idna.encode(host.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{host[:60]!r} is not a valid international domain name ({exc})") from None


def numeric_alias(host: str) -> str | None:
    """The IPv4 address a host that is not a canonical dotted quad still means to the C
    resolver (inet_aton: "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0"), or None."""
    name = host.rstrip(".")
    try:
        packed = socket.inet_aton(name)
    except OSError:
        return None
    address = socket.inet_ntoa(packed)
    return None if address == name else address


def refusal(host: str) -> str | None:
    """Why a callback URL with this host is refused when a timer is stored, or None.

    Only what the host says by itself is judged here (an address, a loopback name, a numeric
    alias of an address); what a name resolves to is judged at each connection, by
    `connect_addresses`. `host` is expected IDNA-encoded already (`ascii_host`).
    """
    name = _normal(host)
    alias = numeric_alias(name)
    if alias is not None:
        return (f"{host!r} is a non-canonical form of the address {alias}; write it as four decimal "
                f"numbers ({alias}) or use a host name")
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            return address_refusal("127.0.0.1", name)
        return None
    return address_refusal(name, name)


def connect_addresses(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[Any, ...]]:
    """The resolved addresses of `host` that may be connected to; CallbackRefused if none may."""
    infos = resolve(_normal(host), port, family, socket.SOCK_STREAM)
    allowed, reasons = [], []
    for info in infos:
        reason = address_refusal(info[4][0], host)
        if reason:
            reasons.append(reason)
        else:
            allowed.append(info)
    if not allowed:
        raise CallbackRefused(f"callback refused: {reasons[0] if reasons else f'{host} did not resolve'}")
    return allowed

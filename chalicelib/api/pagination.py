"""Opaque page tokens: where the next page starts, in a form callers pass back unchanged.

A token only carries a position (a timer id, a fire time), never a table key: the partition
is always the caller's own app or timer, so a forged token cannot reach another app's items.
"""
from __future__ import annotations

import base64

from chalicelib.errors import InvalidField


def encode(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode(kind: str, token: str | None) -> int | None:
    if token is None or token == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        found_kind, position = raw.split(":", 1)
        if found_kind != kind:
            raise ValueError(found_kind)
        return int(position)
    except (ValueError, UnicodeDecodeError):
        raise InvalidField("pageToken", "is not a token this call returned; pass nextPageToken back "
                           "unchanged, or leave it out for the first page") from None

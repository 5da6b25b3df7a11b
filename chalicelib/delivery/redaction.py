"""Keeps credentials out of task records and logs.

A timer's callback headers may carry credentials (Authorization, API keys, tokens, cookies).
The service never records request headers, but a receiver can echo them back in its answer or
an error text; before an outcome is recorded, every such value found in it is replaced.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping

from chalicelib.fires.outcome import Outcome

REDACTED = "[redacted]"
_CREDENTIAL_NAME = re.compile(r"auth|token|secret|passw|api[-_]?key|cookie|session|signature|credential", re.I)
_MIN_LENGTH = 6  # shorter values are too likely to match ordinary text


def looks_like_credential(header_name: str) -> bool:
    return bool(_CREDENTIAL_NAME.search(header_name))


def credential_values(headers: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The values to keep out of records: credential-like headers, and their parts (a bearer token
    without its 'Bearer '), longest first so that a part does not break up a whole."""
    values: set[str] = set()
    for name, value in headers.items():
        if looks_like_credential(name):
            values.add(value)
            values.update(part for part in value.split() if len(part) >= _MIN_LENGTH)
    values.update(extra)
    return sorted((v for v in values if len(v) >= _MIN_LENGTH), key=len, reverse=True)


def redact(text: str | None, secrets: list[str]) -> str | None:
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def redact_outcome(outcome: Outcome, secrets: list[str]) -> Outcome:
    if not secrets:
        return outcome
    return dataclasses.replace(outcome, response_body=redact(outcome.response_body, secrets) or "",
                               error=redact(outcome.error, secrets))

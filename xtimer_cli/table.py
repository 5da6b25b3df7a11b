"""Plain-text tables for people: columns padded with spaces, no borders, no dependency."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any, width: int | None = None) -> str:
    """A value on one line: None is empty, whitespace runs become one space, long text is cut with '...'."""
    text = "" if value is None else " ".join(str(value).split())
    if width is not None and len(text) > width:
        text = text[: max(width - 3, 0)] + "..."
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under a header line, each column as wide as its widest cell."""
    lines = [list(headers)] + [[cell(value) for value in row] for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
                     for line in lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """Name-value lines, values aligned; a list value takes one line per item."""
    pairs = list(pairs)
    width = max((len(name) for name, _ in pairs), default=0)
    lines = []
    for name, value in pairs:
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items or [""]):
            lines.append(f"{name if index == 0 else '':<{width}}  {cell(item)}".rstrip())
    return "\n".join(lines)

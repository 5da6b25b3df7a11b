"""Filtered pages read with a bounded cost.

A DynamoDB filter is applied after `Limit`: asking for one matching item with Limit=1 reads one
item per request until one matches, so a filter that matches rarely made one Query per item.
Instead, items are read in pages of READ_PAGE_SIZE, filtered here, and one call examines at most
MAX_EXAMINED of them; a page may then hold fewer items than asked for (even none) and still say
where the next one starts. docs/api.md ("Limits") documents both numbers.
"""
from __future__ import annotations

from typing import Callable, Iterable, TypeVar

READ_PAGE_SIZE = 100
MAX_EXAMINED = 1000

T = TypeVar("T")


def read_page_size(wanted: int) -> int:
    """Items per DynamoDB request for a page of `wanted` items: never fewer than READ_PAGE_SIZE."""
    return max(READ_PAGE_SIZE, wanted)


def filtered_page(items: Iterable[T], keep: Callable[[T], bool], wanted: int,
                  max_examined: int = MAX_EXAMINED) -> tuple[list[T], T | None]:
    """Up to `wanted` of `items` that `keep` accepts, examining at most `max_examined`; and the
    last item examined when reading stopped before the end (the next page starts after it)."""
    kept: list[T] = []
    for examined, item in enumerate(items, start=1):
        if keep(item):
            kept.append(item)
            if len(kept) == wanted:
                return kept, item
        if examined >= max_examined:
            return kept, item
    return kept, None

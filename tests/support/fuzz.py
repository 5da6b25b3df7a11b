"""How many examples the fuzz tests generate (tests/component/test_fuzz.py).

`pytest --fuzz-examples N` sets it (tests/conftest.py, at start-up, before test modules are
imported and their hypothesis settings are fixed); the default keeps `make test` quick.
"""
from __future__ import annotations

DEFAULT_EXAMPLES = 25
_examples = DEFAULT_EXAMPLES


def set_examples(count: int) -> None:
    global _examples
    if count < 1:
        raise ValueError(f"--fuzz-examples must be at least 1, got {count}")
    _examples = count


def examples(at_least: int = 0) -> int:
    """The configured count per API operation, or `at_least` if that is more."""
    return max(_examples, at_least)

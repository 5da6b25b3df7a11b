"""The local-stack patches apply to the pinned moto only, and check the internals they touch."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from xtimer_local import moto_internals
from xtimer_local.moto_internals import MOTO_VERSION, UnsupportedMoto, require, require_version

ROOT = Path(__file__).resolve().parents[2]


def test_the_patches_are_written_for_the_moto_requirements_dev_pins() -> None:
    pin = re.search(r"^moto\[server\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pin is not None and pin.group(1) == MOTO_VERSION
    assert moto_internals.installed_version() == MOTO_VERSION


@pytest.mark.parametrize("other", ["5.2.6", "5.2.4", "5.3.0", "6.0.0"])
def test_another_moto_is_refused_with_what_to_install(other: str) -> None:
    with pytest.raises(UnsupportedMoto) as refused:
        require_version(other)
    assert f"moto {other} is installed" in str(refused.value)
    assert f"pip install 'moto[server]=={MOTO_VERSION}'" in str(refused.value)


def test_the_pinned_moto_passes() -> None:
    require_version(MOTO_VERSION)


class Internals:
    def call_action(self) -> None: ...

    def send(self, queue: str, body: str) -> None: ...


def test_a_missing_internal_is_refused() -> None:
    with pytest.raises(UnsupportedMoto, match="call_action_v2 is gone"):
        require(Internals, "call_action_v2", ("self",))


def test_an_internal_with_other_arguments_is_refused() -> None:
    require(Internals, "send", ("self", "queue", "body"))
    with pytest.raises(UnsupportedMoto, match=r"takes \('self', 'queue', 'body'\).*expects \('self', 'queue'\)"):
        require(Internals, "send", ("self", "queue"))

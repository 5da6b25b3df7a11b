"""The service never relies on `assert`: `python -O` strips asserts, so a check written as one
would vanish in an optimised run (narrowing for the type checker is `typing.cast`)."""
from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SERVICE_CODE = [PROJECT / "app.py", *sorted((PROJECT / "chalicelib").rglob("*.py"))]


def test_the_service_code_has_no_assert_statements() -> None:
    found = [
        f"{path.relative_to(PROJECT)}:{node.lineno}"
        for path in SERVICE_CODE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert len(SERVICE_CODE) > 20 and not found, f"assert in service code (use a real check or cast): {found}"

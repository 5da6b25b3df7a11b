"""pydantic's validation errors as the API's: the first problem, in the request's check order, as
an XtimerError that names the field (`data.field`) and says what was wrong in the API's words."""
from __future__ import annotations

from typing import Any, Mapping, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from chalicelib.api.fields import MISSING, NO_CONTROL_CHARACTERS, REFUSAL, json_type
from chalicelib.api.requests import Request
from chalicelib.errors import ErrorCode, InvalidField, XtimerError

R = TypeVar("R", bound=Request)


def parse(model: type[R], data: Mapping[str, Any]) -> R:
    """`data` as a `model`, or the XtimerError of its first problem."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise first_error(model, exc) from None


def first_error(model: type[Request], exc: ValidationError) -> XtimerError:
    order = model.check_order or tuple(model.model_fields)
    errors = exc.errors()
    errors.sort(key=lambda e: order.index(e["loc"][0]) if e["loc"] and e["loc"][0] in order else len(order))
    return as_xtimer_error(errors[0])


def as_xtimer_error(error: ErrorDetails) -> XtimerError:
    field = ".".join(str(part) for part in error["loc"])
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == REFUSAL:
        code = ErrorCode(ctx["code"])
        if ctx.get("whole_request"):
            return XtimerError(code, ctx["message"])
        return InvalidField(field, ctx["message"], code)
    return InvalidField(field, _message(kind, value, ctx, field))


def _message(kind: str, value: Any, ctx: dict[str, Any], field: str) -> str:
    """pydantic's own checks (chalicelib.api.fields.text's), worded as the API always has."""
    if kind == "missing" or (value is None and kind.endswith("_type")):
        return MISSING.get(field, "is required")
    if kind == "string_type":
        return f"must be a string, not {json_type(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is {len(value)} characters long; at most {ctx['max_length']} are allowed"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NO_CONTROL_CHARACTERS:
        return "must not contain control characters (newlines, tabs, ...)"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"must be an object, not {json_type(value)}"
    return f"is not valid ({error_text(kind, ctx)})"


def error_text(kind: str, ctx: Mapping[str, Any]) -> str:
    """A check the API has no words of its own for (none should be left): pydantic's type and context."""
    return kind + "".join(f", {k}={v!r}" for k, v in ctx.items())

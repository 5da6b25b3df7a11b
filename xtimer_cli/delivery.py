"""The delivery-policy flags of `xtimer create` and `xtimer update` (issue 16), as the API's
retryPolicy, timeoutSeconds, failureCallback and pauseAfterFailures. Ranges are the service's to
check: its error names the field and the range, and the CLI prints it."""
from __future__ import annotations

import functools
from typing import Any, Callable

import click

FLAGS = ("retry_max_attempts", "retry_max_age", "retry_min_backoff", "retry_max_backoff", "retry_on", "timeout",
         "failure_url", "failure_method", "pause_after_failures")
_RETRY = {"retry_max_attempts": "maxAttempts", "retry_max_age": "maxAgeSeconds",
          "retry_min_backoff": "minBackoffSeconds", "retry_max_backoff": "maxBackoffSeconds", "retry_on": "retryOn"}


def _retry_on(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """"5xx,429,timeout" -> ["5xx", "429", "timeout"]; "none" retries nothing."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return []
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def delivery_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--retry-max-attempts", type=int, metavar="N", help="Attempts per fire in all (1-20)."),
        click.option("--retry-max-age", type=int, metavar="SECONDS",
                     help="No retry later than this after the fire time (60-86400)."),
        click.option("--retry-min-backoff", type=int, metavar="SECONDS", help="Shortest wait before a retry."),
        click.option("--retry-max-backoff", type=int, metavar="SECONDS", help="Longest wait before a retry."),
        click.option("--retry-on", callback=_retry_on, metavar="LIST",
                     help='What is retried, comma-separated: connection, timeout, 3xx, 4xx, 5xx or a status '
                          '(default "connection,timeout,408,429,5xx"); "none" retries nothing.'),
        click.option("--timeout", type=int, metavar="SECONDS", help="Each attempt's whole budget (1-15)."),
        click.option("--failure-url", metavar="URL", help="Called once, with a JSON report, when a fire fails for good."),
        click.option("--failure-method", type=click.Choice(("POST", "PUT", "PATCH"), case_sensitive=False),
                     help="The failure callback's method (default POST)."),
        click.option("--pause-after-failures", type=int, metavar="N",
                     help="Disable the timer after N fires in a row failed for good."),
    ]
    return functools.reduce(lambda func, option: option(func), reversed(options), command)


def given(flags: dict[str, Any]) -> bool:
    return any(flags.get(name) is not None for name in FLAGS)


def delivery_fields(flags: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API fields the flags set. retryPolicy and failureCallback are replaced whole by the
    service, so an update starts from the `current` timer's and changes only what was given."""
    fields: dict[str, Any] = {}
    retry = {api: flags[flag] for flag, api in _RETRY.items() if flags.get(flag) is not None}
    if retry:
        fields["retryPolicy"] = {**((current or {}).get("retryPolicy") or {}), **retry}
    if flags.get("failure_url") is not None or flags.get("failure_method") is not None:
        callback = dict((current or {}).get("failureCallback") or {})
        if flags.get("failure_url") is not None:
            callback["url"] = flags["failure_url"]
        if flags.get("failure_method") is not None:
            callback["method"] = flags["failure_method"].upper()
        if "url" not in callback:
            raise click.UsageError("--failure-method needs --failure-url (the timer has no failure callback yet)")
        fields["failureCallback"] = callback
    if flags.get("timeout") is not None:
        fields["timeoutSeconds"] = flags["timeout"]
    if flags.get("pause_after_failures") is not None:
        fields["pauseAfterFailures"] = flags["pause_after_failures"]
    return fields

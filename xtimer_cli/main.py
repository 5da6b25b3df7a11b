"""`xtimer`, the command-line client: one command per API call, tables for people, --json for scripts."""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from xtimer_cli.client import DEFAULT_URL, ApiError, ServiceUnreachable, XtimerClient, all_pages
from xtimer_cli.delivery import delivery_fields, delivery_options, given as delivery_given
from xtimer_cli.table import cell, fields, table

EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 3
MAX_PAGE_SIZE = 100
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # the service's chalicelib.timers.status.METHODS; a test keeps them equal
TIMER_STATUS = {1: "disabled", 2: "enabled", 3: "completed"}
TASK_STATUS = {0: "not run", 1: "running", 2: "succeeded", 3: "failed", 4: "missed", 5: "skipped", 6: "held"}
OVERLAP_POLICIES = ("allow", "skip", "buffer_one")
CLEARABLE = {"start-at": "startAt", "end-at": "endAt", "max-fires": "maxFires", "jitter": "jitterSeconds",
             "misfire-policy": "misfirePolicy", "catch-up": "catchUpSeconds", "overlap-policy": "overlapPolicy"}
"""update --clear NAME: the options a null clears (back to the service's default)."""

Reply = tuple[Any, str]     # what a command got (printed with --json) and what it says to people


URL_HELP = "The xtimer service's base URL."
APP_HELP = "The application the timers belong to."
JSON_HELP = "Print the reply's data as JSON (the whole reply on an error)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="XTIMER_URL", show_envvar=True, default=DEFAULT_URL, show_default=True, metavar="URL",
              help=URL_HELP)
@click.option("--app", envvar="XTIMER_APP", show_envvar=True, metavar="APP", help=APP_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def cli(ctx: click.Context, url: str, app: str | None, as_json: bool) -> None:
    """Create, inspect and manage xtimer timers.

    --url, --app and --json may also follow the command: `xtimer list --app demo --json`.

    Exit codes: 0 ok, 1 the service refused the request (the error is printed), 2 wrong usage,
    3 the service could not be reached.
    """
    ctx.obj = {"url": url, "app": app, "json": as_json}


def api_command(*, needs_app: bool = True) -> Callable[[Callable[..., Reply]], Callable[..., None]]:
    """Adds --url, --json (and --app) to a command, each defaulting to the one given before the
    command; hands the command an XtimerClient; prints what it returns; and turns an error reply
    into exit code 1 and an unreachable service into exit code 3."""

    def decorate(command: Callable[..., Reply]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(ctx: click.Context, url: str | None, as_json: bool, **params: Any) -> None:
            url, as_json = url or ctx.obj["url"], as_json or ctx.obj["json"]
            if needs_app:
                params["app"] = params["app"] or ctx.obj["app"]
                if not params["app"]:
                    raise click.UsageError("Missing option '--app' (or set XTIMER_APP).")
            try:
                data, text = command(XtimerClient(url), **params)
            except ApiError as err:
                if as_json:
                    click.echo(_json(err.envelope))
                click.echo(str(err), err=True)
                raise SystemExit(EXIT_API_ERROR) from None
            except ServiceUnreachable as err:
                click.echo(f"error: {err}. Is the service running? Start it with `make run`, "
                           "or point --url (or XTIMER_URL) at it.", err=True)
                raise SystemExit(EXIT_UNREACHABLE) from None
            click.echo(_json(data) if as_json else text)

        run = click.pass_context(run)
        if needs_app:
            run = click.option("--app", metavar="APP", help=APP_HELP + " [default: xtimer --app, or XTIMER_APP]")(run)
        run = click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(run)
        run = click.option("--url", metavar="URL", help=URL_HELP + " [default: xtimer --url, or XTIMER_URL, "
                                                                     f"or {DEFAULT_URL}]")(run)
        return run

    return decorate


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


timer_id_argument = click.argument("timer_id", metavar="ID", type=click.IntRange(1, 2**53 - 1))


def _headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, colon, text = value.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME:VALUE, e.g. 'Authorization: Bearer abc'")
        headers[name.strip()] = text.strip()
    return headers


def _body(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or not value.startswith("@"):
        return value
    path = value[1:]
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from None


def callback_options(*, create: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--url-to, --method, --header and --body, as creatTimer's notifyHTTPParam."""
    options = [
        click.option("--url-to", required=create, metavar="URL", help="The callback URL (http:// or https://)."),
        click.option("--method", type=click.Choice(METHODS, case_sensitive=False), metavar="METHOD",
                     default="POST" if create else None, show_default=create,
                     help="The callback's HTTP method: GET, POST, PUT, PATCH or DELETE."),
        click.option("--header", "headers", multiple=True, callback=_headers, metavar="NAME:VALUE",
                     help="A header of the callback; repeat for more."
                          + ("" if create else " Replaces all the callback's headers.")),
        click.option("--body", callback=_body, metavar="TEXT|@FILE",
                     help="The callback's body, or @FILE to read it from a file (@- for stdin)."),
    ]
    return lambda command: functools.reduce(lambda func, option: option(func), reversed(options), command)


def schedule_kind_options(*, create: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--cron, --at and --rate: the three ways to write a schedule (at most one)."""
    new = "" if create else "A new schedule: "
    options = [
        click.option("--cron", help=new + '5, 6 (seconds first) or 7 fields, or a macro: "*/5 * * * * *".'),
        click.option("--at", "at_time", metavar="YYYY-MM-DDTHH:MM:SS",
                     help=new + "fire once at this time (instead of --cron)."),
        click.option("--rate", metavar='"N UNIT"',
                     help=new + 'fire every N seconds/minutes/hours/days, e.g. "90 seconds".'),
    ]
    return lambda command: functools.reduce(lambda func, option: option(func), reversed(options), command)


def schedule_kind(cron: str | None, at_time: str | None, rate: str | None) -> str | None:
    """The `cron` field for the one kind given; None if none or more than one was given."""
    kinds = [k for k in (cron, f"at({at_time})" if at_time else None, f"rate({rate})" if rate else None) if k]
    return kinds[0] if len(kinds) == 1 else None


def schedule_options(*, create: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The optional schedule fields and policies of creatTimer and updateTimer."""
    options = [
        click.option("--start-at", metavar="RFC3339", help="No fire before this time."),
        click.option("--end-at", metavar="RFC3339", help="No fire at or after this time."),
        click.option("--max-fires", type=click.IntRange(1), help="Complete the timer after this many fires."),
        click.option("--jitter", type=click.IntRange(0), metavar="SECONDS", help="Move each fire later by 0..N s."),
        click.option("--delete-after-completion/--keep-after-completion", default=None,
                     help="Delete the timer after its last fire, or keep it, completed (the default)."),
        click.option("--misfire-policy", type=click.Choice(("all", "once", "skip")),
                     help="Fires missed while the service was down: all (default), once (the latest only), skip."),
        click.option("--catch-up", type=click.IntRange(0), metavar="SECONDS",
                     help="How late a missed fire may still be made."),
        click.option("--overlap-policy", type=click.Choice(OVERLAP_POLICIES),
                     help="A fire that comes while the previous one is still running or being retried: allow "
                          "(default: made), skip (recorded as skipped), buffer_one (made after it; any further "
                          "one skipped)."),
    ]
    if not create:
        options.append(click.option("--clear", multiple=True, type=click.Choice(tuple(CLEARABLE)),
                                    help="Remove this option (back to the default); repeat for more."))
    return lambda command: functools.reduce(lambda func, option: option(func), reversed(options), command)


def option_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The API fields of schedule_options' values (None: not given)."""
    return {"startAt": options["start_at"], "endAt": options["end_at"], "maxFires": options["max_fires"],
            "jitterSeconds": options["jitter"], "deleteAfterCompletion": options["delete_after_completion"],
            "misfirePolicy": options["misfire_policy"], "catchUpSeconds": options["catch_up"],
            "overlapPolicy": options["overlap_policy"]}


# Commands: each returns (data, text for people)


@cli.command()
@api_command()
@click.option("--name", required=True, help="Unique within the app.")
@schedule_kind_options(create=True)
@callback_options(create=True)
@click.option("--timezone", help="The IANA time zone the cron is read in (default UTC).")
@click.option("--enable", is_flag=True, help="Enable the timer at once (default: created disabled).")
@schedule_options(create=True)
@delivery_options
def create(client: XtimerClient, app: str, name: str, cron: str | None, at_time: str | None, rate: str | None,
           url_to: str, method: str, headers: dict[str, str], body: str | None, timezone: str | None,
           enable: bool, **options: Any) -> Reply:
    """Create a timer and print its id."""
    kind = schedule_kind(cron, at_time, rate)
    if kind is None:
        raise click.UsageError("give exactly one of --cron, --at and --rate")
    notify: dict[str, Any] = {"url": url_to, "method": method}
    if headers:
        notify["header"] = headers
    if body is not None:
        notify["body"] = body
    data = client.create_timer(app, name, kind, notify, timezone=timezone, enabled=enable,
                               options={**option_fields(options), **delivery_fields(options)})
    return data, str(data["timerId"])


@cli.command()
@api_command()
@timer_id_argument
def enable(client: XtimerClient, app: str, timer_id: int) -> Reply:
    """Enable a timer: its fires start within seconds."""
    return client.enable_timer(app, timer_id), f"timer {timer_id} enabled"


@cli.command()
@api_command()
@timer_id_argument
def disable(client: XtimerClient, app: str, timer_id: int) -> Reply:
    """Disable a timer: no more fires, queued ones included."""
    return client.disable_timer(app, timer_id), f"timer {timer_id} disabled"


@cli.command()
@api_command()
@timer_id_argument
def get(client: XtimerClient, app: str, timer_id: int) -> Reply:
    """Show a timer, its next fire times and how its recent tasks went."""
    timer = client.get_timer(app, timer_id)
    return timer, timer_text(timer)


@cli.command("list")
@api_command()
@click.option("--name", help="Only timers whose name contains this.")
@click.option("--page-size", type=click.IntRange(1, MAX_PAGE_SIZE), help="Timers per page (default 20).")
@click.option("--page-token", help="Start at this page (a token a previous page printed).")
@click.option("--all", "every_page", is_flag=True, help="Follow the pages to the last one.")
def list_timers(client: XtimerClient, app: str, name: str | None, page_size: int | None,
                page_token: str | None, every_page: bool) -> Reply:
    """List the app's timers, newest first."""
    data = _one_or_all_pages(
        lambda size, token: client.list_timers(app, name=name, page_size=size, page_token=token),
        "timers", page_size, page_token, every_page)
    rows = [(t.get("timerId"), t.get("name"), TIMER_STATUS.get(t.get("status"), t.get("status")),
             t.get("cron"), t.get("timezone"), _callback(t, width=60)) for t in data.get("timers", [])]
    text = table(("ID", "NAME", "STATUS", "CRON", "TIMEZONE", "CALLBACK"), rows) if rows else "no timers"
    return data, text + _page_footer(data, len(rows), "timers")


@cli.command()
@api_command()
@timer_id_argument
@click.option("--status", type=click.IntRange(0, 6),
              help="Only tasks in this status: 0 not run, 1 running, 2 succeeded, 3 failed, 4 missed, 5 skipped, "
                   "6 held.")
@click.option("--page-size", type=click.IntRange(1, MAX_PAGE_SIZE), help="Tasks per page (default 20).")
@click.option("--page-token", help="Start at this page (a token a previous page printed).")
@click.option("--all", "every_page", is_flag=True, help="Follow the pages to the last one.")
def history(client: XtimerClient, app: str, timer_id: int, status: int | None, page_size: int | None,
            page_token: str | None, every_page: bool) -> Reply:
    """Show a timer's executions, newest first."""
    data = _one_or_all_pages(
        lambda size, token: client.get_tasks(app, timer_id, status=status, page_size=size, page_token=token),
        "tasks", page_size, page_token, every_page)
    rows = [(t.get("fireTime"), _task_status(t), t.get("attempts"), t.get("httpStatus"),
             None if t.get("durationMs") is None else f"{t['durationMs']} ms",
             None if t.get("latenessMs") is None else f"{t['latenessMs']} ms", cell(t.get("error"), 60))
            for t in data.get("tasks", [])]
    text = (table(("FIRE TIME", "STATUS", "ATTEMPTS", "HTTP", "DURATION", "LATE", "ERROR"), rows) if rows
            else "no tasks")
    return data, text + _page_footer(data, len(rows), "tasks")


@cli.command()
@api_command()
@timer_id_argument
def trigger(client: XtimerClient, app: str, timer_id: int) -> Reply:
    """Run a timer once now, outside its schedule (a disabled one too)."""
    data = client.trigger_timer(app, timer_id)
    return data, fields([("triggered", data.get("timerId")), ("fire time", data.get("fireTime")),
                         ("idempotency key", data.get("idempotencyKey"))])


@cli.command()
@api_command(needs_app=False)
@click.argument("cron")
@click.option("--timezone", help="The IANA time zone to read the cron in (default UTC).")
@click.option("--count", type=click.IntRange(1, 50), help="How many fire times to show (default 5).")
def preview(client: XtimerClient, cron: str, timezone: str | None, count: int | None) -> Reply:
    """Check a cron expression and show its next fire times."""
    data = client.preview_cron(cron, timezone=timezone, count=count)
    return data, fields([("cron", data.get("cron", cron)), ("timezone", data.get("timezone", timezone or "UTC")),
                         ("description", data.get("description")), ("next fires", data.get("nextFireTimes", []))])


@cli.command()
@api_command()
@timer_id_argument
@click.option("--name", help="A new name, unique within the app.")
@schedule_kind_options(create=False)
@click.option("--timezone", help="A new time zone.")
@callback_options(create=False)
@schedule_options(create=False)
@click.option("--version", type=click.IntRange(1), help="The version you read; default: read it now.")
@delivery_options
def update(client: XtimerClient, app: str, timer_id: int, name: str | None, cron: str | None, at_time: str | None,
           rate: str | None, timezone: str | None, url_to: str | None, method: str | None, headers: dict[str, str],
           body: str | None, clear: tuple[str, ...], version: int | None, **options: Any) -> Reply:
    """Change a timer. The update is refused (exit 1) if the timer changed since its version was read."""
    kind = schedule_kind(cron, at_time, rate)
    if kind is None and any((cron, at_time, rate)):
        raise click.UsageError("give at most one of --cron, --at and --rate")
    given = {k: v for k, v in option_fields(options).items() if v is not None}
    cleared = {CLEARABLE[name] for name in clear}
    if cleared & set(given):
        raise click.UsageError("an option cannot be both given and cleared: "
                               + ", ".join(f"--{n}" for n in clear if CLEARABLE[n] in given))
    changes: dict[str, Any] = {k: v for k, v in {"name": name, "cron": kind, "timezone": timezone, **given}.items()
                               if v is not None}
    new_callback = url_to is not None or method is not None or bool(headers) or body is not None
    if not changes and not new_callback and not cleared and not delivery_given(options):
        raise click.UsageError("nothing to change: give --name, a schedule (--cron, --at, --rate), --timezone, "
                               "a callback option, a schedule option, a --retry-*, --timeout, --failure-* or "
                               "--pause-after-failures flag, or --clear")
    if version is None or new_callback or delivery_given(options):
        current = client.get_timer(app, timer_id)
        changes.update(delivery_fields(options, current))
        version = version or current["version"]
        if new_callback:   # notifyHTTPParam is replaced whole: start from the current one
            notify = dict(current["notifyHTTPParam"])
            notify.update({k: v for k, v in {"url": url_to, "method": method,
                                             "body": body}.items() if v is not None})
            if headers:
                notify["header"] = headers
            changes["notifyHTTPParam"] = notify
    timer = client.update_timer(app, timer_id, changes, version=version, clear=sorted(cleared))
    return timer, timer_text(timer)


@cli.command()
@api_command()
@timer_id_argument
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(client: XtimerClient, app: str, timer_id: int, yes: bool) -> Reply:
    """Delete a timer; its task records stay until they expire."""
    if not yes:
        click.confirm(f"Delete timer {timer_id} of app {app}?", abort=True, err=True)
    return client.delete_timer(app, timer_id), f"timer {timer_id} deleted"


# Rendering


def timer_text(timer: dict[str, Any]) -> str:
    notify = timer.get("notifyHTTPParam") or {}
    pairs: list[tuple[str, Any]] = [
        ("id", timer.get("timerId")), ("app", timer.get("app")), ("name", timer.get("name")),
        ("status", TIMER_STATUS.get(timer.get("status"), timer.get("status"))),
        ("cron", timer.get("cron")), ("timezone", timer.get("timezone")),
    ]
    if timer.get("description"):
        pairs.append(("schedule", timer["description"]))
    pairs.append(("callback", _callback(timer)))
    if notify.get("header"):
        pairs.append(("headers", [f"{k}: {v}" for k, v in notify["header"].items()]))
    if notify.get("body") is not None:
        pairs.append(("body", cell(notify["body"], 200)))
    for key, label in (("startAt", "start at"), ("endAt", "end at"), ("maxFires", "max fires"),
                       ("jitterSeconds", "jitter (s)"), ("misfirePolicy", "misfire policy"),
                       ("catchUpSeconds", "catch-up (s)"), ("overlapPolicy", "overlap policy")):
        if timer.get(key) is not None:
            pairs.append((label, timer[key]))
    if timer.get("deleteAfterCompletion"):
        pairs.append(("after completion", "deleted"))
    pairs += _delivery_text(timer)
    pairs += [("version", timer.get("version")), ("created", timer.get("createdAt")),
              ("updated", timer.get("updatedAt"))]
    if "nextFireTimes" in timer:
        pairs.append(("next fires", timer["nextFireTimes"] or ["none"]))
    if timer.get("recent"):
        recent = timer["recent"]
        pairs.append(("recent tasks", f"{recent.get('tasks', 0)}: {recent.get('succeeded', 0)} succeeded, "
                                      f"{recent.get('failed', 0)} failed, {recent.get('missed', 0)} missed"
                                      + "".join(f", {recent[k]} {k}" for k in ("skipped", "held") if recent.get(k))))
    return fields(pairs)


def _delivery_text(timer: dict[str, Any]) -> list[tuple[str, Any]]:
    """The delivery policy as set (unset: the service's defaults), the pause reason and the last fire."""
    pairs: list[tuple[str, Any]] = []
    if timer.get("statusReason"):
        pairs.append(("status reason", f"{timer['statusReason']} (since {timer.get('pausedAt')})"))
    retry = timer.get("retryPolicy") or {}
    if retry:
        pairs.append(("retry policy", ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}"
                                                for k, v in retry.items())))
    if timer.get("timeoutSeconds") is not None:
        pairs.append(("timeout (s)", timer["timeoutSeconds"]))
    failure = timer.get("failureCallback")
    if failure:
        pairs.append(("failure callback", f"{failure.get('method', '')} {failure.get('url', '')}"))
    if timer.get("pauseAfterFailures") is not None:
        pairs.append(("pause after", f"{timer['pauseAfterFailures']} failed fires in a row"))
    if timer.get("consecutiveFailures"):
        pairs.append(("failed in a row", timer["consecutiveFailures"]))
    last = timer.get("lastFire")
    if last:
        http = f", HTTP {last['httpStatus']}" if last.get("httpStatus") is not None else ""
        pairs.append(("last fire", f"{last.get('fireTime')}: {last.get('statusName')}{http}"))
    return pairs


def _callback(timer: dict[str, Any], width: int | None = None) -> str:
    notify = timer.get("notifyHTTPParam") or {}
    return cell(f"{notify.get('method', '')} {notify.get('url', '')}", width)


def _task_status(task: dict[str, Any]) -> str:
    name = task.get("statusName") or TASK_STATUS.get(task.get("status"), str(task.get("status")))
    return f"{name} (manual)" if task.get("manual") else name


def _one_or_all_pages(fetch: Callable[[int | None, str | None], dict[str, Any]], key: str,
                      page_size: int | None, page_token: str | None, every_page: bool) -> dict[str, Any]:
    """One page as the service sent it, or with --all the items of every page as one page (no token)."""
    if not every_page:
        return fetch(page_size, page_token)
    pages = list(all_pages(lambda token: fetch(page_size or MAX_PAGE_SIZE, token), page_token))
    data: dict[str, Any] = {key: [item for page in pages for item in page.get(key, [])]}
    if pages[0].get("total") is not None:
        data["total"] = pages[0]["total"]
    return data


def _page_footer(data: dict[str, Any], shown: int, what: str) -> str:
    lines = []
    if data.get("total") is not None:
        lines.append(f"{shown} of {data['total']} {what}")
    if data.get("nextPageToken"):
        lines.append(f"next page: --page-token {data['nextPageToken']}  (or --all for every page)")
    return "".join("\n" + line for line in lines)


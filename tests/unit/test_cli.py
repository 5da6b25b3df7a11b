"""The `xtimer` command-line client, against a fake xtimer on 127.0.0.1 that answers the README's
envelopes and records every request, so these tests do not depend on the real service."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from xtimer_cli import ServiceUnreachable, XtimerClient
from xtimer_cli.main import cli
from xtimer_cli.table import table

TIMER_ID = 224209356431360

TIMER = {
    "timerId": TIMER_ID, "app": "demo", "name": "hello", "cron": "*/3 * * * * *", "timezone": "UTC",
    "status": 2, "version": 2,
    "notifyHTTPParam": {"url": "http://127.0.0.1:8000/health", "method": "GET",
                        "header": {"X-Token": "abc"}, "body": None},
    "createdAt": "2026-11-25T08:00:00.123Z", "updatedAt": "2026-11-25T08:00:05.456Z",
}


def task(second: int, status: int = 2, name: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {"timerId": TIMER_ID, "fireTime": f"2026-11-25T08:01:{second:02d}Z", "fireMs": 0, "status": status,
            "statusName": name, "attempts": 1, "httpStatus": 200, "durationMs": 12, "error": None,
            "responseBody": "ok", "manual": False, "startedAt": None, "finishedAt": None, **extra}


def ok(data: Any = None) -> tuple[int, dict[str, Any]]:
    return 200, {"code": 0, "message": "ok", **({} if data is None else {"data": data})}


def error(http_status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return http_status, {"code": code, "message": message}


@dataclass
class Seen:
    """One request the fake service got."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


Answer = tuple[int, Any] | Callable[[Seen], tuple[int, Any]]


class FakeXtimer:
    """Answers each path with the replies it was given, in order (the last one repeats); 404 otherwise."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._answers: dict[str, list[Answer]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                            json.loads(raw) if raw else None)
                fake.seen.append(seen)
                answers = fake._answers.get(parts.path) or [error(404, 40400, "no such path in the fake")]
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                status, reply = answer(seen) if callable(answer) else answer
                payload = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(reply, str) else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, path: str, *answers: Answer) -> None:
        self._answers[path] = list(answers)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeXtimer]:
    server = FakeXtimer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XTIMER_URL", raising=False)
    monkeypatch.delenv("XTIMER_APP", raising=False)


def xtimer(fake: FakeXtimer, *args: str, app: str | None = "demo", input: str | None = None) -> Result:
    """Runs `xtimer COMMAND --url <fake> [--app demo] ARGS...`."""
    command, *rest = args
    options = ["--url", fake.url] + (["--app", app] if app else [])
    return CliRunner().invoke(cli, [command, *options, *rest], input=input, catch_exceptions=False)


# Each command sends the right request


def test_create_posts_the_timer_and_prints_only_its_id(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))

    result = xtimer(fake, "create", "--name", "hello", "--cron", "*/5 * * * * *",
                    "--url-to", "http://example.com/hook", "--method", "put", "--header", "X-Token: abc",
                    "--header", "X-Other:1", "--body", '{"a": 1}', "--timezone", "Europe/Paris", "--enable")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{TIMER_ID}\n"
    [request] = fake.seen
    assert (request.method, request.path) == ("POST", "/xtimer/creatTimer")
    assert request.body == {
        "app": "demo", "name": "hello", "cron": "*/5 * * * * *", "timezone": "Europe/Paris", "status": 2,
        "notifyHTTPParam": {"url": "http://example.com/hook", "method": "PUT",
                            "header": {"X-Token": "abc", "X-Other": "1"}, "body": '{"a": 1}'},
    }


def test_create_without_options_makes_a_disabled_post_callback_with_no_headers_or_body(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))

    result = xtimer(fake, "create", "--name", "hello", "--cron", "@hourly", "--url-to", "http://example.com/")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].body == {"app": "demo", "name": "hello", "cron": "@hourly", "status": 1,
                                 "notifyHTTPParam": {"url": "http://example.com/", "method": "POST"}}


def test_create_takes_a_one_shot_and_the_schedule_options(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))

    result = xtimer(fake, "create", "--name", "once", "--at", "2026-12-24T18:00:00", "--url-to", "http://example.com/",
                    "--start-at", "2026-12-01T00:00:00Z", "--end-at", "2027-01-01T00:00:00Z", "--max-fires", "1",
                    "--jitter", "30", "--delete-after-completion", "--misfire-policy", "once", "--catch-up", "60")

    assert result.exit_code == 0, result.output
    body = fake.seen[0].body
    assert (body["cron"], body["startAt"], body["endAt"], body["maxFires"], body["jitterSeconds"],
            body["deleteAfterCompletion"]) == ("at(2026-12-24T18:00:00)", "2026-12-01T00:00:00Z",
                                               "2027-01-01T00:00:00Z", 1, 30, True)
    assert (body["misfirePolicy"], body["catchUpSeconds"]) == ("once", 60)


def test_create_takes_a_rate(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))
    result = xtimer(fake, "create", "--name", "r", "--rate", "90 seconds", "--url-to", "http://example.com/")
    assert result.exit_code == 0, result.output
    assert fake.seen[0].body["cron"] == "rate(90 seconds)"


def test_create_wants_exactly_one_schedule(fake: FakeXtimer) -> None:
    result = xtimer(fake, "create", "--name", "r", "--rate", "1 hour", "--cron", "@daily", "--url-to", "http://x.io/")
    assert result.exit_code != 0 and "exactly one of --cron, --at and --rate" in result.output
    assert fake.seen == []


def test_create_reads_the_body_from_a_file_given_as_at_path(fake: FakeXtimer, tmp_path: Any) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))
    (tmp_path / "body.json").write_text('{"hello": "wörld"}\n', encoding="utf-8")

    result = xtimer(fake, "create", "--name", "n", "--cron", "@daily", "--url-to", "http://example.com/",
                    "--body", f"@{tmp_path / 'body.json'}")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].body["notifyHTTPParam"]["body"] == '{"hello": "wörld"}\n'


@pytest.mark.parametrize("command, path, says", [
    ("enable", "/xtimer/enableTimer", "enabled"),
    ("disable", "/xtimer/unableTimer", "disabled"),
])
def test_enable_and_disable_send_the_id_and_app_in_the_query(fake: FakeXtimer, command: str, path: str,
                                                              says: str) -> None:
    fake.answer(path, ok())

    result = xtimer(fake, command, str(TIMER_ID))

    assert result.exit_code == 0, result.output
    assert result.stdout == f"timer {TIMER_ID} {says}\n"
    assert [(s.method, s.path, s.query) for s in fake.seen] == [("GET", path, {"id": str(TIMER_ID), "app": "demo"})]


def test_get_shows_the_timer_its_next_fire_times_and_recent_counts(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok({
        **TIMER, "description": "Every 3 seconds",
        "nextFireTimes": ["2026-11-25T08:00:09Z", "2026-11-25T08:00:12Z"],
        "recent": {"tasks": 100, "succeeded": 98, "failed": 1, "missed": 1},
    }))

    result = xtimer(fake, "get", str(TIMER_ID))

    assert result.exit_code == 0, result.output
    assert fake.seen[0].query == {"id": str(TIMER_ID), "app": "demo"}
    lines = result.stdout.splitlines()
    assert f"id            {TIMER_ID}" in lines
    assert "status        enabled" in lines
    assert "schedule      Every 3 seconds" in lines
    assert "callback      GET http://127.0.0.1:8000/health" in lines
    assert "headers       X-Token: abc" in lines
    assert lines[lines.index("next fires    2026-11-25T08:00:09Z") + 1] == "              2026-11-25T08:00:12Z"
    assert "recent tasks  100: 98 succeeded, 1 failed, 1 missed" in lines


def test_get_with_json_prints_the_data_as_the_service_sent_it(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok(TIMER))

    result = xtimer(fake, "get", str(TIMER_ID), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == TIMER


def test_list_prints_one_page_as_a_table_with_the_total_and_the_next_page_token(fake: FakeXtimer) -> None:
    other = {**TIMER, "timerId": 7, "name": "nightly report", "status": 1, "cron": "0 0 2 * * *",
             "notifyHTTPParam": {"url": "https://example.com/report", "method": "POST"}}
    fake.answer("/xtimer/getAppTimers", ok({"timers": [TIMER, other], "nextPageToken": "tok1", "total": 3}))

    result = xtimer(fake, "list", "--name", "e", "--page-size", "2")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].query == {"app": "demo", "name": "e", "pageSize": "2"}
    assert result.stdout.splitlines() == [
        "ID               NAME            STATUS    CRON           TIMEZONE  CALLBACK",
        f"{TIMER_ID}  hello           enabled   */3 * * * * *  UTC       GET http://127.0.0.1:8000/health",
        "7                nightly report  disabled  0 0 2 * * *    UTC       POST https://example.com/report",
        "2 of 3 timers",
        "next page: --page-token tok1  (or --all for every page)",
    ]


def test_list_with_a_page_token_asks_for_that_page(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getAppTimers", ok({"timers": [], "total": 0}))

    result = xtimer(fake, "list", "--page-token", "tok1")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].query == {"app": "demo", "pageToken": "tok1"}
    assert result.stdout == "no timers\n0 of 0 timers\n"


def test_list_with_all_follows_the_page_tokens_to_the_last_page(fake: FakeXtimer) -> None:
    timers = [{**TIMER, "timerId": n, "name": f"t{n}"} for n in range(5, 0, -1)]
    fake.answer("/xtimer/getAppTimers",
                ok({"timers": timers[:2], "nextPageToken": "p2", "total": 5}),
                ok({"timers": timers[2:4], "nextPageToken": "p3", "total": 5}),
                ok({"timers": timers[4:], "total": 5}))

    result = xtimer(fake, "list", "--all", "--json")

    assert result.exit_code == 0, result.output
    assert [s.query for s in fake.seen] == [
        {"app": "demo", "pageSize": "100"},
        {"app": "demo", "pageSize": "100", "pageToken": "p2"},
        {"app": "demo", "pageSize": "100", "pageToken": "p3"},
    ]
    assert json.loads(result.stdout) == {"timers": timers, "total": 5}


def test_list_with_all_prints_every_timer_in_one_table_without_a_token(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getAppTimers",
                ok({"timers": [{**TIMER, "timerId": 2, "name": "b"}], "nextPageToken": "p2"}),
                ok({"timers": [{**TIMER, "timerId": 1, "name": "a"}]}))

    result = xtimer(fake, "list", "--all", "--page-size", "1")

    assert result.exit_code == 0, result.output
    assert [s.query.get("pageSize") for s in fake.seen] == ["1", "1"]
    names = [line.split()[1] for line in result.stdout.splitlines()[1:]]
    assert names == ["b", "a"]
    assert "page-token" not in result.stdout


def test_history_shows_the_tasks_as_a_table(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTasks", ok({"tasks": [
        task(6, manual=True, latenessMs=7),
        task(3, 3, "failed", attempts=5, httpStatus=503, durationMs=31, error="HTTP 503", latenessMs=61_004),
        task(0, 4, "missed", attempts=0, httpStatus=None, durationMs=None),
    ]}))

    result = xtimer(fake, "history", str(TIMER_ID))

    assert result.exit_code == 0, result.output
    assert fake.seen[0].query == {"id": str(TIMER_ID), "app": "demo"}
    assert result.stdout.splitlines() == [
        "FIRE TIME             STATUS              ATTEMPTS  HTTP  DURATION  LATE      ERROR",
        "2026-11-25T08:01:06Z  succeeded (manual)  1         200   12 ms     7 ms",
        "2026-11-25T08:01:03Z  failed              5         503   31 ms     61004 ms  HTTP 503",
        "2026-11-25T08:01:00Z  missed              0",
    ]


def test_history_filters_by_status_and_follows_pages_with_all(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTasks",
                ok({"tasks": [task(9, 3, "failed")], "nextPageToken": "next"}),
                ok({"tasks": [task(3, 3, "failed")]}))

    result = xtimer(fake, "history", str(TIMER_ID), "--status", "3", "--page-size", "1", "--all", "--json")

    assert result.exit_code == 0, result.output
    assert [s.query for s in fake.seen] == [
        {"id": str(TIMER_ID), "app": "demo", "status": "3", "pageSize": "1"},
        {"id": str(TIMER_ID), "app": "demo", "status": "3", "pageSize": "1", "pageToken": "next"},
    ]
    assert [t["fireTime"] for t in json.loads(result.stdout)["tasks"]] == ["2026-11-25T08:01:09Z",
                                                                          "2026-11-25T08:01:03Z"]


def test_history_refuses_a_status_outside_0_to_6_without_calling_the_service(fake: FakeXtimer) -> None:
    result = xtimer(fake, "history", str(TIMER_ID), "--status", "7")

    assert result.exit_code == 2
    assert fake.seen == []


def test_trigger_runs_the_timer_and_prints_the_fire_time_and_idempotency_key(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/triggerTimer", ok({"timerId": TIMER_ID, "fireTime": "2026-11-25T08:02:00.250Z",
                                            "idempotencyKey": f"{TIMER_ID}-1795593720250"}))

    result = xtimer(fake, "trigger", str(TIMER_ID))

    assert result.exit_code == 0, result.output
    assert [(s.path, s.query) for s in fake.seen] == [("/xtimer/triggerTimer", {"id": str(TIMER_ID), "app": "demo"})]
    assert result.stdout.splitlines() == [
        f"triggered        {TIMER_ID}",
        "fire time        2026-11-25T08:02:00.250Z",
        f"idempotency key  {TIMER_ID}-1795593720250",
    ]


def test_preview_posts_the_cron_without_needing_an_app(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/previewCron", ok({
        "cron": "0 30 9 * * MON-FRI", "timezone": "Europe/Paris", "description": "At 09:30, Monday through Friday",
        "nextFireTimes": ["2026-11-25T08:30:00Z", "2026-11-26T08:30:00Z"],
    }))

    result = xtimer(fake, "preview", "0 30 9 * * MON-FRI", "--timezone", "Europe/Paris", "--count", "2", app=None)

    assert result.exit_code == 0, result.output
    [request] = fake.seen
    assert (request.method, request.path, request.query) == ("POST", "/xtimer/previewCron", {})
    assert request.body == {"cron": "0 30 9 * * MON-FRI", "timezone": "Europe/Paris", "count": 2}
    assert result.stdout.splitlines() == [
        "cron         0 30 9 * * MON-FRI",
        "timezone     Europe/Paris",
        "description  At 09:30, Monday through Friday",
        "next fires   2026-11-25T08:30:00Z",
        "             2026-11-26T08:30:00Z",
    ]


def test_update_without_version_reads_the_timer_first_and_sends_its_version(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok(TIMER))
    fake.answer("/xtimer/updateTimer", ok({**TIMER, "cron": "*/10 * * * * *", "version": 3}))

    result = xtimer(fake, "update", str(TIMER_ID), "--cron", "*/10 * * * * *")

    assert result.exit_code == 0, result.output
    assert [(s.method, s.path) for s in fake.seen] == [("GET", "/xtimer/getTimer"), ("POST", "/xtimer/updateTimer")]
    assert fake.seen[1].body == {"id": TIMER_ID, "app": "demo", "version": 2, "cron": "*/10 * * * * *"}
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "cron */10 * * * * *" in lines
    assert "version 3" in lines


def test_update_with_a_version_sends_it_without_reading_the_timer(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/updateTimer", ok({**TIMER, "name": "renamed", "version": 8}))

    result = xtimer(fake, "update", str(TIMER_ID), "--name", "renamed", "--timezone", "Asia/Tokyo",
                    "--version", "7", "--json")

    assert result.exit_code == 0, result.output
    [request] = fake.seen
    assert request.body == {"id": TIMER_ID, "app": "demo", "version": 7, "name": "renamed",
                            "timezone": "Asia/Tokyo"}
    assert json.loads(result.stdout)["version"] == 8


def test_update_of_the_callback_sends_it_whole_keeping_what_was_not_given(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok(TIMER))
    fake.answer("/xtimer/updateTimer", ok(TIMER))

    result = xtimer(fake, "update", str(TIMER_ID), "--method", "post", "--body", "ping", "--version", "2")

    assert result.exit_code == 0, result.output
    assert fake.seen[1].body == {
        "id": TIMER_ID, "app": "demo", "version": 2,
        "notifyHTTPParam": {"url": "http://127.0.0.1:8000/health", "method": "POST",
                            "header": {"X-Token": "abc"}, "body": "ping"},
    }


def test_update_headers_replace_all_the_callbacks_headers(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok(TIMER))
    fake.answer("/xtimer/updateTimer", ok(TIMER))

    result = xtimer(fake, "update", str(TIMER_ID), "--header", "Authorization: Bearer xyz")

    assert result.exit_code == 0, result.output
    assert fake.seen[1].body["notifyHTTPParam"]["header"] == {"Authorization": "Bearer xyz"}


def test_update_with_nothing_to_change_is_a_usage_error(fake: FakeXtimer) -> None:
    result = xtimer(fake, "update", str(TIMER_ID))

    assert result.exit_code == 2
    assert "nothing to change" in result.stderr
    assert fake.seen == []


def test_update_takes_the_schedule_kinds_and_every_schedule_option_create_has(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/updateTimer", ok({**TIMER, "cron": "rate(90 seconds)", "overlapPolicy": "buffer_one",
                                           "maxFires": 5, "version": 3}))

    result = xtimer(fake, "update", str(TIMER_ID), "--rate", "90 seconds", "--start-at", "2026-12-01T00:00:00Z",
                    "--end-at", "2027-01-01T00:00:00Z", "--max-fires", "5", "--jitter", "30",
                    "--delete-after-completion", "--misfire-policy", "once", "--catch-up", "60",
                    "--overlap-policy", "buffer_one", "--version", "2")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].body == {
        "id": TIMER_ID, "app": "demo", "version": 2, "cron": "rate(90 seconds)", "startAt": "2026-12-01T00:00:00Z",
        "endAt": "2027-01-01T00:00:00Z", "maxFires": 5, "jitterSeconds": 30, "deleteAfterCompletion": True,
        "misfirePolicy": "once", "catchUpSeconds": 60, "overlapPolicy": "buffer_one"}
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "overlap policy buffer_one" in lines and "max fires 5" in lines


def test_update_takes_a_one_shot_and_keep_after_completion(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/updateTimer", ok(TIMER))
    result = xtimer(fake, "update", str(TIMER_ID), "--at", "2026-12-24T18:00:00", "--keep-after-completion",
                    "--version", "2")
    assert result.exit_code == 0, result.output
    assert fake.seen[0].body == {"id": TIMER_ID, "app": "demo", "version": 2, "cron": "at(2026-12-24T18:00:00)",
                                 "deleteAfterCompletion": False}


def test_update_clear_sends_null_for_each_option_named(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/updateTimer", ok(TIMER))
    result = xtimer(fake, "update", str(TIMER_ID), "--clear", "end-at", "--clear", "overlap-policy", "--version", "2")
    assert result.exit_code == 0, result.output
    assert fake.seen[0].body == {"id": TIMER_ID, "app": "demo", "version": 2, "endAt": None, "overlapPolicy": None}


@pytest.mark.parametrize(("args", "message"), [
    (("--cron", "@daily", "--rate", "1 hour"), "at most one of --cron, --at and --rate"),
    (("--max-fires", "3", "--clear", "max-fires"), "both given and cleared: --max-fires"),
])
def test_update_refuses_contradicting_flags_without_calling_the_service(fake: FakeXtimer, args: tuple[str, ...],
                                                                        message: str) -> None:
    result = xtimer(fake, "update", str(TIMER_ID), *args, "--version", "2")
    assert result.exit_code == 2 and message in result.stderr
    assert fake.seen == []


def test_update_refuses_an_unknown_overlap_policy_without_calling_the_service(fake: FakeXtimer) -> None:
    result = xtimer(fake, "update", str(TIMER_ID), "--overlap-policy", "queue", "--version", "2")
    assert result.exit_code == 2 and "allow" in result.stderr and "buffer_one" in result.stderr
    assert fake.seen == []


def test_create_sends_the_overlap_policy(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))
    result = xtimer(fake, "create", "--name", "r", "--rate", "1 minute", "--url-to", "http://example.com/",
                    "--overlap-policy", "skip")
    assert result.exit_code == 0, result.output
    assert fake.seen[0].body["overlapPolicy"] == "skip" and "deleteAfterCompletion" not in fake.seen[0].body


def test_a_stale_update_exits_1_with_the_services_conflict_message(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/updateTimer", error(409, 40901, "version 1 is not the timer's current version 2"))

    result = xtimer(fake, "update", str(TIMER_ID), "--name", "x", "--version", "1")

    assert result.exit_code == 1
    assert result.stderr == "error 40901: version 1 is not the timer's current version 2\n"
    assert result.stdout == ""


def test_delete_asks_for_confirmation_and_does_nothing_when_refused(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/deleteTimer", ok())

    result = xtimer(fake, "delete", str(TIMER_ID), input="n\n")

    assert result.exit_code == 1
    assert f"Delete timer {TIMER_ID} of app demo?" in result.stderr
    assert fake.seen == []


def test_delete_deletes_when_confirmed_at_the_prompt(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/deleteTimer", ok())

    result = xtimer(fake, "delete", str(TIMER_ID), input="y\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"timer {TIMER_ID} deleted\n"
    assert [(s.method, s.path, s.query) for s in fake.seen] == [
        ("GET", "/xtimer/deleteTimer", {"id": str(TIMER_ID), "app": "demo"})]


def test_delete_with_yes_does_not_ask(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/deleteTimer", ok())

    result = xtimer(fake, "delete", str(TIMER_ID), "--yes")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert len(fake.seen) == 1


# Errors and exit codes


def test_an_api_error_exits_1_and_prints_its_code_and_message_on_stderr(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", error(404, 40400, f"no timer {TIMER_ID} in app demo"))

    result = xtimer(fake, "get", str(TIMER_ID))

    assert result.exit_code == 1
    assert result.stderr == f"error 40400: no timer {TIMER_ID} in app demo\n"
    assert result.stdout == ""


def test_an_api_error_with_json_prints_the_whole_envelope_on_stdout(fake: FakeXtimer) -> None:
    envelope = {"code": 40002, "message": "cron '* *': expected 5, 6 or 7 fields", "data": {"field": "cron"}}
    fake.answer("/xtimer/previewCron", (400, envelope))

    result = xtimer(fake, "preview", "* *", "--json", app=None)

    assert result.exit_code == 1
    assert json.loads(result.stdout) == envelope
    assert "error 40002" in result.stderr


def test_a_reply_that_is_not_an_envelope_exits_1_and_says_what_came_back(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/enableTimer", (502, "<html><body>Bad Gateway</body></html>"))

    result = xtimer(fake, "enable", "1")

    assert result.exit_code == 1
    assert "HTTP 502" in result.stderr and "Bad Gateway" in result.stderr


def test_an_unreachable_service_exits_3_naming_the_url_and_suggesting_make_run() -> None:
    with socket.socket() as sock:       # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    result = CliRunner().invoke(cli, ["list", "--url", url, "--app", "demo"])

    assert result.exit_code == 3
    assert f"cannot reach xtimer at {url}: connection refused" in result.stderr
    assert "make run" in result.stderr


def test_a_service_that_does_not_answer_in_time_is_unreachable(fake: FakeXtimer) -> None:
    fake.answer("/health", lambda seen: (time.sleep(1.0), ok())[1])
    client = XtimerClient(fake.url, timeout=(1.0, 0.2))

    with pytest.raises(ServiceUnreachable, match="no answer within 0.2 s"):
        client.call("GET", "/health")


def test_the_url_and_the_app_come_from_the_environment(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/enableTimer", ok())

    result = CliRunner().invoke(cli, ["enable", "42"], env={"XTIMER_URL": fake.url, "XTIMER_APP": "billing"})

    assert result.exit_code == 0, result.output
    assert fake.seen[0].query == {"id": "42", "app": "billing"}


def test_url_app_and_json_may_come_before_the_command_and_are_overridden_after_it(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/getTimer", ok(TIMER))

    before = CliRunner().invoke(cli, ["--url", fake.url, "--app", "demo", "--json", "get", "42"])
    after = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:1", "--app", "other", "get", "42",
                                     "--url", fake.url, "--app", "demo"])

    assert (before.exit_code, after.exit_code) == (0, 0), before.output + after.output
    assert json.loads(before.stdout) == TIMER
    assert after.stdout.startswith("id ")
    assert [s.query for s in fake.seen] == [{"id": "42", "app": "demo"}] * 2


def test_a_command_about_timers_without_an_app_is_a_usage_error(fake: FakeXtimer) -> None:
    result = xtimer(fake, "get", "42", app=None)

    assert result.exit_code == 2
    assert "--app" in result.stderr
    assert fake.seen == []


@pytest.mark.parametrize("args", [
    ("get", "0"),
    ("get", "not-a-number"),
    ("create", "--name", "n", "--cron", "@daily", "--url-to", "http://x/", "--header", "no colon"),
    ("create", "--name", "n", "--cron", "@daily", "--url-to", "http://x/", "--method", "TRACE"),
    ("create", "--name", "n", "--cron", "@daily", "--url-to", "http://x/", "--body", "@/no/such/file"),
])
def test_bad_arguments_are_usage_errors_and_call_nothing(fake: FakeXtimer, args: tuple[str, ...]) -> None:
    result = xtimer(fake, *args)

    assert result.exit_code == 2
    assert fake.seen == []


def test_a_table_pads_each_column_to_its_widest_cell_and_flattens_line_breaks() -> None:
    assert table(("A", "LONGER"), [("wide cell", None), (1, "two\nlines")]).splitlines() == [
        "A          LONGER",
        "wide cell",
        "1          two lines",
    ]


def test_the_client_offers_exactly_the_methods_the_service_accepts() -> None:
    # The client is a separate distribution and imports no service code, so it keeps its own list.
    from chalicelib.timers.status import METHODS as service_methods
    from xtimer_cli.main import METHODS as client_methods

    assert client_methods == service_methods


def test_the_clis_task_statuses_and_overlap_policies_are_the_services() -> None:
    from chalicelib.fires.tasks import STATUS_NAMES
    from chalicelib.timers.options import OVERLAP_POLICIES
    from xtimer_cli import main
    assert main.TASK_STATUS == STATUS_NAMES
    assert main.OVERLAP_POLICIES == OVERLAP_POLICIES


def test_create_takes_the_delivery_policy(fake: FakeXtimer) -> None:
    fake.answer("/xtimer/creatTimer", ok({"timerId": TIMER_ID}))

    result = xtimer(fake, "create", "--name", "hello", "--cron", "@hourly", "--url-to", "http://example.com/",
                    "--retry-max-attempts", "3", "--retry-max-age", "600", "--retry-min-backoff", "5",
                    "--retry-max-backoff", "60", "--retry-on", "5xx, 429,timeout", "--timeout", "4",
                    "--failure-url", "http://example.com/failed", "--pause-after-failures", "3")

    assert result.exit_code == 0, result.output
    body = fake.seen[0].body
    assert body["retryPolicy"] == {"maxAttempts": 3, "maxAgeSeconds": 600, "minBackoffSeconds": 5,
                                   "maxBackoffSeconds": 60, "retryOn": ["5xx", "429", "timeout"]}
    assert body["failureCallback"] == {"url": "http://example.com/failed"}
    assert (body["timeoutSeconds"], body["pauseAfterFailures"]) == (4, 3)


def test_update_of_the_retry_policy_keeps_what_was_not_given(fake: FakeXtimer) -> None:
    current = {**TIMER, "retryPolicy": {"maxAttempts": 3, "retryOn": ["5xx"]},
               "failureCallback": {"url": "http://example.com/failed", "method": "POST", "header": {}, "body": None}}
    fake.answer("/xtimer/getTimer", ok(current))
    fake.answer("/xtimer/updateTimer", ok(current))

    result = xtimer(fake, "update", str(TIMER_ID), "--retry-on", "none", "--failure-method", "put")

    assert result.exit_code == 0, result.output
    assert fake.seen[1].body == {
        "id": TIMER_ID, "app": "demo", "version": 2, "retryPolicy": {"maxAttempts": 3, "retryOn": []},
        "failureCallback": {"url": "http://example.com/failed", "method": "PUT", "header": {}, "body": None},
    }


def test_get_shows_a_paused_timer_its_policy_and_last_fire(fake: FakeXtimer) -> None:
    paused = {**TIMER, "status": 1, "statusReason": "paused by the service after 3 consecutive failed fires",
              "pausedAt": "2026-11-25T09:00:00Z", "retryPolicy": {"maxAttempts": 1}, "timeoutSeconds": 4,
              "pauseAfterFailures": 3, "consecutiveFailures": 3,
              "lastFire": {"fireTime": "2026-11-25T09:00:00Z", "status": 3, "statusName": "failed",
                           "httpStatus": 500, "attempts": 1, "error": "HTTP 500", "finishedAt": None}}
    fake.answer("/xtimer/getTimer", ok(paused))

    result = xtimer(fake, "get", str(TIMER_ID))

    assert result.exit_code == 0, result.output
    assert "paused by the service after 3 consecutive failed fires (since 2026-11-25T09:00:00Z)" in result.stdout
    assert "maxAttempts 1" in result.stdout and "2026-11-25T09:00:00Z: failed, HTTP 500" in result.stdout

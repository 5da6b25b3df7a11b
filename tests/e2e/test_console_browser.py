"""The web console in headless Chromium against the real local stack, as a person would use it.

The stack runs as `make run` runs it (`python -m xtimer_local`, a subprocess on a free port), the
callbacks go to a receiver on 127.0.0.1, and Debian's Chromium is driven by Playwright. Where no
Chromium can be had, these tests skip and say why (tests/support/browser.py installs it when root on Debian).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.support.browser import CHROMIUM_ARGS, LocalService, find_or_install_chromium
from tests.support.receiver import Receiver, Request, Response

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed: pip install -r requirements-dev.txt")
expect = sync_api.expect
Page = sync_api.Page

FIRE_TIMEOUT_MS = 30_000  # a */2 timer fires within seconds of being enabled; this is the outer bound
UI_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def chromium(request: pytest.FixtureRequest) -> Path:
    found = find_or_install_chromium()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # said on the terminal, not into a test's captured output
            reporter.write_line(f"\nbrowser tests: {found.how}")
    if found.path is None:
        pytest.skip(found.how)
    return found.path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    with LocalService(tmp_path_factory.mktemp("stack") / "xtimer_local.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, stack: LocalService) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # API refusals (400, 401, 404 ...) are part of the tests; Chromium logs each failed load, so
    # only errors of the page's own script count.
    tab.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
           if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    yield tab
    context.close()
    assert not problems, "\n".join(problems)


class FailTheSecondFire:
    """Answers 200, but 503 to the second scheduled fire (the stack makes one attempt per fire)."""

    def __init__(self) -> None:
        self.fires: list[str] = []

    def __call__(self, request: Request) -> Response:
        key = request.header("X-Xtimer-Idempotency-Key") or ""
        if key not in self.fires:
            self.fires.append(key)
        return Response(503, body="busy") if self.fires.index(key) == 1 else Response(200, body="ok")


def open_app(page: Page, stack: LocalService, app: str) -> None:
    page.goto(stack.url + "/console")
    page.get_by_label("App", exact=True).fill(app)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Timers of {app}")


def save_screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Into the test's tmp folder, and also into $XTIMER_SCREENSHOTS if set (docs/console-timer.png
    was taken this way)."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("XTIMER_SCREENSHOTS"):
        target = Path(os.environ["XTIMER_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


def test_a_timer_is_created_enabled_watched_firing_disabled_and_deleted(
        page: Page, stack: LocalService, receiver: Receiver, tmp_path: Path) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    receiver.respond("/hook", FailTheSecondFire())
    open_app(page, stack, app)
    expect(page.get_by_text("No timers yet.")).to_be_visible()

    # The form checks the cron as it is typed, and shows the next fire times before saving.
    page.get_by_role("link", name="+ New timer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"New timer in {app}")
    page.get_by_label("Name").fill("every-two-seconds")
    cron = page.get_by_label("Schedule", exact=True)
    cron.fill("*/2 * * *")
    expect(page.locator("#f-cron-error")).not_to_be_empty()
    expect(cron).to_have_attribute("aria-invalid", "true")
    cron.fill("*/2 * * * * *")
    expect(page.locator("#cron-preview")).to_contain_text("Every 2 seconds")
    expect(page.locator("#cron-preview li")).to_have_count(5)
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Method").select_option("POST")
    page.get_by_label("URL").fill(receiver.url("/hook"))
    page.get_by_label("Headers").fill("X-From: console")
    page.get_by_role("button", name="Create timer").click()

    # The timer's page: disabled, with its next 10 fire times and an empty history.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("every-two-seconds")
    expect(heading).to_contain_text("disabled")
    expect(page.locator("#next-fires li")).to_have_count(10)
    expect(page.get_by_text("No executions yet.")).to_be_visible()

    # Enabled, it fires: the history (refreshing itself) shows each fire in the table and as a mark
    # of its result's colour in the timeline; the second fire's callback fails.
    page.get_by_role("button", name="Enable every-two-seconds").click()
    expect(heading).to_contain_text("enabled")
    history = page.locator("#history-table")
    failed = history.locator("tr[data-status='failed']")
    succeeded = history.locator("tr[data-status='succeeded']")
    expect(failed).to_have_count(1, timeout=FIRE_TIMEOUT_MS)
    expect(succeeded.nth(1)).to_be_visible(timeout=FIRE_TIMEOUT_MS)
    expect(failed.locator("td").nth(3)).to_have_text("503")
    expect(succeeded.first.locator("td").nth(3)).to_have_text("200")
    timeline = page.locator("#timeline > svg")
    expect(timeline.locator(".mark-failed")).to_have_count(1)
    expect(timeline.locator(".mark-succeeded").nth(1)).to_be_attached()
    calls = receiver.received("/hook")
    assert calls[0].header("X-From") == "console" and calls[0].method == "POST"

    page.get_by_role("button", name="Run now every-two-seconds").click()
    expect(page.get_by_role("status")).to_contain_text("runs now")
    expect(history.locator("tr", has_text="run now").first).to_be_visible(timeout=FIRE_TIMEOUT_MS)
    expect(page.locator("#history-recent")).to_contain_text("1 failed")
    page.locator("#toast").evaluate("toast => { toast.textContent = ''; }")  # not in the picture
    save_screenshot(page, tmp_path, "console-timer.png")

    page.get_by_role("button", name="Disable every-two-seconds").click()
    expect(heading).to_contain_text("disabled")

    page.get_by_role("button", name="Delete every-two-seconds").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("every-two-seconds")
    dialog.get_by_role("button", name="Delete timer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Timers of {app}")
    expect(page.get_by_text("No timers yet.")).to_be_visible()
    listed = requests.get(f"{stack.url}/xtimer/getAppTimers", params={"app": app}, timeout=5).json()
    assert listed["data"]["timers"] == []


def test_api_errors_appear_next_to_the_field_they_concern(page: Page, stack: LocalService) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
        "app": app, "name": "taken", "cron": "@daily",
        "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "GET"}}).raise_for_status()
    open_app(page, stack, app)
    expect(page.locator("#timers tbody tr")).to_have_count(1)
    expect(page.locator("#timers tbody tr").first).to_contain_text("At 00:00")  # previewCron's description
    page.get_by_role("link", name="+ New timer").click()
    page.get_by_label("Name").fill("taken")
    page.get_by_label("Schedule", exact=True).fill("@hourly")
    page.get_by_label("URL").fill("ftp://example.com/hook")
    page.get_by_role("button", name="Create timer").click()
    url_error = page.locator("#f-url-error")
    expect(url_error).to_contain_text("http://")  # data.field = notifyHTTPParam.url
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("URL")).to_be_focused()
    assert "f-url-error" in (page.get_by_label("URL").get_attribute("aria-describedby") or "")

    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Create timer").click()
    expect(page.locator("#f-name-error")).to_contain_text("already has a timer named")  # data.field = name
    expect(page.get_by_label("URL")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-errors")).to_be_visible()


def test_with_authentication_on_the_console_asks_for_a_key_and_sends_it_on_every_call(
        browser: Any, tmp_path: Path) -> None:
    with LocalService(tmp_path / "xtimer_local.log", env={"XTIMER_AUTH": "required"}) as locked:
        key = locked.development_key()  # for the app "demo"
        context = browser.new_context(locale="en-GB")
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            tab = context.new_page()
            sent: list[str | None] = []
            tab.on("request", lambda request: sent.append(request.headers.get("x-xtimer-key"))
                   if "/xtimer/" in request.url else None)
            tab.goto(f"{locked.url}/console#/apps/demo")
            notice = tab.locator("#notice")
            expect(notice).to_contain_text("This service needs an API key")
            expect(tab.get_by_text("The timers show once the service accepts the key.")).to_be_visible()

            tab.get_by_label("API key").fill(key)
            tab.get_by_role("button", name="Open").click()
            expect(tab.get_by_text("No timers yet.")).to_be_visible()
            expect(notice).to_be_hidden()
            assert tab.evaluate("sessionStorage.getItem('xtimer.key')") == key

            tab.get_by_label("App", exact=True).fill("someone-else")
            tab.get_by_role("button", name="Open").click()
            expect(notice).to_contain_text("The API key was refused")
            assert sent[0] is None and sent[-1] == key and all(header == key for header in sent[1:])
        finally:
            context.close()


def test_on_a_phone_the_timer_list_fits_the_screen(browser: Any, stack: LocalService) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    for number in range(3):
        requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
            "app": app, "name": f"phone-{number}", "cron": "*/5 * * * *",
            "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "GET"}}).raise_for_status()
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"{stack.url}/console#/apps/{app}")
        expect(phone.locator("#timers tbody tr")).to_have_count(3)
        expect(phone.locator("#timers thead")).not_to_be_in_viewport()
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than the phone's screen"
        # Keyboard: Tab reaches the actions, and the focused element shows an outline.
        phone.get_by_role("button", name="Enable phone-0").focus()
        outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
    finally:
        context.close()


def test_the_edit_form_saves_and_reports_a_change_made_meanwhile(page: Page, stack: LocalService) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    created = requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
        "app": app, "name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin",
        "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "GET"}}).json()
    timer_id = created["data"]["timerId"]
    page.goto(f"{stack.url}/console#/apps/{app}/timers/{timer_id}/edit")
    cron = page.get_by_label("Schedule", exact=True)
    expect(cron).to_have_value("0 2 * * *")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    cron.fill("30 3 * * *")
    expect(page.locator("#cron-preview")).to_contain_text("At 03:30")

    # Someone else renames it while the form is open: saving is refused, and says so.
    requests.post(f"{stack.url}/xtimer/updateTimer", timeout=5,
                  json={"id": timer_id, "app": app, "name": "nightly-2"}).raise_for_status()
    page.get_by_role("button", name="Save changes").click()
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text("changed since you read it")
    summary.get_by_role("link", name="Load the current version").click()
    expect(page.get_by_label("Name")).to_have_value("nightly-2")

    page.get_by_label("Schedule", exact=True).fill("30 3 * * *")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("nightly-2")
    expect(page.locator("dl.definition")).to_contain_text("30 3 * * *")
    timer = requests.get(f"{stack.url}/xtimer/getTimer", params={"id": timer_id, "app": app}, timeout=5).json()
    assert timer["data"]["cron"] == "30 3 * * *" and timer["data"]["timezone"] == "Europe/Berlin"


def test_the_forms_show_and_change_the_overlap_policy(page: Page, stack: LocalService) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    page.goto(f"{stack.url}/console#/apps/{app}/new")
    expect(page.get_by_label("Overlapping fires")).to_have_value("")  # the create form: default (allow)
    created = requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
        "app": app, "name": "sync", "cron": "rate(1 minute)", "overlapPolicy": "skip",
        "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "GET"}}).json()
    timer_id = created["data"]["timerId"]
    page.goto(f"{stack.url}/console#/apps/{app}/timers/{timer_id}")
    expect(page.locator("dl.definition")).to_contain_text("skipped while the previous fire is running")
    page.goto(f"{stack.url}/console#/apps/{app}/timers/{timer_id}/edit")
    policy = page.get_by_label("Overlapping fires")
    expect(policy).to_have_value("skip")
    policy.select_option("buffer_one")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("dl.definition")).to_contain_text("one held until the previous fire is done")
    timer = requests.get(f"{stack.url}/xtimer/getTimer", params={"id": timer_id, "app": app}, timeout=5).json()
    assert timer["data"]["overlapPolicy"] == "buffer_one"


def test_the_last_hour_view_shows_an_apps_fires_failures_and_lateness(page: Page, stack: LocalService,
                                                                       receiver: Receiver) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    receiver.respond("/bad", Response(500))
    for name, path in (("good", "/good"), ("bad", "/bad")):
        created = requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
            "app": app, "name": name, "cron": "*/2 * * * * *", "status": 2, "maxFires": 2,
            "notifyHTTPParam": {"url": receiver.url(path), "method": "POST"}}).json()
        assert created["code"] == 0, created
    deadline = datetime.now(timezone.utc).timestamp() + FIRE_TIMEOUT_MS / 1000
    while (len(receiver.received("/good")) < 2 or len(receiver.received("/bad")) < 2) and \
            datetime.now(timezone.utc).timestamp() < deadline:
        page.wait_for_timeout(200)
    page.goto(f"{stack.url}/console#/apps/{app}")
    page.get_by_role("link", name="Last hour").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Last hour of {app}")
    expect(page.locator("#activity-totals")).to_contain_text("4 (2 succeeded, 2 failed", timeout=FIRE_TIMEOUT_MS)
    expect(page.locator("#activity-totals")).to_contain_text("p50")
    rows = page.locator("#activity-timers tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("bad")  # most failures first
    expect(page.locator("#activity-minutes svg")).to_have_attribute("aria-labelledby", "minutes-title minutes-desc")
    expect(page.locator("#minutes-desc")).to_contain_text("4 fires in 60 minutes, 2 of them failed")


def _task(timer_id: int, fire_ms: int, status: int, name: str, **fields: Any) -> dict[str, Any]:
    def at(ms: int | None) -> str | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
    started, finished = fields.pop("started", None), fields.pop("finished", None)
    return {"timerId": timer_id, "fireTime": at(fire_ms), "fireMs": fire_ms, "status": status, "statusName": name,
            "attempts": 1, "httpStatus": None, "durationMs": None, "error": None, "responseBody": None,
            "manual": False, "startedAt": at(started), "finishedAt": at(finished), **fields}


def test_the_history_pages_through_getTasks_and_marks_every_result(page: Page, stack: LocalService) -> None:
    """getTasks is played by a stand-in route here, to have every result and two pages at once."""
    app = f"console-{uuid.uuid4().hex[:8]}"
    timer_id = requests.post(f"{stack.url}/xtimer/creatTimer", timeout=5, json={
        "app": app, "name": "paged", "cron": "* * * * *",
        "notifyHTTPParam": {"url": "http://127.0.0.1:9/hook", "method": "GET"}}).json()["data"]["timerId"]
    base = 1_795_593_600_000
    first_page = [
        _task(timer_id, base + 240_000, 1, "running", started=base + 239_100),
        _task(timer_id, base + 180_000, 0, "not run", started=base + 179_000, finished=base + 183_000,
              durationMs=3000, httpStatus=None, error="timed out"),
        _task(timer_id, base + 120_000, 4, "missed", finished=base + 400_000, attempts=0, error="missed"),
        _task(timer_id, base + 60_000, 3, "failed", started=base + 59_000, finished=base + 60_040,
              durationMs=30, httpStatus=500, error="HTTP 500"),
    ]
    second_page = [_task(timer_id, base, 2, "succeeded", started=base - 900, finished=base + 12, durationMs=10,
                         httpStatus=200)]
    tokens: list[str | None] = []

    def tasks(route: Any) -> None:
        token = parse_qs(urlparse(route.request.url).query).get("pageToken", [None])[0]
        tokens.append(token)
        data: dict[str, Any] = {"tasks": second_page} if token == "page-2" else {"tasks": first_page,
                                                                                 "nextPageToken": "page-2"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"code": 0, "message": "ok",
                                                                                     "data": data}))

    page.route("**/xtimer/getTasks*", tasks)
    page.goto(f"{stack.url}/console#/apps/{app}/timers/{timer_id}")
    rows = page.locator("#history-table tbody tr")
    expect(rows).to_have_count(4)
    marks = page.locator("#timeline > svg .mark")
    for name in ("running", "not-run", "missed", "failed"):
        expect(marks.and_(page.locator(f".mark-{name}"))).to_have_count(1)
    expect(rows.nth(3)).to_contain_text("HTTP 500")
    expect(rows.nth(3)).to_contain_text("10 ms late")  # called at finishedAt - durationMs
    expect(rows.nth(0)).to_contain_text("—")  # running: no call yet

    page.get_by_label("Refresh every 3 s").uncheck()
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(1)
    expect(marks).to_have_count(1)
    expect(rows.first).to_contain_text("succeeded")
    expect(page.get_by_role("button", name="Older →")).to_have_count(0)
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(4)
    assert "page-2" in tokens and tokens[0] is None


def test_the_form_sets_a_delivery_policy_and_the_timer_page_shows_the_pause(
        page: Page, stack: LocalService, receiver: Receiver) -> None:
    app = f"console-{uuid.uuid4().hex[:8]}"
    receiver.respond("/hook", Response(500))
    open_app(page, stack, app)
    page.get_by_role("link", name="+ New timer").click()
    page.get_by_label("Name").fill("failing")
    page.get_by_label("Schedule", exact=True).fill("*/2 * * * * *")
    page.get_by_label("URL", exact=True).fill(receiver.url("/hook"))
    page.get_by_label("Max attempts").fill("21")
    page.get_by_role("button", name="Create timer").click()
    expect(page.locator("#f-max-attempts-error")).to_contain_text("from 1 to 20")  # data.field = retryPolicy.maxAttempts
    expect(page.get_by_label("Max attempts")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Max attempts").fill("1")
    page.get_by_label("Retry on").fill("5xx, timeout")
    page.get_by_label("Failure callback", exact=True).fill(receiver.url("/failed"))
    page.get_by_label("Pause after failures").fill("2")
    page.get_by_label("Enable it now").check()
    page.get_by_role("button", name="Create timer").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("failing")
    definition = page.locator("dl.definition")
    expect(definition).to_contain_text("at most 1 attempt; retries 5xx, timeout")
    expect(definition).to_contain_text("after 2 failed fires in a row")

    receiver.wait_for(2, timeout=FIRE_TIMEOUT_MS / 1000, path="/failed")  # two fires failed for good
    for _ in range(20):  # the service pauses it right after the second; the page is read afresh
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_contain_text("failing")
        if page.locator("#status-reason").count():
            break
        page.wait_for_timeout(500)
    expect(page.locator("#status-reason")).to_contain_text("2 consecutive failed fires")
    expect(page.get_by_role("heading", level=1)).to_contain_text("disabled")
    expect(definition).to_contain_text("Last fire")  # failed, or a fire already in flight at the pause

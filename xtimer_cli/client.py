"""A thin client of the xtimer HTTP API: one method per call, each returning the reply's `data`.

    client = XtimerClient("http://127.0.0.1:8000")
    timer_id = client.create_timer("demo", "hello", "*/3 * * * * *", {"url": ..., "method": "GET"})["timerId"]
    client.enable_timer("demo", timer_id)

A reply whose `code` is not 0 raises ApiError; a service that cannot be reached raises
ServiceUnreachable. Nothing else is retried or hidden.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = (3.05, 30.0)      # seconds to connect, seconds to wait for the answer
USER_AGENT = "xtimer-cli/0.1"


class ApiError(Exception):
    """The service answered with an error envelope (or with something that is not an envelope)."""

    def __init__(self, code: int | None, message: str, http_status: int, envelope: dict[str, Any] | None = None):
        super().__init__(f"error {code}: {message}" if code is not None else f"error: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.envelope = envelope if envelope is not None else {"code": code, "message": message}


class ServiceUnreachable(Exception):
    """No answer from the service: connection refused, DNS failure, or a timeout."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot reach xtimer at {url}: {reason}")
        self.url = url
        self.reason = reason


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class XtimerClient:
    def __init__(self, base_url: str = DEFAULT_URL, session: requests.Session | None = None,
                 timeout: tuple[float, float] = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.timeout = timeout

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> Any:
        """One request; returns the envelope's `data` (None when there is none)."""
        try:
            reply = self.session.request(method, self.base_url + path, params=_without_none(params or {}),
                                         json=body, timeout=self.timeout)
        except requests.ConnectTimeout:
            raise ServiceUnreachable(self.base_url, f"could not connect within {self.timeout[0]:g} s") from None
        except requests.Timeout:
            raise ServiceUnreachable(self.base_url, f"no answer within {self.timeout[1]:g} s") from None
        except requests.ConnectionError as exc:
            raise ServiceUnreachable(self.base_url, _connection_reason(exc)) from None
        try:
            envelope = reply.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
            text = " ".join(reply.text.split())[:200] or "(empty body)"
            raise ApiError(None, f"HTTP {reply.status_code} from {reply.url} is not an xtimer reply: {text}",
                           reply.status_code)
        if envelope["code"] != 0:
            raise ApiError(envelope["code"], str(envelope.get("message", "")), reply.status_code, envelope)
        return envelope.get("data")

    # The spec's calls

    def create_timer(self, app: str, name: str, cron: str, notify: dict[str, Any], *,
                     timezone: str | None = None, enabled: bool = False,
                     options: dict[str, Any] | None = None) -> dict[str, Any]:
        """`options`: startAt, endAt, maxFires, jitterSeconds, deleteAfterCompletion, the policies (None ones left out)."""
        return self.call("POST", "/xtimer/creatTimer", body=_without_none({
            "app": app, "name": name, "cron": cron, "timezone": timezone,
            "status": 2 if enabled else 1, "notifyHTTPParam": notify, **(options or {}),
        }))

    def enable_timer(self, app: str, timer_id: int) -> None:
        return self.call("GET", "/xtimer/enableTimer", {"id": timer_id, "app": app})

    # Managing timers

    def disable_timer(self, app: str, timer_id: int) -> None:
        return self.call("GET", "/xtimer/unableTimer", {"id": timer_id, "app": app})

    def get_timer(self, app: str, timer_id: int) -> dict[str, Any]:
        return self.call("GET", "/xtimer/getTimer", {"id": timer_id, "app": app})

    def list_timers(self, app: str, *, name: str | None = None, page_size: int | None = None,
                    page_token: str | None = None) -> dict[str, Any]:
        return self.call("GET", "/xtimer/getAppTimers",
                         {"app": app, "name": name, "pageSize": page_size, "pageToken": page_token})

    def update_timer(self, app: str, timer_id: int, changes: dict[str, Any], *,
                     version: int | None = None, clear: Iterable[str] = ()) -> dict[str, Any]:
        """`clear`: fields sent as null, which the service takes as "remove this option"."""
        return self.call("POST", "/xtimer/updateTimer",
                         body={**_without_none({"id": timer_id, "app": app, "version": version, **changes}),
                               **{name: None for name in clear}})

    def delete_timer(self, app: str, timer_id: int) -> None:
        return self.call("GET", "/xtimer/deleteTimer", {"id": timer_id, "app": app})

    def get_tasks(self, app: str, timer_id: int, *, status: int | None = None, page_size: int | None = None,
                  page_token: str | None = None) -> dict[str, Any]:
        return self.call("GET", "/xtimer/getTasks", {"id": timer_id, "app": app, "status": status,
                                                     "pageSize": page_size, "pageToken": page_token})

    def trigger_timer(self, app: str, timer_id: int) -> dict[str, Any]:
        return self.call("GET", "/xtimer/triggerTimer", {"id": timer_id, "app": app})

    def preview_cron(self, cron: str, *, timezone: str | None = None, count: int | None = None) -> dict[str, Any]:
        return self.call("POST", "/xtimer/previewCron",
                         body=_without_none({"cron": cron, "timezone": timezone, "count": count}))


def all_pages(fetch: Callable[[str | None], dict[str, Any]], token: str | None = None) -> Iterator[dict[str, Any]]:
    """Every page of a paginated call from `token` on, following `nextPageToken` until a page has none."""
    while True:
        page = fetch(token)
        yield page
        token = page.get("nextPageToken")
        if not token:
            return


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for marker, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host")):
        if marker in text:
            return reason
    return text

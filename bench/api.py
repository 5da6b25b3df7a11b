"""The xtimer API as a user calls it: creatTimer and enableTimer over HTTP."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter

from bench.analysis import Timer


class ApiError(RuntimeError):
    pass


class XtimerClient:
    def __init__(self, base_url: str, pool: int = 16, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._http.trust_env = False
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self._http.mount("http://", adapter)

    def _check(self, reply: requests.Response) -> dict[str, Any]:
        try:
            body = reply.json()
        except ValueError:
            raise ApiError(f"{reply.request.method} {reply.url}: HTTP {reply.status_code}, not JSON: "
                           f"{reply.text[:300]}") from None
        if reply.status_code != 200 or body.get("code") != 0:
            raise ApiError(f"{reply.request.method} {reply.url}: HTTP {reply.status_code} {body}")
        return body

    def create_timer(self, app: str, name: str, cron: str, url: str, *, method: str = "POST",
                     headers: dict[str, str] | None = None, body: str | None = None) -> int:
        notify: dict[str, Any] = {"url": url, "method": method}
        if headers:
            notify["header"] = headers
        if body is not None:
            notify["body"] = body
        reply = self._http.post(self.base_url + "/xtimer/creatTimer", timeout=self.timeout,
                                data=json.dumps({"app": app, "name": name, "cron": cron, "notifyHTTPParam": notify}),
                                headers={"Content-Type": "application/json"})
        return int(self._check(reply)["data"]["timerId"])

    def enable_timer(self, timer_id: int, app: str) -> None:
        self._check(self._http.get(self.base_url + "/xtimer/enableTimer", timeout=self.timeout,
                                   params={"id": str(timer_id), "app": app}))

    def close(self) -> None:
        self._http.close()


class TimerMaker:
    """Creates and enables the benchmarks' timers: a POST callback per timer with its name in the
    body, retrying the service's 500s.

    moto's TransactWriteItems used to fail under concurrent writes (before the local stack's
    moto_transactions) and the service answers such a failure 500 "may be retried". Enabling
    again is harmless; a creation retried after a 500 may leave a disabled orphan, which never
    fires. `retries` counts them, `bodies` maps each timer's name to its callback body.
    """

    def __init__(self, client: XtimerClient, app: str, callback_url: Callable[[str], str],
                 bodies: dict[str, str] | None = None) -> None:
        self._client = client
        self._app = app
        self._callback_url = callback_url
        self._lock = threading.Lock()
        self.bodies = bodies if bodies is not None else {}
        self.retries = {"creatTimer": 0, "enableTimer": 0}

    def _retried(self, what: str, call: Callable[[], Any]) -> Any:
        for attempt in range(6):
            try:
                return call()
            except ApiError as error:
                if "HTTP 500" not in str(error) or attempt == 5:
                    raise
                with self._lock:
                    self.retries[what] += 1
                time.sleep(0.5 * (attempt + 1))

    def make(self, name: str, cron: str) -> Timer:
        body = self.bodies[name] = f'{{"timer":"{name}"}}'
        timer_id = self._retried("creatTimer", lambda: self._client.create_timer(
            self._app, name, cron, self._callback_url(name),
            headers={"Content-Type": "application/json"}, body=body))
        self._retried("enableTimer", lambda: self._client.enable_timer(timer_id, self._app))
        return Timer(name=name, id=timer_id, cron=cron)

    def probe(self, pool: ThreadPoolExecutor, numbers: range, cron: str) -> float:
        """Creates and enables timers probe<number> on `pool`; returns how many it made a second."""
        began = time.time()
        list(pool.map(lambda i: self.make(f"probe{i:03d}", cron), numbers))
        return len(numbers) / (time.time() - began)


def outside_the_run() -> str:
    """A cron for probe timers: once an hour, half an hour from now, so never during a run."""
    return f"0 {(datetime.now(timezone.utc).minute + 30) % 60} * * * *"

"""The xtimer API as a user calls it: creatTimer and enableTimer over HTTP."""
from __future__ import annotations

import json
from typing import Any

import requests
from requests.adapters import HTTPAdapter


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

"""The web console's files as the app serves them (no browser; see test_console_browser.py for that)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib.api import console


@pytest.fixture
def http() -> Iterator[Client]:
    with Client(app, stage_name="dev") as test_client:
        yield test_client


def test_the_console_page_is_html_that_loads_only_its_own_files(http: Client) -> None:
    response = http.http.get("/console")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.body.decode()
    assert '<html lang="en">' in page and 'name="viewport"' in page
    for name in console.ASSETS:
        assert f'"console/{name}"' in page, f"the page does not load {name}"
    assert "http://" not in page and "https://" not in page, "the page must not load anything from elsewhere"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name, content_type", [
    ("console.css", "text/css; charset=utf-8"),
    ("console.js", "text/javascript; charset=utf-8"),
    ("icon.svg", "image/svg+xml; charset=utf-8"),
    ("index.html", "text/html; charset=utf-8"),
])
def test_each_asset_is_served_with_its_content_type(http: Client, name: str, content_type: str) -> None:
    response = http.http.get(f"/console/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert len(response.body) > 100


def test_the_script_calls_no_other_host_and_sends_the_key_header(http: Client) -> None:
    script = http.http.get("/console/console.js").body.decode()
    assert "X-Xtimer-Key" in script and "sessionStorage" in script
    hosts = set(re.findall(r"https?://([A-Za-z0-9.-]+)", script))
    assert hosts <= {"www.w3.org", "example.com"}, "only the SVG namespace and a placeholder may name a host"


@pytest.mark.parametrize("path", [
    "/console/nothing.js",
    "/console/__init__.py",
    "/console/..%2Fapp.py",
    "/console/..%2F..%2Fapp.py",
    "/console/%2E%2E%2Fapp.py",
    "/console/..",
    "/console/.",
    "/console/console.css%00.py",
])
def test_an_unknown_asset_is_a_404_envelope_and_never_another_file(http: Client, path: str) -> None:
    response = http.http.get(path)
    assert response.status_code == 404
    body = json.loads(response.body)
    assert body["code"] == 40401 and "the console has no file" in body["message"]
    assert b"Chalice" not in response.body and b"import" not in response.body


def test_only_the_listed_files_can_be_served() -> None:
    for name in ("../app.py", "..\\app.py", "/etc/passwd", "__init__.py", "console.js/..", ""):
        assert console.asset(name).status_code == 404


def test_the_page_with_a_trailing_slash_redirects_to_where_its_relative_links_work(http: Client) -> None:
    response = http.http.get("/console/")
    assert response.status_code == 301 and response.headers["Location"] == "../console"


def test_the_scripts_task_statuses_are_the_services() -> None:
    from chalicelib.fires.tasks import STATUS_NAMES
    script = (Path(console.__file__).parent / "console.js").read_text()
    shown = re.search(r"const STATUS = \{([^}]*)\};", script)
    assert shown, "console.js has no STATUS map"
    assert {int(k): v for k, v in re.findall(r"(\d+): '([^']*)'", shown.group(1))} == STATUS_NAMES

"""The web console: a page, a stylesheet and a script, served as they are from this folder.

The files sit inside chalicelib/ so that `chalice package` ships them with the Lambda code. Only
the names in ASSETS are served: a request for anything else (another file, `..`, an encoded
slash) is a 404 envelope, never a look-up on disk.

The page loads nothing from elsewhere: the Content-Security-Policy below allows this origin only.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from chalice import Response

from chalicelib.api import envelope
from chalicelib.errors import ErrorCode, XtimerError

PAGE = "index.html"
ASSETS: dict[str, str] = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml; charset=utf-8",
}
HTML = "text/html; charset=utf-8"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _file(name: str, content_type: str) -> Response:
    return Response(body=_read(name), status_code=200, headers={"Content-Type": content_type, **SECURITY_HEADERS})


def page(path: str = "") -> Response:
    """GET /console: the single page; it finds its views in the URL fragment (#/apps/...).

    `/console/` (which routes here too) is sent to `/console`, where the page's relative links
    (`console/console.js`) resolve; the relative Location keeps a stage prefix such as /api.
    """
    if path.endswith("/"):
        return Response(body="", status_code=301, headers={"Location": "../console", **SECURITY_HEADERS})
    return _file(PAGE, HTML)


def asset(name: str) -> Response:
    """GET /console/{name}: one of ASSETS, or a 404 envelope that lists what there is."""
    if name == PAGE:
        return page()
    content_type = ASSETS.get(name)
    if content_type is None:
        err = XtimerError(ErrorCode.ROUTE_NOT_FOUND,
                          f"the console has no file {name[:80]!r}; it serves {', '.join(sorted(ASSETS))}")
        return Response(body=envelope.error(err), status_code=err.http_status,
                        headers={"Content-Type": "application/json"})
    return _file(name, content_type)

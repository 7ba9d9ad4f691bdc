"""The template environment and the one function that turns a template into an HTML response.

Autoescaping is on for every template (no user text is ever marked safe). Templates get display data only
(``api/web/views.py``), the gettext functions of the request's language, the number and date filters of that
language, ``static()`` for asset URLs and ``url()`` for links that keep the current filters.

htmx requests (``HX-Request``) get the page's ``partial`` template — the part of the page they replace — and
every other request the whole page; ``Vary: HX-Request`` keeps caches from mixing the two. A history
restoration (``HX-History-Restore-Request``, the back button after htmx changed the address) needs the whole
page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.web import auth, i18n

STATIC_PREFIX: Final = "/static"


@cache
def asset_version(path: str) -> str:
    """A short hash of a static file's content, appended to its URL so that a changed file is fetched again."""
    data = resources.files("api.web").joinpath("static", path).read_bytes()
    return hashlib.sha256(data).hexdigest()[:10]


def static(path: str) -> str:
    """The URL of a static asset (``css/pollinate.css``), versioned by its content."""
    return f"{STATIC_PREFIX}/{path}?v={asset_version(path)}"


def query(params: Mapping[str, Any]) -> str:
    """A query string (``?a=1&b=2``) of the non-empty parameters (lists repeat the name), or ``""``."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(name, str(v)) for v in values if v is not None and v != ""]
    return f"?{urlencode(pairs)}" if pairs else ""


# The formats depend on the language of the rendering: marked as needing the render context so that Jinja
# never applies them to constants once, when it compiles a template (``{{ 1234|number }}`` would keep the
# language that template was first compiled in).
@jinja2.pass_context
def _number(_context: jinja2.runtime.Context, value: int | float) -> str:
    return i18n.format_number(value)


@jinja2.pass_context
def _date(_context: jinja2.runtime.Context, value: object) -> str:
    return i18n.format_date(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["number"] = _number
    env.filters["date"] = _date
    env.globals["static"] = static
    env.globals["query"] = query
    env.globals["locales"] = i18n.LOCALES
    env.globals["native_names"] = i18n.NATIVE_NAMES
    return env


ENV: Final = _environment()


def is_partial_request(request: Request) -> bool:
    """An htmx request that replaces part of the page (not a history restoration)."""
    return (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    locale: i18n.PageLocale,
    template: str,
    context: Mapping[str, Any],
    *,
    partial: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The page ``template`` (or, for an htmx request, its ``partial``) rendered in ``locale``."""
    name = partial if partial is not None and is_partial_request(request) else template
    page = {
        **context,
        "request_path": request.url.path,
        "request_query": request.url.query,
        "locale": locale,
        "viewer": getattr(request.state, "viewer", auth.VISITOR),
        # Called by the templates that hold a form, so that only those give a visitor the anti-forgery cookie.
        "csrf_token": lambda: auth.csrf_token(request),
        # Phones fold the filters away; keep them open while a visitor is changing them through htmx.
        "filters_open": is_partial_request(request),
    }
    with i18n.activated(locale):
        html = ENV.get_template(name).render(page)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = locale.code
    auth.give_visitor_cookie(response, request)
    response.headers["Vary"] = "HX-Request, Accept-Language, Cookie"
    return response

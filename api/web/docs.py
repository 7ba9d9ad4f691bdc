"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served entirely by Pollinate: no request leaves the server.

FastAPI's own documentation pages load their scripts from a CDN. Here the assets come from the
``fastapi-offline`` package (the Swagger UI and ReDoc bundles, MIT and Apache-2.0 licensed), mounted under
``/static/api-docs``, and Swagger UI is started by our own script file, so the pages keep a Content Security
Policy without inline scripts. Both libraries inject inline styles and ReDoc runs a search worker from a
``blob:`` URL, which their policy allows; Swagger UI's online validator is switched off.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from api.web import i18n
from api.web.rendering import ENV

ASSETS_URL: Final = "/static/api-docs"
DOCS_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def assets_directory() -> Path:
    """The folder of the Swagger UI and ReDoc bundles shipped by ``fastapi-offline``."""
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def _page(request: Request, template: str) -> HTMLResponse:
    app = request.app
    assert isinstance(app, FastAPI)
    with i18n.activated(i18n.page_locale(i18n.DEFAULT_LOCALE)):
        html = ENV.get_template(template).render(
            title=app.title, openapi_url=app.openapi_url, assets=ASSETS_URL, locale=i18n.active()
        )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_POLICY})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API documentation (Swagger UI)."""
    return _page(request, "docs/swagger.html")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The API reference (ReDoc)."""
    return _page(request, "docs/redoc.html")


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets (the app must be built with ``docs_url=None`` and
    ``redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="api-docs-assets")
    app.include_router(router)

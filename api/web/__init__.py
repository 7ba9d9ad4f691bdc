"""The web pages of Pollinate: server-rendered HTML in English, French and Spanish, beside the JSON API.

One more adapter over the same services (``matcher/``) and access rules as ``/v1``:

```
accounts.py   sign-in and sign-out, password reset, registration, the account page, the person's API keys
secretariat.py  the secretariat's invitations and decisions on registrations
mailing.py    account e-mails in the person's language, sent after the page has answered
throttle.py   failed sign-ins, and the forms that send e-mail or create things, per account and per client
party.py      the Party's pages: post a need (with the writing assistant), its ranked providers, shortlist,
              contact requests, my needs
auth.py       who reads a page (sessions) and the anti-forgery check of every form
routes.py     the pages: parse the query, call a service, map records to display data, render
views.py      records, facets, filters and pagination as display data in the reader's language
party_views.py  the Party's form, needs and ranked providers as display data
rendering.py  the Jinja2 environment (autoescaped, i18n) and render(): whole page or htmx partial
i18n.py       language negotiation (catalogues and formats: matcher/language/catalogues.py)
validation.py    input errors as one message per field, in the reader's language
errors.py     HTML error pages for page requests (the API keeps its JSON errors)
headers.py    Content-Security-Policy and the other security headers
docs.py       /docs and /redoc with locally served assets
templates/    base layout, macros, pages;  static/  our CSS and scripts, vendored htmx
```
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from api.security import every_request
from api.web import accounts, party, routes, secretariat
from api.web.auth import load_viewer
from api.web.docs import install_docs
from api.web.errors import install_html_errors
from api.web.headers import SecurityHeaders
from api.web.rendering import STATIC_PREFIX
from api.web.throttle import Throttle

__all__ = ["install_web"]


def install_web(app: FastAPI) -> None:
    """Add the pages, their static files, the documentation pages, HTML error pages and security headers.

    Call it after the API's error handlers are installed (the HTML error pages wrap them).
    """
    install_docs(app)  # before /static: its assets live under /static/api-docs
    static = Path(str(resources.files("api.web").joinpath("static")))
    app.mount(STATIC_PREFIX, StaticFiles(directory=static), name="static")
    app.state.throttle = Throttle(app.state.settings.api)
    # The Party's pages first: /needs/new must not be read as the need page /needs/{id}.
    for pages in (party.router, routes.router, accounts.router, secretariat.router):
        app.include_router(pages, dependencies=[Depends(every_request), Depends(load_viewer)])
    install_html_errors(app)
    app.add_middleware(SecurityHeaders)

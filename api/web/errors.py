"""Error pages: the web pages answer errors with an HTML page in the reader's language, while ``/v1`` keeps
its JSON error shape.

The JSON handlers of ``api/errors.py`` stay the only mapping from errors to status codes; this module wraps
each of them: a request for a page (``wants_html``) gets the same status with an HTML body, any other request
the JSON handler's answer unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.errors import STATUS_BY_ERROR
from api.web import i18n
from api.web.auth import CsrfRefusedError, SignInRequiredError
from api.web.i18n import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from api.web.rendering import render
from api.web.validation import field_problems
from matcher.errors import (
    InvalidInputError,
    PermissionDeniedError,
    PollinateError,
    RateLimitedError,
    ServiceBusyError,
    UnknownTermError,
)

log = logging.getLogger("pollinate.web")

Handler = Callable[[Request, Any], Awaitable[Response]]

# Paths that belong to the API (always JSON errors), and paths of the pages (always HTML errors). Any other
# path gets an HTML page when the client asks for HTML (a browser), JSON otherwise.
API_PREFIXES: Final = ("/v1/", "/openapi.json", "/health", "/ready", "/static/")
PAGE_PREFIXES: Final = (
    "/offers",
    "/needs",
    "/providers",
    "/language",
    "/docs",
    "/redoc",
    "/sign-",
    "/password/",
    "/register",
    "/account",
    "/secretariat/",
    "/my/",
)

# Heading and explanation of each status (translated where shown).
MESSAGES: Final = {
    403: (
        N_("This form could not be accepted"),
        N_(
            "It did not carry this browser's security token, perhaps because the page was open for a long time or"
            " you signed in or out meanwhile. Go back, reload the page and send the form again."
        ),
    ),
    404: (
        N_("Page not found"),
        N_("There is nothing at this address. The record may have been withdrawn, or the link may be incomplete."),
    ),
    422: (
        N_("We could not read this address"),
        N_("A filter or a page number in the address has a value we do not know. Remove it and try again."),
    ),
    405: (
        N_("This address does not answer this kind of request"),
        N_("Open the page from a link or a form of Pollinate, or go back to the home page."),
    ),
    412: (
        N_("This was changed meanwhile"),
        N_(
            "Someone changed it after you opened the page. Go back, reload the page to see its current state, and"
            " try again."
        ),
    ),
    429: (N_("Too many requests"), N_("You have made many requests in a short time. Please wait a moment.")),
    503: (N_("Not available yet"), N_("Pollinate is starting or busy. Please try again in a moment.")),
}
# A signed-in person on a page that is not for their role (the 403 above is the refused form's).
FORBIDDEN: Final = (
    N_("This page is not for your account"),
    N_("Your account does not give access to it. If you think it should, write to the secretariat."),
)
GENERIC: Final = (N_("Something went wrong"), N_("An unexpected error happened. It has been logged."))
# A form (not an address) that could not be read: a field it does not have, or a value of the wrong kind.
UNREADABLE_FORM: Final = (
    N_("We could not read this form"),
    N_("It carried a field or a value this form does not have. Go back, reload the page and send the form again."),
)


def wants_html(request: Request) -> bool:
    """Whether an error for this request should be an HTML page."""
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    if path == "/" or path.startswith(PAGE_PREFIXES):
        return True
    return "text/html" in request.headers.get("accept", "")


def status_of(exc: Exception) -> int:
    """The status code ``api/errors.py`` gives an exception."""
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError | UnknownTermError):
        return 422
    for error_type, (status, _code) in STATUS_BY_ERROR.items():
        if isinstance(exc, error_type):
            return status
    return 500


def error_page(request: Request, exc: Exception) -> Response:
    """The HTML page of an error, in the reader's language, with the status the API would give."""
    status = status_of(exc)
    if isinstance(exc, PermissionDeniedError):
        title, message = FORBIDDEN
    elif status == 422 and request.method == "POST":
        title, message = UNREADABLE_FORM
    else:
        title, message = MESSAGES.get(status, GENERIC)
    locale = i18n.negotiate(request)
    problems = (
        field_problems(exc, locale.code)
        if isinstance(exc, InvalidInputError | UnknownTermError | RequestValidationError)
        else []
    )
    response = render(
        request,
        locale,
        "error.html",
        {"status": status, "title": title, "message": message, "problems": problems},
        status_code=status,
    )
    if isinstance(exc, RateLimitedError | ServiceBusyError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _html_or(json_handler: Handler) -> Handler:
    async def handler(request: Request, exc: Any) -> Response:
        if not wants_html(request):
            return await json_handler(request, exc)
        if status_of(exc) >= 500 and not isinstance(exc, PollinateError | StarletteHTTPException):
            log.exception("unexpected error", exc_info=exc)
        return error_page(request, exc)

    return handler


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    return RedirectResponse(f"/sign-in?{urlencode({'next': exc.next_path})}", status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    locale = i18n.negotiate(request)
    title, message = MESSAGES[403]
    context = {"status": 403, "title": title, "message": message, "problems": []}
    return render(request, locale, "error.html", context, status_code=403)


def install_html_errors(app: FastAPI) -> None:
    """Wrap the app's JSON error handlers (``api.errors.install_error_handlers`` must have run), and answer a
    page that needs a signed-in person (redirect to sign-in) and a forged form (403 page)."""
    app.add_exception_handler(SignInRequiredError, _sign_in_first)
    app.add_exception_handler(CsrfRefusedError, _csrf_refused)
    for exc_type in (PollinateError, UnknownTermError, RequestValidationError, StarletteHTTPException, Exception):
        json_handler = app.exception_handlers[exc_type]
        app.add_exception_handler(exc_type, _html_or(json_handler))  # type: ignore[arg-type]

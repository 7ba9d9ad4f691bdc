"""The account pages: signing out (sign-in, reset, invitations, registration and keys build on this module).

Every form here posts with its anti-forgery token (``CsrfDep``); the session is ended on the server, not only
forgotten by the browser.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from api.deps import DatabaseDep
from api.web.auth import SESSION_COOKIE, CsrfDep, clear_session_cookie
from matcher.access.sessions import end_session

router = APIRouter(include_in_schema=False)


@router.post("/sign-out", dependencies=[CsrfDep])
def sign_out(request: Request, db: DatabaseDep) -> RedirectResponse:
    """End this browser's session and go to the home page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with db.transaction() as session:
            end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, request)
    return response

"""Who reads a page, and the anti-forgery check of every form.

**Sessions.** A signed-in browser carries the ``pollinate_session`` cookie (``HttpOnly``, ``SameSite=Lax``,
``Secure`` over https): a random token whose digest names a server-side session (``matcher.access.sessions``).
:func:`load_viewer` runs before every page (a router dependency) and leaves the :class:`Viewer` on
``request.state``; routes take the reader's principal with ``ReaderDep`` (anonymous when not signed in) or
require a signed-in person with ``SignedInDep`` (a visitor is sent to the sign-in page and brought back). The
pages and the JSON API apply the same rules (``matcher.access.rules``) to the principal.

**CSRF** (OWASP's HMAC-based token pattern). Every form that changes state carries ``csrf_token`` (htmx requests
may send the ``X-CSRF-Token`` header instead): an HMAC-SHA256, under the installation's ``csrf`` secret (made
once by migration 0009, shared by every process), of what the request is bound to — the session's digest once
signed in, else a random ``pollinate_anon`` cookie given to visitors (the sign-in, reset and registration
forms). A token therefore only works in the browser it was given to, a forger who can plant a cookie still
cannot compute the matching token, and signing in changes the token. :func:`csrf_protect` (``CsrfDep``) refuses
a POST whose token is missing or wrong with a 403 page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from api.deps import get_db
from matcher.access.accounts import principal_of
from matcher.access.rules import ANONYMOUS, Principal
from matcher.access.sessions import StartedSession, session_user
from matcher.errors import NotReadyError
from models.orm import utcnow
from models.repositories import InstanceSecretRepository

SESSION_COOKIE: Final = "pollinate_session"
ANON_COOKIE: Final = "pollinate_anon"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
_MAX_COOKIE_LEN: Final = 100


class SignInRequiredError(Exception):
    """A page that needs a signed-in person was asked for by a visitor (answered by a redirect to sign-in)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefusedError(Exception):
    """A form arrived without the anti-forgery token of this browser (answered with a 403 page)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person reading a page.

    Attributes:
        principal: what the access rules see (``ANONYMOUS`` for a visitor).
        name: display name (``None`` for a visitor).
        email: sign-in address, when the user has one.
        locale: the language the person chose in their settings, if any.
        session_digest: the digest of the session cookie (``None`` for a visitor).
    """

    principal: Principal
    name: str | None = None
    email: str | None = None
    locale: str | None = None
    session_digest: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.session_digest is not None


VISITOR: Final = Viewer(principal=ANONYMOUS)


def load_viewer(request: Request) -> Viewer:
    """Read the session cookie once per request (a router dependency of every page)."""
    cached = getattr(request.state, "viewer", None)
    if isinstance(cached, Viewer):
        return cached
    found = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with get_db(request).transaction(read_only=True) as session:
            found = session_user(session, token)
            if found is not None:
                user, digest = found
                viewer = Viewer(principal_of(user), user.name, user.email, user.locale, digest)
    if found is None:
        viewer = VISITOR
    request.state.viewer = viewer
    return viewer


def signed_in(request: Request, viewer: Annotated[Viewer, Depends(load_viewer)]) -> Viewer:
    """The signed-in person; a visitor is sent to the sign-in page, and back here afterwards."""
    if not viewer.signed_in:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(path)
    return viewer


def reader(viewer: Annotated[Viewer, Depends(load_viewer)]) -> Principal:
    """The principal the access rules apply to (anonymous for a visitor)."""
    return viewer.principal


def signed_in_principal(viewer: Annotated[Viewer, Depends(signed_in)]) -> Principal:
    """The principal of the signed-in person (a visitor is sent to sign in)."""
    return viewer.principal


def is_local_path(target: str) -> bool:
    """A path on this site (never another host: ``//host``, ``/\\host`` and schemes are refused), for the
    ``next`` of the sign-in and language links."""
    parts = urlsplit(target)
    return (
        target.startswith("/") and not target.startswith(("//", "/\\")) and not parts.scheme and not parts.netloc
    )


ViewerDep = Annotated[Viewer, Depends(load_viewer)]
SignedInViewerDep = Annotated[Viewer, Depends(signed_in)]
ReaderDep = Annotated[Principal, Depends(reader)]
SignedInDep = Annotated[Principal, Depends(signed_in_principal)]


# -------------------------------------------------------------------------------------------------- CSRF


def _secret(request: Request) -> bytes:
    secret = getattr(request.app.state, "csrf_secret", None)
    if isinstance(secret, bytes):
        return secret
    with get_db(request).transaction(read_only=True) as session:
        value = InstanceSecretRepository(session).get("csrf")
    if value is None:
        raise NotReadyError("the database schema is not current: run 'pollinate db upgrade'")
    request.app.state.csrf_secret = value.encode()
    return request.app.state.csrf_secret  # type: ignore[no-any-return]


def _binding(request: Request, viewer: Viewer, *, create: bool) -> str | None:
    if viewer.session_digest is not None:
        return f"session:{viewer.session_digest}"
    nonce = getattr(request.state, "anon_nonce", None) or request.cookies.get(ANON_COOKIE)
    if nonce and len(nonce) <= _MAX_COOKIE_LEN:
        return f"visitor:{nonce}"
    if not create:
        return None
    nonce = secrets.token_urlsafe(24)
    request.state.anon_nonce = nonce
    request.state.set_anon_cookie = True
    return f"visitor:{nonce}"


def csrf_token(request: Request) -> str:
    """The token the forms of this page carry (gives a visitor the ``pollinate_anon`` cookie if needed)."""
    binding = _binding(request, load_viewer(request), create=True)
    assert binding is not None
    return hmac.new(_secret(request), binding.encode(), hashlib.sha256).hexdigest()


async def csrf_protect(request: Request, viewer: Annotated[Viewer, Depends(load_viewer)]) -> None:
    """Refuse a state-changing request whose anti-forgery token is missing or not this browser's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    binding = _binding(request, viewer, create=False)
    if not presented or binding is None:
        raise CsrfRefusedError()
    expected = hmac.new(_secret(request), binding.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRefusedError()


CsrfDep = Depends(csrf_protect)


# ----------------------------------------------------------------------------------------------- cookies


def set_session_cookie(response: Response, request: Request, started: StartedSession) -> None:
    """Give the browser its new session (after a successful sign-in)."""
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=max(int((started.expires_at - utcnow()).total_seconds()), 0),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Forget the session in the browser (sign-out)."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def give_visitor_cookie(response: Response, request: Request) -> None:
    """Attach the visitor's ``pollinate_anon`` cookie when this response made one (called by ``render``)."""
    if getattr(request.state, "set_anon_cookie", False):
        response.set_cookie(
            ANON_COOKIE,
            request.state.anon_nonce,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

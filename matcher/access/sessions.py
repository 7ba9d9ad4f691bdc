"""Signed-in browsers: server-side sessions behind a random cookie token.

The browser holds 32 random bytes (URL-safe); the database holds only their SHA-256 digest, so neither a copy of
the database nor a log line can be replayed as a session. A session lasts ``lifetime`` from sign-in (no sliding
renewal: reading a page never writes). Signing out deletes the row; :func:`end_all_sessions` signs a user out
of every browser (password change, account disabled). A session whose user is no longer ``active`` is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from models.orm import User, WebSession, utcnow
from models.repositories import WebSessionRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SESSION_LIFETIME: Final = dt.timedelta(hours=12)
_TOKEN_BYTES: Final = 32
_MAX_TOKEN_LEN: Final = 100


def token_digest(token: str) -> str:
    """The stored form of a cookie or e-mailed token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StartedSession:
    """A new session: ``token`` goes into the cookie (never stored), ``digest`` names the row."""

    token: str
    digest: str
    expires_at: dt.datetime


def start_session(
    session: Session, user: User, *, now: dt.datetime | None = None, lifetime: dt.timedelta = SESSION_LIFETIME
) -> StartedSession:
    """Sign ``user`` in (write transaction); the caller sets the cookie."""
    now = now or utcnow()
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    digest = token_digest(token)
    expires_at = now + lifetime
    WebSessionRepository(session).add(WebSession(id=digest, user_id=user.id, expires_at=expires_at))
    return StartedSession(token, digest, expires_at)


def session_user(session: Session, token: str, *, now: dt.datetime | None = None) -> tuple[User, str] | None:
    """The active user of a live session and the session's digest, or ``None`` (unknown, expired, or the user
    is not active)."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return None
    digest = token_digest(token)
    row = WebSessionRepository(session).get(digest)
    if row is None or _aware(row.expires_at) <= (now or utcnow()) or row.user.status != "active":
        return None
    return row.user, digest


def end_session(session: Session, token: str) -> None:
    """Sign one browser out (write transaction; idempotent)."""
    if token and len(token) <= _MAX_TOKEN_LEN:
        WebSessionRepository(session).delete(token_digest(token))


def end_all_sessions(session: Session, user_id: int) -> int:
    """Sign a user out of every browser; the number of sessions ended."""
    return WebSessionRepository(session).delete_for_user(user_id)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)

"""The in-app notification feed of a provider organisation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from matcher.access import rules as access
from matcher.access.rules import Principal
from models.orm import Notification, utcnow
from models.outbox import NotificationRepository


def feed(
    session: Session, principal: Principal, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Notification], int]:
    """The caller's organisation's notifications, newest first."""
    organisation_id = access.check_feed(principal)
    return NotificationRepository(session).feed(
        organisation_id, unread_only=unread_only, limit=limit, offset=offset
    )


def mark_read(session: Session, principal: Principal, ids: Sequence[int]) -> int:
    """Mark notifications read; ids of other organisations' notifications are ignored (they do not exist)."""
    organisation_id = access.check_feed(principal)
    return NotificationRepository(session).mark_read(organisation_id, ids, utcnow())

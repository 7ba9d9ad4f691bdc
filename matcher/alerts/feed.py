"""The in-app notification feed of a provider organisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matcher.access import rules as access
from matcher.access.rules import Principal
from models.orm import Notification, utcnow
from models.outbox import NotificationRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def feed(
    session: Session, principal: Principal, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Notification], int]:
    """The caller's organisation's notifications, newest first.

    Only those about needs the caller may read now: a need made confidential since it alerted the organisation
    drops out of the feed (and comes back if it is made public again), as :mod:`matcher.access` says.
    """
    organisation_id = access.check_feed(principal)
    visible_all, visible_country = access.visible_need_scope(principal)
    return NotificationRepository(session).feed(
        organisation_id,
        visible_all=visible_all,
        visible_country=visible_country,
        unread_only=unread_only,
        limit=limit,
        offset=offset,
    )


def mark_read(session: Session, principal: Principal, ids: Sequence[int]) -> int:
    """Mark notifications read; ids of other organisations' notifications, and of notifications the feed does
    not show, are ignored (they do not exist)."""
    organisation_id = access.check_feed(principal)
    visible_all, visible_country = access.visible_need_scope(principal)
    return NotificationRepository(session).mark_read(
        organisation_id, ids, utcnow(), visible_all=visible_all, visible_country=visible_country
    )

"""The audit log: who changed which need, offer, organisation or match review, when, and from what to what.

Events are written by a flush hook of the ORM (``models/orm.py``), so that every write path is audited alike:
the API, the CLI's imports, batch jobs. A service names the caller the changes are attributed to with
:func:`act_as` before it writes; changes made without it are the system's. The log is append-only: the ORM
refuses to change or delete an event, and no route does.

Reading the log is for the secretariat and admins.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from matcher.access import rules as access
from matcher.access.rules import Principal
from models.orm import AUDIT_ACTOR, AuditActor, AuditEvent
from models.repositories import AuditListing, AuditRepository, UserRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CSV_COLUMNS = ("at", "actor", "actor_role", "actor_user_id", "entity", "entity_id", "action", "changes", "note")


def act_as(session: Session, principal: Principal, *, note: str | None = None) -> None:
    """Attribute the session's coming changes to ``principal`` (with ``note`` saying why, if given)."""
    user = UserRepository(session).get(principal.user_id) if principal.user_id is not None else None
    label = user.name if user is not None else principal.role
    session.info[AUDIT_ACTOR] = AuditActor(role=principal.role, label=label, user_id=principal.user_id, note=note)


def check_reader(principal: Principal) -> None:
    """Only the secretariat and admins read the audit log (401 anonymous, 403 anyone else)."""
    access.check_staff(principal, "read the audit log")


def list_events(
    session: Session, principal: Principal, listing: AuditListing, *, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    """A page of the events matching ``listing``, newest first, and how many match."""
    check_reader(principal)
    return AuditRepository(session).listing(listing, limit=limit, offset=offset)


def iter_events(session: Session, principal: Principal, listing: AuditListing) -> Iterator[AuditEvent]:
    """Every event matching ``listing``, newest first, read in batches (for exports of any size).

    The batches are expunged as the export moves on: use a session of its own.
    """
    check_reader(principal)
    return AuditRepository(session).iter_newest_first(listing)


def history(session: Session, principal: Principal, entity: str, entity_id: int) -> list[AuditEvent]:
    """Every event of one record, oldest first."""
    check_reader(principal)
    return AuditRepository(session).for_entity(entity, entity_id)


def _iso(value: dt.datetime) -> str:
    # SQLite hands back naive datetimes (stored as UTC).
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The events as CSV text, a header line then one line per event (``changes`` as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(row: Iterable[object]) -> str:
        writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_COLUMNS)
    for e in events:
        changes = json.dumps(e.changes, ensure_ascii=False, sort_keys=True)
        yield line(
            (
                _iso(e.at),
                e.actor_label,
                e.actor_role,
                e.actor_user_id,
                e.entity,
                e.entity_id,
                e.action,
                changes,
                e.note,
            )
        )

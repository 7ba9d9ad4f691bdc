"""The audit log on SQLite and PostgreSQL: every write path is recorded by the flush hook, and the log is
append-only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from matcher.records.bulk import import_file
from models.db import Database
from models.orm import AUDIT_ACTOR, AppendOnlyError, AuditActor, AuditEvent, Need, Organisation
from models.repositories import AuditListing, AuditRepository


def events(db: Database, **conditions: object) -> list[AuditEvent]:
    """Matching events, oldest first."""
    with db.transaction(read_only=True) as session:
        listing = AuditListing(**conditions)  # type: ignore[arg-type]
        return list(reversed(AuditRepository(session).listing(listing, limit=1000, offset=0)[0]))


def _need(session, organisation_id: int) -> Need:  # type: ignore[no-untyped-def]
    need = Need(
        organisation_id=organisation_id,
        party="FJI",
        title="Coral reef monitoring",
        description="Training for reef monitoring teams.",
        language="en",
    )
    need.targets = [3, 10]
    need.assistance_types = ["training"]
    session.add(need)
    session.flush()
    return need


def test_creates_changes_and_deletes_are_recorded_with_their_actor(db: Database) -> None:
    with db.transaction() as session:
        session.info[AUDIT_ACTOR] = AuditActor(role="secretariat", label="alice", user_id=7, note="clean-up")
        org = Organisation(name="Fiji Ministry of Fisheries", org_type="government_agency", country="FJI")
        session.add(org)
        session.flush()
        need_id = _need(session, org.id).id
    with db.transaction() as session:  # no actor: the system's change
        need = session.get(Need, need_id)
        assert need is not None
        need.targets = [10, 14]
        need.status = "under_review"
    with db.transaction() as session:
        session.delete(session.get(Need, need_id))

    created, changed, deleted = events(db, entity="need", entity_id=need_id)
    assert (created.action, created.actor_user_id, created.actor_label, created.note) == (
        "create",
        7,
        "alice",
        "clean-up",
    )
    assert created.changes["targets"] == [None, [3, 10]]
    assert created.changes["status"] == [None, "open"]
    assert (changed.action, changed.actor_role, changed.actor_label, changed.actor_user_id) == (
        "update",
        "system",
        "system",
        None,
    )
    assert changed.changes == {"targets": [[3, 10], [10, 14]], "status": ["open", "under_review"]}
    assert deleted.action == "delete"
    assert deleted.changes["title"] == ["Coral reef monitoring", None]
    assert deleted.changes["targets"] == [[10, 14], None]
    (org_created,) = events(db, entity="organisation")
    assert org_created.changes["name"] == [None, "Fiji Ministry of Fisheries"]


def test_a_write_that_changes_nothing_is_not_recorded(db: Database) -> None:
    with db.transaction() as session:
        org = Organisation(name="Reef Network", org_type="network", country="FJI")
        session.add(org)
        session.flush()
        need_id = _need(session, org.id).id
    with db.transaction() as session:
        need = session.get(Need, need_id)
        assert need is not None
        need.targets = [10, 3]  # the same tags in another order
        need.title = "Coral reef monitoring"
    assert [e.action for e in events(db, entity="need")] == ["create"]


def test_the_log_is_append_only(db: Database) -> None:
    with db.transaction() as session:
        session.add(Organisation(name="Atoll Trust", org_type="ngo", country="KIR"))
    (event,) = events(db)

    def rewrite(session: Session) -> None:
        row = session.get(AuditEvent, event.id)
        assert row is not None
        row.note = "rewritten"
        session.flush()

    def forget(session: Session) -> None:
        session.delete(session.get(AuditEvent, event.id))
        session.flush()

    for change in (
        rewrite,
        forget,
        lambda s: s.execute(update(AuditEvent).values(note="rewritten")),
        lambda s: s.execute(delete(AuditEvent)),
    ):
        with pytest.raises(AppendOnlyError):
            db.run(change)
    assert [(e.id, e.note, e.changes) for e in events(db)] == [(event.id, event.note, event.changes)]


def test_time_filters_compare_instants_on_both_backends(db: Database) -> None:
    with db.transaction() as session:
        session.add(Organisation(name="Pacific Herbarium", org_type="university", country="FJI"))
    (event,) = events(db)
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)  # SQLite: naive UTC

    def ids(**conditions: object) -> list[int]:
        return [e.id for e in events(db, **conditions)]

    assert ids(since=at.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == [event.id]  # the same instant
    assert ids(since=at.replace(tzinfo=None)) == [event.id]  # naive is UTC
    assert ids(since=at, until=at + dt.timedelta(seconds=1)) == [event.id]
    assert ids(until=at) == []
    assert ids(since=at + dt.timedelta(microseconds=1)) == []
    assert ids(until=(at + dt.timedelta(microseconds=1)).astimezone(dt.timezone(dt.timedelta(hours=9)))) == [
        event.id
    ]


def test_an_import_is_recorded_as_the_systems(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "needs.jsonl"
    path.write_text(
        '{"id": "N1", "party": "KEN", "requesting_organisation": "Kenya Wildlife Service", "title": "Wetland '
        'mapping", "description": "Help mapping wetlands in the lake basin.", "targets": [1], '
        '"assistance_types": ["training"], "language": "en"}\n',
        encoding="utf-8",
    )
    report = import_file(sqlite_db, path, "needs")
    assert report.created == 1
    with sqlite_db.transaction(read_only=True) as session:
        need = session.scalars(select(Need)).one()
    (event,) = events(sqlite_db, entity="need", entity_id=need.id)
    assert (event.action, event.actor_role, event.changes["title"]) == (
        "create",
        "system",
        [None, "Wetland mapping"],
    )

"""A Party's shortlist and contact requests: who may, which offers, idempotence, the audit log, and "my needs"
(without HTTP, on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from matcher.access.rules import Principal
from matcher.errors import AuthenticationError, InvalidInputError, NotFoundError, PermissionDeniedError
from matcher.records import needs, offers
from matcher.usecases import contacts
from models.db import Database
from models.orm import AuditEvent, ContactRequest, Organisation, ShortlistEntry

STAFF = Principal(role="secretariat", user_id=None)
KENYA = Principal(role="party", country="KEN")
SENEGAL = Principal(role="party", country="SEN")
MESSAGE = "We would like to discuss a training for our rangers in 2027."


def _records(db: Database, *, visibility: str = "public") -> tuple[int, int, int, int]:
    """A need of Kenya, an active and a paused offer, and the provider organisation: their ids."""
    with db.transaction() as session:
        org = Organisation(name="Mangrove Watch", org_type="ngo", country="KEN")
        session.add(org)
        session.flush()
        body = {
            "title": "Restoring our mangroves",
            "description": "We need help restoring mangroves with fishing communities.",
            "targets": [2],
            "assistance_types": ["training"],
            "party": "KEN",
            "visibility": visibility,
        }
        need = needs.create_need(session, needs.plan_need(session, STAFF, body))
        offer_body = {
            "organisation_id": org.id,
            "title": "Mangrove restoration training",
            "description": "Field courses on mangrove planting and hydrology for rangers.",
            "targets": [2],
            "assistance_types": ["training"],
            "languages": ["en"],
            "regions_served": ["Africa"],
        }
        active = offers.create_offer(session, STAFF, offer_body)
        paused = offers.create_offer(session, STAFF, {**offer_body, "title": "Paused course", "status": "paused"})
        return need.id, active.id, paused.id, org.id


def _count(db: Database, model: type[object], **where: object) -> int:
    with db.transaction(read_only=True) as session:
        stmt = select(func.count()).select_from(model)  # type: ignore[call-overload]
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(session.scalar(stmt) or 0)


def test_shortlisting_twice_stores_one_entry_and_one_audit_event(db: Database) -> None:
    need_id, offer_id, _paused, _org = _records(db)
    with db.transaction() as session:
        first = contacts.shortlist(session, KENYA, need_id, offer_id)
    with db.transaction() as session:
        again = contacts.shortlist(session, KENYA, need_id, offer_id)
    assert first.created and not again.created
    assert again.row.id == first.row.id
    assert _count(db, ShortlistEntry, need_id=need_id) == 1
    with db.transaction(read_only=True) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity == "shortlist")).all()
        assert [(e.action, e.actor_role, e.changes["offer_id"]) for e in events] == [
            ("create", "party", [None, offer_id])
        ]


def test_removing_from_the_shortlist_is_audited_and_a_second_removal_changes_nothing(db: Database) -> None:
    need_id, offer_id, _paused, _org = _records(db)
    with db.transaction() as session:
        contacts.shortlist(session, KENYA, need_id, offer_id)
    with db.transaction() as session:
        assert contacts.remove_from_shortlist(session, KENYA, need_id, offer_id) is True
    with db.transaction() as session:
        assert contacts.remove_from_shortlist(session, KENYA, need_id, offer_id) is False
    assert _count(db, ShortlistEntry, need_id=need_id) == 0
    with db.transaction(read_only=True) as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "shortlist").order_by(AuditEvent.id)
        ).all()
    assert actions == ["create", "delete"]


def test_a_contact_request_keeps_its_first_message_and_shortlists_the_provider(db: Database) -> None:
    need_id, offer_id, _paused, _org = _records(db)
    with db.transaction() as session:
        first = contacts.request_contact(session, KENYA, need_id, offer_id, f"  {MESSAGE}\n")
    with db.transaction() as session:
        again = contacts.request_contact(session, STAFF, need_id, offer_id, "Another message, sent twice.")
    assert first.created and not again.created
    assert again.row.message == MESSAGE  # stripped, and the first one kept
    assert _count(db, ContactRequest, need_id=need_id) == 1
    assert _count(db, ShortlistEntry, need_id=need_id) == 1
    assert _count(db, AuditEvent, entity="contact_request") == 1


@pytest.mark.parametrize("message", ["", "   ", "short", "x" * 2001, "Hello\x00 there, a message"])
def test_a_contact_message_must_be_a_short_text(db: Database, message: str) -> None:
    need_id, offer_id, _paused, _org = _records(db)
    with db.transaction() as session, pytest.raises(InvalidInputError) as refused:
        contacts.request_contact(session, KENYA, need_id, offer_id, message)
    assert refused.value.field == "message"
    assert _count(db, ContactRequest) == 0


@pytest.mark.parametrize("visibility", ["public", "confidential"])
def test_only_the_needs_party_and_the_secretariat_follow_it_up(db: Database, visibility: str) -> None:
    need_id, offer_id, _paused, org_id = _records(db, visibility=visibility)
    provider = Principal(role="provider", organisation_id=org_id)
    anonymous = Principal(role="anonymous")
    refusals: list[tuple[Principal, type[Exception]]] = [
        (SENEGAL, NotFoundError),  # even a public need: its follow-up is not for another Party
        (provider, PermissionDeniedError),
        (anonymous, AuthenticationError),
    ]
    for who, error in refusals:
        with db.transaction() as session:
            with pytest.raises(error):
                contacts.shortlist(session, who, need_id, offer_id)
            with pytest.raises(error):
                contacts.request_contact(session, who, need_id, offer_id, MESSAGE)
            with pytest.raises(error):
                contacts.workspace(session, who, need_id)
    assert _count(db, ShortlistEntry) == 0 and _count(db, ContactRequest) == 0
    for who in (KENYA, STAFF):
        with db.transaction() as session:
            assert contacts.workspace(session, who, need_id).need.id == need_id
            contacts.shortlist(session, who, need_id, offer_id)
    assert _count(db, ShortlistEntry) == 1


def test_an_offer_the_party_cannot_read_is_not_found(db: Database) -> None:
    need_id, _active, paused_id, _org = _records(db)
    for call in (
        lambda s: contacts.shortlist(s, KENYA, need_id, paused_id),
        lambda s: contacts.request_contact(s, KENYA, need_id, paused_id, MESSAGE),
        lambda s: contacts.shortlist(s, KENYA, need_id, 999_999),
    ):
        with db.transaction() as session, pytest.raises(NotFoundError):
            call(session)
    assert _count(db, ShortlistEntry) == 0 and _count(db, ContactRequest) == 0


def test_my_needs_lists_the_partys_needs_with_their_counts(db: Database) -> None:
    need_id, offer_id, _paused, _org = _records(db, visibility="confidential")
    with db.transaction() as session:
        contacts.request_contact(session, KENYA, need_id, offer_id, MESSAGE)
    with db.transaction(read_only=True) as session:
        mine = contacts.my_needs(session, KENYA, limit=10, offset=0)
        theirs = contacts.my_needs(session, SENEGAL, limit=10, offset=0)
        everything = contacts.my_needs(session, STAFF, limit=10, offset=0)
    assert [(f.need.id, f.counts.shortlisted, f.counts.contacted) for f in mine.items] == [(need_id, 1, 1)]
    assert mine.total == 1
    assert theirs.items == [] and theirs.total == 0
    assert need_id in [f.need.id for f in everything.items]
    with db.transaction(read_only=True) as session, pytest.raises(PermissionDeniedError):
        contacts.my_needs(session, Principal(role="provider", organisation_id=1), limit=10, offset=0)

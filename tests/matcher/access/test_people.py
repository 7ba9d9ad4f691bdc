"""People who sign in: addresses, the password rules, sign-in, e-mailed links, registrations, own keys, and
the API keys of people who may not sign in."""

from __future__ import annotations

import datetime as dt

import pytest

from matcher.access import people
from matcher.access.accounts import KeyVerifier, issue_key
from matcher.access.rules import Principal
from matcher.access.sessions import session_user, start_session
from matcher.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from models.db import Database
from models.orm import Organisation
from models.repositories import OrganisationRepository, UserRepository
from tests.factories import person

STAFF = Principal(role="secretariat")
GOOD = "correct horse battery staple"


def test_addresses_are_normalised_and_checked() -> None:
    assert people.normalise_email("  Ana.Silva@Example.ORG ") == "ana.silva@example.org"
    for bad in ("ana", "ana@", "@example.org", "ana@localhost", "a b@example.org", "x" * 250 + "@example.org"):
        with pytest.raises(InvalidInputError) as caught:
            people.normalise_email(bad)
        assert caught.value.field == "email"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short phrase", "too_short"),
        ("a" * 14, "too_short"),
        ("x" * 129, "too_long"),
        ("aaaaaaaaaaaaaaaaaaaa", "guessable"),
        ("pollinatepollinate", "guessable"),
        ("ana.silva@example.org", "guessable"),
        ("Ana Silva Ana Silva", "guessable"),
        (GOOD, None),
        ("ñandú ñandú jaguar río", None),  # no composition rules: any characters, spaces included
        ("x" * 128 + "\u0301", "too_long"),
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    assert (
        people.password_problem(password, context=("ana.silva@example.org", "ana.silva", "Ana Silva")) == problem
    )


def test_passwords_are_compared_after_unicode_normalisation(sqlite_db: Database) -> None:
    composed = "café au lait every morning"
    decomposed = "cafe\u0301 au lait every morning"
    person(sqlite_db, role="secretariat", name="Staff", email="staff@example.org", password=composed)
    with sqlite_db.transaction() as session:
        assert people.authenticate(session, "staff@example.org", decomposed) is not None


def test_sign_in_fails_alike_for_a_wrong_password_an_unknown_address_and_a_pending_account(
    sqlite_db: Database,
) -> None:
    person(sqlite_db, role="secretariat", name="Staff", email="Staff@Example.org", password=GOOD)
    person(
        sqlite_db, role="secretariat", name="Waiting", email="wait@example.org", password=GOOD, status="pending"
    )
    person(sqlite_db, role="secretariat", name="Gone", email="gone@example.org", password=GOOD, status="disabled")
    with sqlite_db.transaction() as session:
        assert people.authenticate(session, "STAFF@example.org", GOOD) is not None
        assert people.authenticate(session, "staff@example.org", GOOD + "!") is None
        assert people.authenticate(session, "nobody@example.org", GOOD) is None
        assert people.authenticate(session, "not an address", GOOD) is None
        assert people.authenticate(session, "wait@example.org", GOOD) is None
        assert people.authenticate(session, "gone@example.org", GOOD) is None


def test_keys_of_pending_and_disabled_people_are_refused(sqlite_db: Database) -> None:
    user_id = person(sqlite_db, role="secretariat", name="Staff", email="s@example.org", password=GOOD)
    with sqlite_db.transaction() as session:
        user = UserRepository(session).get(user_id)
        assert user is not None
        key = issue_key(session, user).secret
    verifier = KeyVerifier()
    with sqlite_db.transaction(read_only=True) as session:
        assert verifier.authenticate(session, key).user_id == user_id  # now in the verifier's cache
    for status in ("pending", "disabled"):
        with sqlite_db.transaction() as session:
            user = UserRepository(session).get(user_id)
            assert user is not None
            user.status = status
        with sqlite_db.transaction(read_only=True) as session, pytest.raises(AuthenticationError):
            verifier.authenticate(session, key)


def test_a_reset_link_works_once_ends_every_session_and_expires(sqlite_db: Database) -> None:
    user_id = person(sqlite_db, role="secretariat", name="Staff", email="s@example.org", password=GOOD)
    with sqlite_db.transaction() as session:
        user = UserRepository(session).get(user_id)
        assert user is not None
        browser = start_session(session, user).token
        link = people.request_reset(session, "S@example.org")
        assert link is not None and link.email == "s@example.org"
        assert people.request_reset(session, "nobody@example.org") is None
    with sqlite_db.transaction() as session, pytest.raises(InvalidInputError):
        people.use_link(session, link.token, "too short")
    with sqlite_db.transaction() as session:
        people.use_link(session, link.token, "a brand new pass phrase")
        assert session_user(session, browser) is None
    with sqlite_db.transaction() as session:
        with pytest.raises(NotFoundError):
            people.use_link(session, link.token, "yet another pass phrase")
        assert people.authenticate(session, "s@example.org", "a brand new pass phrase") is not None
        assert people.authenticate(session, "s@example.org", GOOD) is None
        late = people.issue_link(session, UserRepository(session).get(user_id), "reset")  # type: ignore[arg-type]
    after = dt.datetime.now(dt.UTC) + people.RESET_LIFETIME + dt.timedelta(seconds=1)
    with sqlite_db.transaction() as session:
        assert people.valid_link(session, late.token) is not None
        assert people.valid_link(session, late.token, now=after) is None
        with pytest.raises(NotFoundError):
            people.use_link(session, late.token, "a brand new pass phrase", now=after)


def test_a_new_link_cancels_the_older_ones(sqlite_db: Database) -> None:
    user_id = person(sqlite_db, role="secretariat", name="Staff", email="s@example.org", password=GOOD)
    with sqlite_db.transaction() as session:
        first = people.request_reset(session, "s@example.org")
        second = people.request_reset(session, "s@example.org")
        assert first is not None and second is not None
    with sqlite_db.transaction() as session:
        assert people.valid_link(session, first.token) is None
        assert people.valid_link(session, second.token) is not None
        assert UserRepository(session).get(user_id) is not None


def test_only_the_secretariat_invites_and_an_address_is_invited_once(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as session:
        with pytest.raises(PermissionDeniedError):
            people.invite(
                session,
                Principal(role="party", user_id=1, country="KEN"),
                email="a@example.org",
                name="A",
                role="party",
                country="KEN",
            )
        link = people.invite(
            session, STAFF, email="Focal@Kenya.example.org", name="Focal", role="party", country="ken", locale="fr"
        )
        assert (link.purpose, link.email, link.locale) == ("invitation", "focal@kenya.example.org", "fr")
        with pytest.raises(ConflictError):
            people.invite(
                session, STAFF, email="focal@kenya.example.org", name="Other", role="party", country="KEN"
            )
    with sqlite_db.transaction() as session:
        user = people.use_link(session, link.token, "kenya focal point phrase")
        assert (user.role, user.country, user.status) == ("party", "KEN", "active")


def test_a_registration_waits_for_approval_and_a_rejection_removes_a_new_organisation(sqlite_db: Database) -> None:
    def register(org: str, email: str, name: str) -> people.Registration:
        with sqlite_db.transaction() as session:
            return people.register_provider(
                session,
                organisation=org,
                org_type="ngo",
                country="SEN",
                website="https://mangroves.example.org",
                name=name,
                email=email,
                locale="fr",
            )

    person(sqlite_db, role="secretariat", name="Held", email="held@example.org", password=GOOD, status="pending")
    assert register("Mangrove Friends", "awa@mangroves.example.org", "Awa").existing is False
    assert register("Dune Keepers", "ibou@dunes.example.org", "Ibou").existing is False
    again = register("Anything", "AWA@mangroves.example.org", "Someone else")
    assert again.existing is True and again.name == "Awa"  # nothing created; the owner is told
    with sqlite_db.transaction() as session:
        with pytest.raises(PermissionDeniedError):
            people.pending_registrations(session, Principal(role="provider", user_id=9, organisation_id=1))
        pending = people.pending_registrations(session, STAFF)
        assert [p.user.name for p in pending] == ["Awa", "Ibou"]
        assert all(p.user.status == "pending" for p in pending)
        awa, ibou = (p.user.id for p in pending)
    with sqlite_db.transaction() as session:
        link = people.approve_registration(session, STAFF, awa)
        told = people.reject_registration(session, STAFF, ibou)
        assert told.email == "ibou@dunes.example.org"
        with pytest.raises(NotFoundError):
            people.approve_registration(session, STAFF, ibou)
    with sqlite_db.transaction() as session:
        assert people.pending_registrations(session, STAFF) == []
        assert people.use_link(session, link.token, "mangroves of the saloum").status == "active"
        organisations = OrganisationRepository(session)
        assert organisations.find("Mangrove Friends", "SEN") is not None
        assert organisations.find("Dune Keepers", "SEN") is None


def test_a_rejection_keeps_an_organisation_that_is_in_use(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as session:
        org = OrganisationRepository(session).add(Organisation(name="Known", org_type="ngo", country="SEN"))
        org_id = org.id
    person(
        sqlite_db,
        role="provider",
        name="Old",
        email="old@known.example.org",
        password=GOOD,
        organisation_id=org_id,
    )
    with sqlite_db.transaction() as session:
        people.register_provider(
            session,
            organisation="Known",
            org_type="ngo",
            country="SEN",
            website=None,
            name="New",
            email="new@known.example.org",
            locale=None,
        )
    with sqlite_db.transaction() as session:
        (pending,) = people.pending_registrations(session, STAFF)
        assert pending.organisation.id == org_id and pending.other_people == 1
        people.reject_registration(session, STAFF, pending.user.id)
    with sqlite_db.transaction() as session:
        assert OrganisationRepository(session).get(org_id) is not None


def test_people_manage_only_their_own_keys(sqlite_db: Database) -> None:
    a = person(sqlite_db, role="secretariat", name="A", email="a@example.org", password=GOOD)
    b = person(sqlite_db, role="secretariat", name="B", email="b@example.org", password=GOOD)
    as_a, as_b = Principal(role="secretariat", user_id=a), Principal(role="secretariat", user_id=b)
    with sqlite_db.transaction() as session:
        issued = people.create_own_key(session, as_a, label="  reporting   script ")
        with pytest.raises(NotFoundError):
            people.revoke_own_key(session, as_b, issued.key_id)
        assert [k.label for k in people.own_keys(session, as_a)] == ["reporting script"]
        assert people.own_keys(session, as_b) == []
        assert people.revoke_own_key(session, as_a, issued.key_id).revoked_at is not None

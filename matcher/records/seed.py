"""The demo corpus shipped with Pollinate (``matcher/data/demo``), loaded by ``pollinate seed --demo``.

The corpus is our own writing: fictional organisations offering support across all 23 KMGBF targets and every
UN M49 region, and needs from Parties in English, French and Spanish. Loading goes through the ordinary bulk
import, so seeding twice changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from matcher.access import accounts, people
from matcher.data import DEMO_NEEDS, DEMO_OFFERS
from matcher.records.bulk import ImportReport, import_file
from models.db import Database
from models.orm import utcnow
from models.repositories import OfferRepository, UserRepository


def seed_demo(db: Database) -> list[ImportReport]:
    """Import the demo offers then the demo needs; returns both reports.

    Raises:
        InvalidInputError: if the packaged files are missing (a broken installation).
        RuntimeError: if the packaged corpus does not validate (the test suite guards against it).
    """
    reports = [import_file(db, DEMO_OFFERS, "offers"), import_file(db, DEMO_NEEDS, "needs")]
    for report in reports:
        if not report.written:
            raise RuntimeError(f"the packaged demo {report.kind} are invalid: {report.errors[:3]}")
    return reports


DEMO_KEY_LABEL = "demo"
DEMO_PARTY_COUNTRY = "KEN"


@dataclass(frozen=True, slots=True)
class DemoKey:
    """A key printed by ``pollinate serve --demo`` so that the README's examples can be run as they are."""

    role: str
    user: str
    acts_for: str
    secret: str


def demo_keys(db: Database) -> list[DemoKey]:
    """Demo users (a Party for Kenya, the provider of the first demo offer, the secretariat) with fresh keys.

    Every call revokes the keys issued by the previous one, so a demo never leaves old keys working.
    """
    keys = []
    with db.transaction() as session:
        users = UserRepository(session)
        provider_org = OfferRepository(session).get_by_external_id("demo-o001")
        specs: list[tuple[str, str, dict[str, Any], str]] = [
            ("party", "demo-party", {"country": DEMO_PARTY_COUNTRY}, DEMO_PARTY_COUNTRY),
            ("secretariat", "demo-secretariat", {}, "everyone"),
        ]
        if provider_org is not None:
            org = provider_org.organisation
            specs.insert(1, ("provider", "demo-provider", {"organisation_id": org.id}, org.name))
        for role, name, scope, acts_for in specs:
            user = users.by_name(name) or accounts.create_user(session, name=name, role=role, **scope)
            for key in users.keys(user.id):
                if key.label == DEMO_KEY_LABEL and key.revoked_at is None:
                    key.revoked_at = utcnow()
            issued = accounts.issue_key(session, user, label=DEMO_KEY_LABEL)
            keys.append(DemoKey(role, name, acts_for, issued.secret))
    return keys


DEMO_EMAIL_DOMAIN = "demo.pollinate.example"


@dataclass(frozen=True, slots=True)
class DemoSignIn:
    """An e-mail address and password printed by ``pollinate serve --demo`` to sign in to the pages."""

    role: str
    acts_for: str
    email: str
    password: str


def demo_sign_ins(db: Database, keys: list[DemoKey]) -> list[DemoSignIn]:
    """Sign-ins to the pages for the demo users of ``keys`` (from :func:`demo_keys`), with a new password at
    every call.

    Each gets the address ``<role>@demo.pollinate.example`` (a reserved domain: no mail can reach it) and a
    random 20-character password; the previous password and the user's sessions stop working.
    """
    found = []
    with db.transaction() as session:
        users = UserRepository(session)
        for key in keys:
            user = users.by_name(key.user)
            assert user is not None  # demo_keys made it
            user.email = f"{key.role}@{DEMO_EMAIL_DOMAIN}"
            password = secrets.token_urlsafe(15)
            people.set_password(session, user, password)
            found.append(DemoSignIn(key.role, key.acts_for, user.email, password))
    return found

"""Test data shared by test modules (which never import each other): records, catalogues, broken files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from embeddings import Embedder, FakeEmbedder
from matcher.access.accounts import create_user
from matcher.access.sessions import start_session
from matcher.engine.service import MatchService
from matcher.records.bulk import import_file
from matcher.settings import RankingSettings
from models.db import Database


def load_offers(db: Database, tmp_path: Path, rows: list[dict[str, Any]], name: str = "offers.jsonl") -> None:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = import_file(db, path, "offers")
    assert report.written, report.errors


def service(
    db: Database, embedder: Embedder | None = None, *, index_path: Path | None = None, **ranking: Any
) -> MatchService:
    svc = MatchService(
        db, embedder or FakeEmbedder(dim=64), ranking=RankingSettings(**ranking), index_path=index_path
    )
    svc.start()
    return svc


def offer(i: int, **overrides: Any) -> dict[str, Any]:
    return offer_row(**{"id": f"T{i:03d}", "organisation": f"Provider {i}", **overrides})


def need_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "Y001",
        "party": "FJI",
        "requesting_organisation": "Ministry of Environment – Invasive Species Unit",
        "title": "Rats on our seabird islets",
        "description": "Rats eat seabird chicks on two islets; we need a plan to remove them for good.",
        "targets": [6],
        "assistance_types": ["technical_advice"],
        "language": "en",
        "region": "Melanesia",
    }
    row.update(overrides)
    return row


def offer_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "X001",
        "organisation": "Island Biosecurity Collective",
        "org_type": "ngo",
        "country": "NZL",
        "regions_served": ["Oceania"],
        "countries_served": [],
        "title": "Rodent eradication planning for small islands",
        "description": "We plan and supervise rodent eradications on islands under 500 ha, including bait trials.",
        "targets": [6, 4],
        "assistance_types": ["technical_advice", "training"],
        "languages": ["en", "fr"],
        "cost": "free",
    }
    row.update(overrides)
    return row


def broken_copy(source: Path, target: Path) -> tuple[Path, list[int]]:
    """The dev offers with three rows broken in three different ways; returns the broken line numbers."""
    lines = source.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[9])
    row["regions_served"] = ["Oceana"]
    lines[9] = json.dumps(row)  # line 10: vocabulary error
    lines[99] = lines[99][:-5]  # line 100: truncated JSON
    row = json.loads(lines[149])
    del row["title"]
    lines[149] = json.dumps(row)  # line 150: missing field
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, [10, 100, 150]


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def web_session(
    db: Database,
    *,
    role: str,
    name: str,
    country: str | None = None,
    organisation_id: int | None = None,
    status: str = "active",
    now: dt.datetime | None = None,
) -> str:
    """A new user with a signed-in browser session; the cookie's token (as if they had just signed in)."""
    with db.transaction() as session:
        user = create_user(session, name=name, role=role, country=country, organisation_id=organisation_id)
        user.status = status
        return start_session(session, user, now=now).token


def person(
    db: Database,
    *,
    role: str,
    name: str,
    email: str,
    password: str,
    country: str | None = None,
    organisation_id: int | None = None,
    status: str = "active",
    locale: str | None = None,
) -> int:
    """A user who signs in to the pages with ``email`` and ``password``; their id."""
    from matcher.access.people import hash_password, normalise_email

    with db.transaction() as session:
        user = create_user(session, name=name, role=role, country=country, organisation_id=organisation_id)
        user.email = normalise_email(email)
        user.password_hash = hash_password(password)
        user.status = status
        user.locale = locale
        return user.id

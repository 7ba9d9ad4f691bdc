"""Duplicates across sources on a hand-made fixture (pairs that are and are not the same): precision and recall
of the suggestions, the rules they rest on, and the secretariat's listing in the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcher.access.rules import Principal
from matcher.connectors.duplicates import find_duplicates, name_score, name_words
from matcher.errors import PermissionDeniedError
from models.db import Database
from models.orm import Need, Organisation, RecordSource

FIXTURE = json.loads((Path(__file__).parent / "duplicates.json").read_text("utf-8"))
STAFF = Principal(role="secretariat")


def load(db: Database) -> tuple[dict[int, str], dict[int, str]]:
    """The fixture's organisations and needs in the database, each with its source's provenance; returns
    ``id -> key`` of both."""
    orgs: dict[int, str] = {}
    needs: dict[int, str] = {}
    with db.transaction() as session:
        by_name: dict[tuple[str, str], Organisation] = {}
        for row in FIXTURE["organisations"]:
            org = Organisation(name=row["name"], country=row["country"], org_type=row["org_type"])
            session.add(org)
            session.flush()
            by_name[(row["name"], row["country"])] = org
            orgs[org.id] = row["key"]
            if row["source"]:
                session.add(_source(row["source"], "organisation", org.id, row["key"]))
        for row in FIXTURE["needs"]:
            org = by_name.get((row["organisation"], row["party"]))
            if org is None:
                org = Organisation(name=row["organisation"], country=row["party"], org_type="government_agency")
                session.add(org)
                session.flush()
                by_name[(row["organisation"], row["party"])] = org
            need = Need(
                party=row["party"],
                organisation_id=org.id,
                title=row["title"],
                description=row["description"],
                language="en",
                targets=[1],
                assistance_types=["training"],
            )
            session.add(need)
            session.flush()
            needs[need.id] = row["key"]
            if row["source"]:
                session.add(_source(row["source"], "need", need.id, row["key"]))
    return orgs, needs


def _source(connector: str, entity: str, record_id: int, key: str) -> RecordSource:
    return RecordSource(connector=connector, entity=entity, record_id=record_id, source_id=key, content_hash="-")


def precision_recall(found: set[frozenset[str]], same: list[list[str]]) -> tuple[float, float]:
    truth = {frozenset(pair) for pair in same}
    hits = len(found & truth)
    return (hits / len(found) if found else 1.0), hits / len(truth)


def test_duplicate_organisations_and_needs_on_the_hand_made_fixture(sqlite_db: Database) -> None:
    org_keys, need_keys = load(sqlite_db)
    with sqlite_db.transaction(read_only=True) as session:
        org_pairs = find_duplicates(session, STAFF, "organisations")
        need_pairs = find_duplicates(session, STAFF, "needs")
    found_orgs = {
        frozenset((org_keys[p.left.id], org_keys[p.right.id])) for p in org_pairs if p.left.id in org_keys
    }
    found_needs = {frozenset((need_keys[p.left.id], need_keys[p.right.id])) for p in need_pairs}
    org_precision, org_recall = precision_recall(found_orgs, FIXTURE["organisations_same"])
    need_precision, need_recall = precision_recall(found_needs, FIXTURE["needs_same"])
    print(  # the numbers of the closing note (pytest -s)
        f"\norganisations: {len(found_orgs)} suggested, precision {org_precision:.2f}, recall {org_recall:.2f}"
        f"\nneeds: {len(found_needs)} suggested, precision {need_precision:.2f}, recall {need_recall:.2f}"
    )
    assert (org_precision, org_recall) == (1.0, 1.0), sorted(map(sorted, found_orgs))
    assert (need_precision, need_recall) == (1.0, 1.0), sorted(map(sorted, found_needs))
    # Side by side, with their sources ("typed in" for a record made by hand).
    ias = next(p for p in need_pairs if {need_keys[p.left.id], need_keys[p.right.id]} == {"ias-a", "ias-h"})
    assert sorted([ias.left.sources, ias.right.sources]) == [["biobridge"], ["typed in"]]
    assert {ias.left.fields["title"], ias.right.fields["title"]} == {
        "National invasive species early-warning system",
        "Early warning and rapid response for invasive alien species",
    }


@pytest.mark.parametrize(
    ("name", "country", "words"),
    [
        ("KENYA WILDLIFE SERVICE (KWS)", "KEN", ["wildlife", "service"]),
        (
            "South African National Biodiversity Institute - SANBI",
            "ZAF",
            ["african", "national", "biodiversity", "institute"],
        ),
        ("Ministerio del Ambiente del Perú", "PER", ["ministerio", "ambiente"]),
        ("WWF", "USA", ["wwf"]),  # an acronym alone is the name
    ],
)
def test_name_words_set_aside_case_accents_common_words_country_and_acronyms(
    name: str, country: str, words: list[str]
) -> None:
    assert name_words(name, country) == words


def test_typos_count_as_the_same_word() -> None:
    assert name_score("Instituto Humboldt", "Instituto Humbolt") == 1.0
    assert name_score("Kenya Wildlife Service", "Kenya Forest Service", country_a="KEN", country_b="KEN") < 0.6


def test_only_the_secretariat_lists_duplicates(sqlite_db: Database) -> None:
    with sqlite_db.transaction(read_only=True) as session, pytest.raises(PermissionDeniedError):
        find_duplicates(session, Principal(role="provider", user_id=1, organisation_id=1), "needs")

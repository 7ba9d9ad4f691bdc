"""Merging duplicates across sources: the survivor takes the copy's provenance (the copy's connector then updates
the survivor and never re-creates the copy), the copy is withdrawn and leaves matching, the decision and the
audit event are kept, and a decided pair is not suggested again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from embeddings import FakeEmbedder
from matcher.access.rules import Principal
from matcher.connectors import duplicates
from matcher.connectors.definition import ConnectorDefinition, parse_definition
from matcher.connectors.harvest import run_connector
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchService
from matcher.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from matcher.settings import ConnectorSettings, RankingSettings
from models.db import Database
from models.orm import AuditEvent, DuplicateDecision, Offer, RecordSource

EXAMPLES = Path(__file__).resolve().parents[3] / "matcher" / "connectors" / "examples"
STAFF = Principal(role="secretariat")
REEF = "Coral reef monitoring and ranger training"


def source(tmp_path: Path, name: str) -> ConnectorDefinition:
    """The example CSV roster as connector ``name`` (its own copy of the CSV, which a test may change)."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(EXAMPLES / "partner-offers.csv", folder / "partner-offers.csv")
    text = (EXAMPLES / "partner-offers.toml").read_text("utf-8").replace('"partner-offers"', f'"{name}"', 1)
    return parse_definition(text, base=folder)


def edit_csv(tmp_path: Path, name: str, old: str, new: str) -> None:
    path = tmp_path / name / "partner-offers.csv"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def reef_offers(db: Database) -> dict[str, Offer]:
    with db.transaction(read_only=True) as session:
        return {o.external_id or "": o for o in session.scalars(select(Offer)) if "RX-17" in (o.external_id or "")}


def harvest_twice(db: Database, tmp_path: Path) -> tuple[ConnectorDefinition, ConnectorDefinition, int, int]:
    """Connectors ``north`` and ``south`` both list the roster: every offer twice. Returns the definitions and the
    ids of ``north``'s (survivor) and ``south``'s (copy) reef offer."""
    north, south = source(tmp_path, "north"), source(tmp_path, "south")
    assert run_connector(db, north, ConnectorSettings()).created == 3
    assert run_connector(db, south, ConnectorSettings()).created == 3
    reef = reef_offers(db)
    return north, south, reef["north:RX-17"].id, reef["south:RX-17"].id


def pair_ids(db: Database, kind: duplicates.DuplicateKind = "offers") -> set[frozenset[int]]:
    with db.transaction(read_only=True) as session:
        return {frozenset((p.left.id, p.right.id)) for p in duplicates.find_duplicates(session, STAFF, kind)}


def test_a_merge_moves_provenance_and_the_copys_connector_then_updates_the_survivor(
    db: Database, tmp_path: Path
) -> None:
    north, south, survivor, copy = harvest_twice(db, tmp_path)
    assert frozenset((survivor, copy)) in pair_ids(db)
    with db.transaction() as session:
        done = duplicates.merge(session, STAFF, "offers", survivor_id=survivor, merged_id=copy, note="same roster")
    assert (done.merged_status, done.moved_sources) == ("expired", ["south:RX-17"])
    with db.transaction(read_only=True) as session:
        rows = session.scalars(select(RecordSource).where(RecordSource.entity == "offer")).all()
        assert {(r.connector, r.source_id) for r in rows if r.record_id == survivor} == {
            ("north", "RX-17"),
            ("south", "RX-17"),
        }
        assert not [r for r in rows if r.record_id == copy]
        decision = session.scalars(select(DuplicateDecision)).one()
        assert (decision.entity, decision.decision, decision.survivor_id) == ("offer", "merged", survivor)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "merge")).one()
        assert (event.entity, event.entity_id, event.actor_role, event.note) == (
            "offer",
            copy,
            "secretariat",
            "same roster",
        )
        assert event.changes == {"merged_into": [None, survivor], "sources": [None, ["south:RX-17"]]}
    # The copy's source changes its record: the survivor is updated, the copy is not re-created nor revived.
    edit_csv(tmp_path, "south", REEF, "Coral reef monitoring and ranger training with bleaching alerts")
    report = run_connector(db, south, ConnectorSettings())
    assert (report.created, report.updated) == (0, 1)
    reef = reef_offers(db)
    assert reef["north:RX-17"].title == "Coral reef monitoring and ranger training with bleaching alerts"
    assert (reef["south:RX-17"].title, reef["south:RX-17"].status) == (REEF, "expired")
    with db.transaction(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Offer)) == 6
    # The survivor's own connector still updates it too, and the merged pair is never suggested again.
    edit_csv(tmp_path, "north", REEF, "Reef monitoring and ranger training")
    assert (run_connector(db, north, ConnectorSettings()).updated, reef_offers(db)["north:RX-17"].title) == (
        1,
        "Reef monitoring and ranger training",
    )
    assert frozenset((survivor, copy)) not in pair_ids(db)


def test_a_source_that_stops_listing_a_merged_record_leaves_it_to_the_other(db: Database, tmp_path: Path) -> None:
    _north, south, survivor, copy = harvest_twice(db, tmp_path)
    with db.transaction() as session:
        duplicates.merge(session, STAFF, "offers", survivor_id=survivor, merged_id=copy)
    edit_csv(tmp_path, "south", "RX-17,", "RX-99,")  # south now lists another id: RX-17 is gone from it
    report = run_connector(db, south, ConnectorSettings())
    assert report.withdrawn == 1
    assert reef_offers(db)["north:RX-17"].status == "active"  # north still lists it


def test_a_decided_pair_is_refused_and_a_dismissed_one_not_suggested(db: Database, tmp_path: Path) -> None:
    _north, _south, survivor, copy = harvest_twice(db, tmp_path)
    reef_pair = frozenset((survivor, copy))
    others = pair_ids(db) - {reef_pair}
    assert others  # the two other offers of the roster are suggested too
    left, right = sorted(next(iter(others)))
    with db.transaction() as session:
        duplicates.dismiss(session, STAFF, "offers", ids=(right, left), note="different experts")
    assert frozenset((left, right)) not in pair_ids(db)
    assert reef_pair in pair_ids(db)
    with db.transaction() as session, pytest.raises(ConflictError):
        duplicates.merge(session, STAFF, "offers", survivor_id=left, merged_id=right)
    with db.transaction() as session:
        duplicates.merge(session, STAFF, "offers", survivor_id=survivor, merged_id=copy)
    with db.transaction() as session, pytest.raises(ConflictError):
        duplicates.dismiss(session, STAFF, "offers", ids=(survivor, copy))
    with db.transaction(read_only=True) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.in_(["merge", "dismiss"])))
        assert sorted(actions) == ["dismiss", "merge"]


def test_merges_that_make_no_sense_are_refused(sqlite_db: Database, tmp_path: Path) -> None:
    _north, _south, survivor, copy = harvest_twice(sqlite_db, tmp_path)
    cases: list[tuple[Principal, duplicates.DuplicateKind, int, int, type[Exception]]] = [
        (Principal(role="provider", organisation_id=1), "offers", survivor, copy, PermissionDeniedError),
        (STAFF, "offers", survivor, survivor, InvalidInputError),
        (STAFF, "organisations", 1, 2, InvalidInputError),
        (STAFF, "offers", survivor, 999_999, NotFoundError),
        (STAFF, "needs", survivor, copy, NotFoundError),  # those ids are offers
    ]
    for principal, kind, keep, drop, error in cases:
        with sqlite_db.transaction() as session, pytest.raises(error):
            duplicates.merge(session, principal, kind, survivor_id=keep, merged_id=drop)
    with sqlite_db.transaction() as session:
        duplicates.merge(session, STAFF, "offers", survivor_id=copy, merged_id=survivor)
        assert session.get(Offer, survivor) is not None  # the copy is withdrawn, never deleted


@pytest.mark.parametrize("inactive", ["exclude", "downweight"])
def test_matching_never_ranks_the_merged_copy(db: Database, tmp_path: Path, inactive: str) -> None:
    _north, _south, survivor, copy = harvest_twice(db, tmp_path)
    service = MatchService(
        db, FakeEmbedder(dim=64), ranking=RankingSettings(inactive=inactive), index_kind="exact"
    )
    service.start()
    need = NeedQuery(title=REEF, description="We need reef survey training for our rangers.", party="FJI")
    before = [m.offer_id for m in service.match(need, k=6).matches]
    assert {survivor, copy} <= set(before)  # two copies of one offer, both ranked
    with db.transaction() as session:
        duplicates.merge(session, STAFF, "offers", survivor_id=survivor, merged_id=copy)
    after = [m.offer_id for m in service.match(need, k=6).matches]
    assert survivor in after
    assert copy not in after
    restarted = MatchService(
        db, FakeEmbedder(dim=64), ranking=RankingSettings(inactive=inactive), index_kind="exact"
    )
    restarted.start()
    assert copy not in [m.offer_id for m in restarted.match(need, k=6).matches]

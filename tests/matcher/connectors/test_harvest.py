"""Harvesting fixture feeds from a local HTTP server on loopback: creates, leaves alone, updates, withdraws,
writes nothing on failure, does not parse a 304, follows pages; provenance on every record; run reports in the
report, the runs table and the audit log."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from matcher.connectors import fetch
from matcher.connectors.definition import ConnectorDefinition, parse_definition
from matcher.connectors.harvest import run_connector
from matcher.settings import ConnectorSettings
from models.db import Database
from models.orm import AuditEvent, ConnectorRun, Need, Offer, Organisation, RecordSource, SuggestedMatch
from tests.loopback import Feed, FeedServer

EXAMPLES = Path(__file__).resolve().parents[3] / "matcher" / "connectors" / "examples"
LOOPBACK = ConnectorSettings(allow_http=True, allow_private=True, timeout_s=5)


def fixture_records() -> list[dict[str, Any]]:
    return list(json.loads((EXAMPLES / "partner-needs.json").read_text("utf-8"))["data"])


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer().start()
    yield feeds
    feeds.stop()


def serve(server: FeedServer, records: list[dict[str, Any]], *, per_page: int = 2, etags: bool = True) -> None:
    """The records as pages of ``per_page`` linked by ``links.next`` (the last page has none)."""
    server.feeds.clear()
    pages = [records[i : i + per_page] for i in range(0, len(records), per_page)] or [[]]
    for number, chunk in enumerate(pages, start=1):
        path = "/needs" if number == 1 else f"/needs?page={number}"
        links = {"next": f"/needs?page={number + 1}"} if number < len(pages) else {}
        body = json.dumps({"data": chunk, "links": links}).encode()
        etag = f'"v-{hash(body) & 0xFFFFFFFF:x}"' if etags else None
        server.feeds[path] = Feed(body, etag=etag)


def definition(server: FeedServer, **extra: str) -> ConnectorDefinition:
    text = (EXAMPLES / "partner-needs.toml").read_text("utf-8")
    text = text.replace('file = "partner-needs.json"', f'url = "{server.url("/needs")}"')
    text = text.replace(
        'records = "data"', 'records = "data"\n\n[source.paging]\nstyle = "next_link"\nnext = "links.next"'
    )
    return parse_definition(text)


def count(db: Database, model: type[Any]) -> int:
    with db.transaction(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def needs_by_ref(db: Database) -> dict[str, Need]:
    with db.transaction(read_only=True) as session:
        rows = session.scalars(select(Need)).all()
        return {n.external_id.split(":", 1)[1]: n for n in rows if n.external_id}


def test_first_run_creates_every_record_with_its_provenance(db: Database, server: FeedServer) -> None:
    serve(server, fixture_records())
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.status, report.created, report.updated, report.invalid) == ("succeeded", 4, 0, [])
    assert report.pages == 2  # the next link was followed
    needs = needs_by_ref(db)
    assert sorted(needs) == ["NCH-2026-001", "NCH-2026-002", "NCH-2026-003", "NCH-2026-004"]
    assert needs["NCH-2026-002"].party == "SEN"  # "Sénégal" (a French country name)
    assert needs["NCH-2026-003"].party == "VNM"  # "VN" (alpha-2)
    assert needs["NCH-2026-001"].targets == [3, 8]  # Aichi 10 and 11
    assert needs["NCH-2026-002"].language == "fr"
    with db.transaction(read_only=True) as session:
        sources = {s.source_id: s for s in session.scalars(select(RecordSource))}
    assert sorted(sources) == sorted(needs)
    for ref, source in sources.items():
        assert (source.connector, source.entity, source.record_id) == ("partner-needs", "need", needs[ref].id)
        assert source.source_url == f"https://chm.example.org/projects/{ref}"
        assert source.fetched_at is not None and source.withdrawn_at is None


def test_second_run_creates_and_updates_nothing(db: Database, server: FeedServer) -> None:
    serve(server, fixture_records(), etags=False)
    run_connector(db, definition(server), LOOPBACK)
    versions = {ref: n.version for ref, n in needs_by_ref(db).items()}
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.created, report.updated, report.unchanged, report.withdrawn) == (0, 0, 4, 0)
    assert report.parsed_pages == 2  # no validators: everything was read again, and found unchanged
    assert {ref: n.version for ref, n in needs_by_ref(db).items()} == versions


def test_a_changed_record_updates_and_the_audit_log_says_which_run(db: Database, server: FeedServer) -> None:
    records = fixture_records()
    serve(server, records)
    run_connector(db, definition(server), LOOPBACK)
    changed = copy.deepcopy(records)
    changed[2]["heading"] = "National invasive species early-warning and rapid-response system"
    serve(server, changed)
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    need = needs_by_ref(db)["NCH-2026-003"]
    assert need.title == changed[2]["heading"]
    with db.transaction(read_only=True) as session:
        updates = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "need", AuditEvent.action == "update")
        ).all()
        harvests = session.scalars(select(AuditEvent).where(AuditEvent.entity == "connector_run")).all()
    assert [(u.entity_id, u.note, u.actor_label) for u in updates] == [
        (need.id, f"connector run {report.run_id}", "connector partner-needs")
    ]
    assert [h.entity_id for h in harvests] == [report.run_id - 1, report.run_id]
    assert harvests[-1].changes["updated"] == [None, 1]


def test_a_removed_record_is_withdrawn_and_keeps_its_review(db: Database, server: FeedServer) -> None:
    records = fixture_records()
    serve(server, records)
    run_connector(db, definition(server), LOOPBACK)
    target = needs_by_ref(db)["NCH-2026-004"]
    run_connector(
        db, parse_definition((EXAMPLES / "partner-offers.toml").read_text("utf-8"), base=EXAMPLES), LOOPBACK
    )
    with db.transaction() as session:
        offer = session.scalars(select(Offer)).first()
        assert offer is not None
        session.add(
            SuggestedMatch(
                need_id=target.id,
                offer_id=offer.id,
                rank=1,
                score=0.8,
                components={},
                explanation={},
                model_id="test",
                status="rejected",
                reason="other",
                note="kept through withdrawal",
            )
        )
    serve(server, records[:3])
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.withdrawn, report.unchanged) == (1, 3)
    withdrawn = needs_by_ref(db)["NCH-2026-004"]
    assert withdrawn.status == "withdrawn"  # not deleted
    with db.transaction(read_only=True) as session:
        match = session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == target.id)).one()
        source = session.scalars(select(RecordSource).where(RecordSource.source_id == "NCH-2026-004")).one()
    assert (match.status, match.note) == ("rejected", "kept through withdrawal")
    assert source.withdrawn_at is not None
    # Listed again, it comes back with the source's status.
    serve(server, records)
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.updated, report.withdrawn) == (1, 0)
    assert needs_by_ref(db)["NCH-2026-004"].status == "open"


def test_a_failing_run_leaves_nothing_half_written(db: Database, server: FeedServer) -> None:
    records = fixture_records()
    serve(server, records)
    first = run_connector(db, definition(server), LOOPBACK)
    changed = copy.deepcopy(records)
    changed[0]["heading"] = "A change on page 1 that must not be written"
    changed.append({**records[0], "ref": "NCH-2026-099"})
    serve(server, changed)
    server.feeds["/needs?page=2"].status = 500  # page 1 is fine, page 2 fails
    report = run_connector(db, definition(server), LOOPBACK)
    assert report.status == "failed"
    assert report.error is not None and "answered 500" in report.error
    needs = needs_by_ref(db)
    assert sorted(needs) == sorted(r["ref"] for r in records)
    assert needs["NCH-2026-001"].title == records[0]["heading"]
    with db.transaction(read_only=True) as session:
        runs = session.scalars(select(ConnectorRun).order_by(ConnectorRun.id)).all()
        failure = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "connector_run", AuditEvent.entity_id == runs[-1].id)
        ).one()
        sources = session.scalar(select(func.count()).select_from(RecordSource))
    assert [r.status for r in runs] == ["succeeded", "failed"] and runs[0].id == first.run_id
    assert runs[-1].error == report.error and failure.changes["status"] == [None, "failed"]
    assert sources == 4


def test_a_304_costs_no_parsing(db: Database, server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(server, fixture_records())
    run_connector(db, definition(server), LOOPBACK)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a not-modified page was parsed")

    monkeypatch.setattr(fetch, "parse_records", refuse)
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.status, report.parsed_pages, report.not_modified_pages) == ("not_modified", 0, 2)
    assert (report.unchanged, report.withdrawn) == (4, 0)
    assert server.answered[-2:] == [("/needs", 304), ("/needs?page=2", 304)]
    assert server.requests[-1].headers["if-none-match"] == server.feeds["/needs?page=2"].etag


def test_last_modified_alone_makes_conditional_requests(db: Database, server: FeedServer) -> None:
    serve(server, fixture_records(), etags=False)
    for feed in server.feeds.values():
        feed.last_modified = "Mon, 07 Dec 2026 09:00:00 GMT"
    run_connector(db, definition(server), LOOPBACK)
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.status, report.parsed_pages, report.unchanged) == ("not_modified", 0, 4)
    assert server.requests[-1].headers["if-modified-since"] == "Mon, 07 Dec 2026 09:00:00 GMT"
    assert "if-none-match" not in server.requests[-1].headers


def test_one_changed_page_is_read_and_the_unchanged_one_still_counts(db: Database, server: FeedServer) -> None:
    records = fixture_records()
    serve(server, records)
    run_connector(db, definition(server), LOOPBACK)
    changed = copy.deepcopy(records)
    changed[3]["heading"] = "Access and benefit-sharing permits: model clauses and training"
    serve(server, changed)  # page 1 keeps its ETag, page 2 gets a new one
    report = run_connector(db, definition(server), LOOPBACK)
    assert (report.parsed_pages, report.not_modified_pages) == (1, 1)
    assert (report.updated, report.unchanged, report.withdrawn) == (1, 3, 0)


def test_offset_paging_and_link_headers_are_followed(db: Database, server: FeedServer) -> None:
    records = fixture_records()
    for offset in (0, 3, 6):
        chunk = records[offset : offset + 3]
        server.feeds[f"/list?offset={offset}&limit=3"] = Feed(json.dumps(chunk).encode())
    text = f"""
name = "offsets"
kind = "needs"
[source]
url = "{server.url("/list")}"
[source.paging]
style = "offset"
page_size = 3
[fields]
id = "ref"
title = "heading"
description = "summary"
party = "country_name"
requesting_organisation = "agency"
targets = "aichi"
assistance_types = "help"
[vocabularies.assistance_types]
"Technical advice" = "technical_advice"
"Data sharing" = "data_sharing"
"Policy and legal advice" = "policy_legal_advice"
"""
    report = run_connector(db, parse_definition(text), LOOPBACK)
    assert (report.pages, report.created) == (2, 4)  # a short page ends the paging
    server.feeds.clear()
    server.feeds["/a"] = Feed(json.dumps(records[:1]).encode(), headers={"Link": '</b?x=1>; rel="next"'})
    server.feeds["/b?x=1"] = Feed(json.dumps(records[1:2]).encode())
    linked = text.replace('name = "offsets"', 'name = "links"').replace("/list", "/a")
    linked = linked.replace('style = "offset"\npage_size = 3', 'style = "next_link"')
    report = run_connector(db, parse_definition(linked), LOOPBACK)
    assert (report.pages, report.created) == (2, 2)


def test_invalid_records_are_reported_with_their_reason_and_the_rest_written(
    db: Database, server: FeedServer
) -> None:
    records = fixture_records()
    records[1] = {**records[1], "country_name": "Atlantis"}
    records[2] = {**records[2], "summary": "short"}
    serve(server, records)
    report = run_connector(db, definition(server), LOOPBACK)
    assert report.created == 2
    reasons = {i.source_id: i.reason for i in report.invalid}
    assert "country 'Atlantis'" in reasons["NCH-2026-002"]
    assert reasons["NCH-2026-003"].startswith("description:")
    with db.transaction(read_only=True) as session:
        run = session.get(ConnectorRun, report.run_id)
        assert run is not None
        assert {i["source_id"] for i in run.invalid} == {"NCH-2026-002", "NCH-2026-003"}


def test_sources_follow_the_webhooks_outbound_rule(db: Database, server: FeedServer) -> None:
    serve(server, fixture_records())
    report = run_connector(db, definition(server), ConnectorSettings(allow_http=True))
    assert report.status == "failed"
    assert report.error is not None and "loopback address" in report.error
    report = run_connector(db, definition(server), ConnectorSettings(allow_private=True))
    assert report.error is not None and "must use https" in report.error
    assert server.requests == [] and count(db, Need) == 0


def test_a_file_source_in_csv(db: Database) -> None:
    text = (EXAMPLES / "partner-offers.toml").read_text("utf-8")
    report = run_connector(db, parse_definition(text, base=EXAMPLES), ConnectorSettings())
    assert (report.created, report.invalid) == (3, [])
    with db.transaction(read_only=True) as session:
        offers = {o.external_id: o for o in session.scalars(select(Offer))}
    reef = offers["partner-offers:RX-17"]
    assert (reef.organisation.country, reef.regions_served) == ("AUS", ["Oceania", "South-eastern Asia"])
    assert reef.assistance_types == ["technical_advice", "training"]
    assert reef.languages == ["en", "fr"]


def test_biobridge_fixtures_map_to_needs_and_offers(db: Database) -> None:
    for name in ("biobridge-requests", "biobridge-profiles"):
        text = (EXAMPLES / f"{name}.toml").read_text("utf-8")
        report = run_connector(db, parse_definition(text, base=EXAMPLES), ConnectorSettings())
        assert report.invalid == [], report.invalid
    with db.transaction(read_only=True) as session:
        needs = {n.external_id: n for n in session.scalars(select(Need))}
        offers = list(session.scalars(select(Offer)))
        sources = {s.source_id: s.source_url for s in session.scalars(select(RecordSource))}
    barcoding = needs["biobridge-requests:52000000cbd0120000001234"]
    assert (barcoding.party, barcoding.organisation.name) == ("MWI", "Malawi Fisheries Research Unit")
    assert barcoding.targets == [4, 20, 21]  # Aichi 12 and 19
    assert "reference library" in barcoding.description  # problem and objectives joined
    mapping = needs["biobridge-requests:52000000cbd0120000001235"]
    assert (mapping.language, mapping.party, mapping.organisation.name) == ("fr", "BEN", "Government of Benin")
    assert mapping.title.startswith("Cartographie")  # the document's own language
    (profile,) = offers
    assert (profile.organisation.country, profile.organisation.org_type) == ("UGA", "research_institute")
    assert (profile.regions_served, profile.countries_served) == (["Eastern Africa"], ["MWI"])
    assert profile.languages == ["en", "fr"]
    assert sources["52000000cbd0120000001234"] == "https://chm.cbd.int/database/record/52000000cbd0120000001234"


def test_an_unmapped_biobridge_term_is_reported(db: Database, tmp_path: Path) -> None:
    documents = json.loads((EXAMPLES / "biobridge-requests.json").read_text("utf-8"))
    documents[0]["assistanceTypes"] = [{"identifier": "5B0F0D3E-UNKNOWN"}]
    (tmp_path / "biobridge-requests.json").write_text(json.dumps(documents), encoding="utf-8")
    text = (EXAMPLES / "biobridge-requests.toml").read_text("utf-8")
    report = run_connector(db, parse_definition(text, base=tmp_path), ConnectorSettings())
    assert report.created == 1
    assert "unknown assistance type '5B0F0D3E" in report.invalid[0].reason
    mapped = text.replace(
        "[vocabularies.assistance_types]", '[vocabularies.assistance_types]\n"5B0F0D3E-UNKNOWN" = "training"'
    )
    report = run_connector(db, parse_definition(mapped, base=tmp_path), ConnectorSettings())
    assert (report.created, report.invalid) == (1, [])


def test_organisations_are_harvested_and_withdrawn_in_their_provenance(db: Database, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "code,org,kind,iso,web\n"
        "P1,Reef Science Network,network,AU,https://reefscience.example.org\n"
        "P2,Mangrove Restoration Alliance,ngo,SN,\n",
        encoding="utf-8",
    )
    text = f"""
name = "roster"
kind = "organisations"
[source]
file = "{roster}"
format = "csv"
[fields]
id = "code"
name = "org"
org_type = "kind"
country = "iso"
website = "web"
"""
    report = run_connector(db, parse_definition(text), ConnectorSettings())
    assert (report.created, report.invalid) == (2, [])
    assert run_connector(db, parse_definition(text), ConnectorSettings()).unchanged == 2
    roster.write_text("code,org,kind,iso,web\nP1,Reef Science Network,ngo,AU,\n", encoding="utf-8")
    report = run_connector(db, parse_definition(text), ConnectorSettings())
    assert (report.updated, report.withdrawn) == (1, 1)
    with db.transaction(read_only=True) as session:
        orgs = {o.name: o for o in session.scalars(select(Organisation))}
        withdrawn = session.scalars(select(RecordSource).where(RecordSource.source_id == "P2")).one()
    reef = orgs["Reef Science Network"]
    # The type follows the source; a website the source stops giving is kept (the importer's rule).
    assert (reef.org_type, reef.website) == ("ngo", "https://reefscience.example.org")
    assert "Mangrove Restoration Alliance" in orgs and withdrawn.withdrawn_at is not None

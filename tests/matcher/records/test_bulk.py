"""Bulk import/export: validation first, all-or-nothing, idempotent, streaming, round-trip."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from matcher.errors import InvalidInputError
from matcher.records.bulk import export_records, import_file
from models.db import Database
from models.repositories import NeedRepository, OfferRepository, OrganisationRepository
from tests.factories import broken_copy, need_row, offer_row


def counts(db: Database) -> tuple[int, int, int]:
    with db.transaction(read_only=True) as session:
        return (
            OfferRepository(session).count(),
            NeedRepository(session).count(),
            OrganisationRepository(session).count(),
        )


def write_jsonl(path: Path, rows: list[dict[str, object]] | list[str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_dev_offers_import_then_reimport_adds_nothing(db: Database, shared_dev: Path) -> None:
    report = import_file(db, shared_dev / "offers.jsonl", "offers")
    assert report.written and report.created == 200 and not report.errors
    offers, _, orgs = counts(db)
    assert offers == 200 and 0 < orgs <= 200
    again = import_file(db, shared_dev / "offers.jsonl", "offers")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 200)
    assert counts(db) == (200, 0, orgs)
    needs = import_file(db, shared_dev / "needs.jsonl", "needs")
    assert needs.created == 50 and counts(db)[1] == 50


def test_broken_rows_are_all_reported_and_nothing_is_written(
    db: Database, shared_dev: Path, tmp_path: Path
) -> None:
    path, bad_lines = broken_copy(shared_dev / "offers.jsonl", tmp_path / "broken.jsonl")
    report = import_file(db, path, "offers")
    assert [e.line for e in report.errors] == bad_lines
    assert "unknown region 'Oceana'; did you mean 'Oceania'?" in report.errors[0].message
    assert "invalid JSON" in report.errors[1].message
    assert "title: Field required" in report.errors[2].message
    assert not report.written
    assert counts(db) == (0, 0, 0)

    skipped = import_file(db, path, "offers", skip_invalid=True)
    assert skipped.written and skipped.created == 197 and len(skipped.errors) == 3
    assert counts(db)[0] == 197


def test_changed_rows_are_updated_in_place(sqlite_db: Database, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [offer_row(), offer_row(id="X002", title="Biosecurity dogs")])
    import_file(sqlite_db, path, "offers")
    write_jsonl(path, [offer_row(targets=[6, 21]), offer_row(id="X002", title="Biosecurity dogs")])
    report = import_file(sqlite_db, path, "offers")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    with sqlite_db.transaction(read_only=True) as session:
        offer = OfferRepository(session).get_by_external_id("X001")
        assert offer is not None and offer.targets == [6, 21] and offer.version == 2


def test_duplicate_ids_in_one_file_are_errors(sqlite_db: Database, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [offer_row(), offer_row(title="Same id again")])
    report = import_file(sqlite_db, path, "offers")
    assert [(e.line, e.message) for e in report.errors] == [(2, "duplicate id 'X001' (first used on line 1)")]
    assert counts(sqlite_db) == (0, 0, 0)


def test_csv_round_trip_is_unchanged(db: Database, tmp_path: Path) -> None:
    offers = write_jsonl(tmp_path / "o.jsonl", [offer_row(), offer_row(id="X002", countries_served=["WSM"])])
    needs = write_jsonl(tmp_path / "n.jsonl", [need_row(), need_row(id="Y002", party="PER", region=None)])
    import_file(db, offers, "offers")
    import_file(db, needs, "needs")
    for kind in ("offers", "needs"):
        buffer = io.StringIO()
        assert export_records(db, kind, buffer, fmt="csv") == 2
        csv_path = tmp_path / f"{kind}.csv"
        csv_path.write_text(buffer.getvalue(), encoding="utf-8")
        report = import_file(db, csv_path, kind)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 2), report.errors
    exported = io.StringIO()
    export_records(db, "needs", exported)
    first = json.loads(exported.getvalue().splitlines()[0])
    assert first["region"] == "Melanesia" and first["requesting_organisation"].startswith("Ministry")


def test_csv_errors_carry_file_line_numbers(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "needs.csv"
    header = "id,party,requesting_organisation,title,description,targets,assistance_types,language"
    path.write_text(
        f"{header}\n"
        'Y1,FJI,Ministry of Environment,Rats on islets,"Rats eat chicks;\nwe need help.",6,training,en\n'
        "Y2,XXX,Ministry of Environment,Rats on islets,Rats eat chicks on islets.,6,training,en\n",
        encoding="utf-8",
    )
    report = import_file(sqlite_db, path, "needs")
    assert [e.line for e in report.errors] == [4]
    assert "unknown country 'XXX'" in report.errors[0].message


def test_unknown_file_format_is_a_clear_error(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "offers.xlsx"
    path.write_text("nope", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"use \.jsonl or \.csv"):
        import_file(sqlite_db, path, "offers")


def _synthetic(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = offer_row(id=f"S{i:06d}", organisation=f"Provider {i % 50}", targets=[i % 23 + 1])
            handle.write(json.dumps(row) + "\n")
    return path


def test_import_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Streaming: importing 10x more rows must not take anywhere near 10x the peak memory."""
    from models import migrate
    from models.db import sqlite_url

    peaks = []
    for n in (300, 3000):
        database = Database(sqlite_url(tmp_path / f"m{n}.db"))
        migrate.upgrade(database)
        path = _synthetic(tmp_path / f"s{n}.jsonl", n)
        tracemalloc.start()
        report = import_file(database, path, "offers", chunk_size=200)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        database.dispose()
        assert report.created == n
    assert peaks[1] < 3 * peaks[0], peaks

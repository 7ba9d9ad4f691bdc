"""Export then import of the demo corpus after records were made through the API (as users make them, without
external ids): every record comes back as itself, so the round trip creates and changes nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from matcher.records.bulk import export_records, import_file
from models import migrate
from models.db import Database, sqlite_url
from models.orm import Need, Offer, Organisation
from tests.api.conftest import NEED_BODY, OFFER_BODY, Api, unique


def created(api: Api, role: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(role, path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def counts(api: Api) -> tuple[int, int, int]:
    with api.db.transaction(read_only=True) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0 for model in (Need, Offer, Organisation)
        )


def test_export_then_import_creates_and_changes_nothing(api: Api, tmp_path: Path) -> None:
    trust = created(
        api,
        "secretariat",
        "/v1/organisations",
        {
            "name": unique("Round trip trust "),
            "org_type": "ngo",
            "country": "BRA",
            "website": "https://trust.test/",
        },
    )
    made = [
        created(api, "secretariat", "/v1/offers", {**OFFER_BODY, "organisation_id": trust["id"]}),
        created(
            api, "provider_a", "/v1/offers", {**OFFER_BODY, "title": unique("Wetland survey "), "capacity": 2}
        ),
        created(api, "party_ken", "/v1/needs", {**NEED_BODY, "title": unique("Peatland maps ")})["need"],
        created(api, "party_bra", "/v1/needs", {**NEED_BODY, "visibility": "confidential"})["need"],
        # The secretariat may post a need for Kenya on behalf of an institution of another country.
        created(api, "secretariat", "/v1/needs", {**NEED_BODY, "party": "KEN", "organisation_id": trust["id"]})[
            "need"
        ],
    ]
    assert all(record["external_id"] for record in made)  # every record has its stable id from the start
    before = counts(api)

    reports = {}
    for kind in ("needs", "offers"):
        path = tmp_path / f"{kind}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            exported = export_records(api.db, kind, out)
        reports[kind] = import_file(api.db, path, kind)
        assert reports[kind].rows == exported and not reports[kind].errors

    figures = {kind: (r.created, r.updated, r.unchanged) for kind, r in reports.items()}
    assert figures == {kind: (0, 0, r.rows) for kind, r in reports.items()}, figures
    assert counts(api) == before  # no organisation either


def test_an_export_imported_into_an_empty_database_exports_the_same_records(api: Api, tmp_path: Path) -> None:
    created(
        api,
        "secretariat",
        "/v1/organisations",
        {
            "name": unique("Exported trust "),
            "org_type": "ngo",
            "country": "PER",
            "website": "https://exported.test/",
        },
    )
    trust = api.get("secretariat", "/v1/organisations", params={"q": "Exported trust"}).json()["items"][0]
    created(api, "secretariat", "/v1/offers", {**OFFER_BODY, "organisation_id": trust["id"]})
    copy = Database(sqlite_url(tmp_path / "copy.db"))
    migrate.upgrade(copy)
    try:
        for kind in ("offers", "needs"):
            original = tmp_path / f"{kind}.jsonl"
            with original.open("w", encoding="utf-8") as out:
                export_records(api.db, kind, out)
            assert import_file(copy, original, kind).written
            again = io.StringIO()
            export_records(copy, kind, again)
            assert again.getvalue() == original.read_text(encoding="utf-8")  # websites and organisations too
    finally:
        copy.dispose()

"""The public feeds (/v1/feeds/...): paged, ETags, since, two shapes; a second Pollinate harvesting the first
reproduces its public records; harvested records link back to their source on their pages; connector routes."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from matcher.connectors.definition import parse_definition
from matcher.connectors.harvest import run_connector
from matcher.settings import ConnectorSettings
from models import migrate
from models.db import Database
from models.orm import Need, Offer
from tests.api.conftest import Api, api_settings, running_app

LOOPBACK = ConnectorSettings(allow_http=True, allow_private=True, timeout_s=30)
EXAMPLES = Path(__file__).resolve().parents[2] / "matcher" / "connectors" / "examples"


def harvester(tmp_path: Path) -> Database:
    db = api_settings(tmp_path).open_database()
    migrate.upgrade(db)
    return db


def definition(name: str, kind: str, mapping: str, path: str, page_size: int = 40) -> Any:
    return parse_definition(
        f"""
name = "{name}"
kind = "{kind}"
mapping = "{mapping}"
[source]
url = "http://127.0.0.1{path}"
format = "json"
records = "items"
[source.paging]
style = "next_link"
next = "next"
"""
    )


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Database]:
    db = harvester(tmp_path)
    yield db
    db.dispose()


def all_items(api: Api, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url is not None:
        page = api.client.get(url)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        url = page.json()["next"]
    return items


def test_feeds_page_by_cursor_and_list_only_what_is_public(api: Api) -> None:
    first = api.client.get("/v1/feeds/offers?limit=50")
    assert first.status_code == 200
    body = first.json()
    assert len(body["items"]) == 50 and body["next"].startswith("/v1/feeds/offers?")
    assert first.headers["link"] == f'<{body["next"]}>; rel="next"'
    offers = all_items(api, "/v1/feeds/offers?limit=50")
    with api.db.transaction(read_only=True) as session:
        active = {o.external_id for o in session.scalars(select(Offer).where(Offer.status == "active"))}
        public = {n.external_id for n in session.scalars(select(Need).where(Need.visibility == "public"))}
    assert {o["id"] for o in offers} == active  # the paused offer is not listed, and no offer twice
    needs = all_items(api, "/v1/feeds/needs")
    assert {n["id"] for n in needs} == public and api.confidential_title not in str(needs)
    assert needs[0]["url"].endswith(f"/needs/{_id(api, needs[0]['id'])}")


def _id(api: Api, external_id: str) -> int:
    with api.db.transaction(read_only=True) as session:
        need = session.scalars(select(Need).where(Need.external_id == external_id)).one()
        return need.id


def test_feed_etags_answer_304_until_something_changes(api: Api) -> None:
    page = api.client.get("/v1/feeds/needs")
    tag = page.headers["etag"]
    assert api.client.get("/v1/feeds/needs", headers={"If-None-Match": tag}).status_code == 304
    posted = api.post("party_ken", "/v1/needs", json={**_need_body(), "title": "Feed change marker need"})
    assert posted.status_code == 201
    again = api.client.get("/v1/feeds/needs", headers={"If-None-Match": tag})
    assert again.status_code == 200 and again.headers["etag"] != tag


def test_since_keeps_only_recent_changes(api: Api) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert api.client.get("/v1/feeds/needs", params={"since": later}).json()["items"] == []
    everything = api.client.get("/v1/feeds/needs", params={"since": "2000-01-01T00:00:00Z", "limit": 1000})
    assert len(everything.json()["items"]) == len(all_items(api, "/v1/feeds/needs"))


def _need_body() -> dict[str, Any]:
    from tests.api.conftest import NEED_BODY

    return dict(NEED_BODY)


def _need_key(n: Need | dict[str, Any]) -> tuple[Any, ...]:
    if isinstance(n, dict):
        return (
            n["title"],
            n["description"],
            n["party"],
            tuple(n["targets"]),
            tuple(n["assistance_types"]),
            n["language"],
            n["status"],
            n["requesting_organisation"],
        )
    return (
        n.title,
        n.description,
        n.party,
        tuple(n.targets),
        tuple(n.assistance_types),
        n.language,
        n.status,
        n.organisation.name,
    )


def _offer_key(o: Offer) -> tuple[Any, ...]:
    org = o.organisation
    return (
        o.title,
        o.description,
        org.name,
        org.org_type,
        org.country,
        org.website,
        tuple(o.targets),
        tuple(o.assistance_types),
        tuple(o.languages),
        tuple(o.regions_served),
        tuple(o.countries_served),
        o.cost,
        o.capacity,
        o.status,
        o.expires_on,
    )


def test_a_second_pollinate_harvesting_the_feeds_reproduces_the_public_records(api: Api, second: Database) -> None:
    needs = run_connector(
        second,
        definition("first-needs", "needs", "pollinate", "/v1/feeds/needs?limit=20"),
        LOOPBACK,
        client=api.client,
    )
    offers = run_connector(
        second,
        definition("first-offers", "offers", "pollinate", "/v1/feeds/offers?limit=50"),
        LOOPBACK,
        client=api.client,
    )
    assert needs.status == offers.status == "succeeded"
    assert needs.invalid == offers.invalid == []
    assert needs.pages > 1 and offers.pages > 1
    with api.db.transaction(read_only=True) as session:
        first_needs = sorted(
            _need_key(n) for n in session.scalars(select(Need).where(Need.visibility == "public"))
        )
        first_offers = sorted(
            _offer_key(o) for o in session.scalars(select(Offer).where(Offer.status == "active"))
        )
    with second.transaction(read_only=True) as session:
        second_needs = sorted(_need_key(n) for n in session.scalars(select(Need)))
        second_offers = sorted(_offer_key(o) for o in session.scalars(select(Offer)))
    assert second_needs == first_needs
    assert second_offers == first_offers
    # Harvesting again: every page answers 304, nothing is parsed or changed.
    again = run_connector(
        second,
        definition("first-offers", "offers", "pollinate", "/v1/feeds/offers?limit=50"),
        LOOPBACK,
        client=api.client,
    )
    assert (again.status, again.parsed_pages, again.unchanged) == ("not_modified", 0, len(first_offers))


def test_the_biobridge_shape_is_harvested_by_the_biobridge_mappings(api: Api, second: Database) -> None:
    needs = run_connector(
        second,
        definition("bb-needs", "needs", "biobridge-request", "/v1/feeds/needs?format=biobridge"),
        LOOPBACK,
        client=api.client,
    )
    offers = run_connector(
        second,
        definition("bb-offers", "offers", "biobridge-profile", "/v1/feeds/offers?format=biobridge"),
        LOOPBACK,
        client=api.client,
    )
    assert (needs.invalid, offers.invalid) == ([], [])
    with api.db.transaction(read_only=True) as session:
        first = sorted(_need_key(n) for n in session.scalars(select(Need).where(Need.visibility == "public")))
        first_offers = sorted(
            (
                o.title,
                o.description,
                o.organisation.name,
                o.organisation.country,
                tuple(o.targets),
                tuple(o.assistance_types),
                tuple(o.regions_served),
                tuple(o.countries_served),
            )
            for o in session.scalars(select(Offer).where(Offer.status == "active"))
        )
    with second.transaction(read_only=True) as session:
        assert sorted(_need_key(n) for n in session.scalars(select(Need))) == first
        assert (
            sorted(
                (
                    o.title,
                    o.description,
                    o.organisation.name,
                    o.organisation.country,
                    tuple(o.targets),
                    tuple(o.assistance_types),
                    tuple(o.regions_served),
                    tuple(o.countries_served),
                )
                for o in session.scalars(select(Offer))
            )
            == first_offers
        )


def test_harvested_records_link_back_to_their_source(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    db = settings.open_database()
    migrate.upgrade(db)
    try:
        report = run_connector(
            db,
            parse_definition((EXAMPLES / "partner-needs.toml").read_text("utf-8"), base=EXAMPLES),
            ConnectorSettings(),
        )
        assert report.created == 4
        with db.transaction(read_only=True) as session:
            need = session.scalars(select(Need).where(Need.external_id == "partner-needs:NCH-2026-001")).one()
        with running_app(settings) as client:
            page = client.get(f"/needs/{need.id}")
            assert page.status_code == 200
            assert 'href="https://chm.example.org/projects/NCH-2026-001"' in page.text
            assert ">partner-needs</a>" in page.text
            plain = client.get("/offers")
            assert "record__sources" not in plain.text
    finally:
        db.dispose()


def test_connector_routes_are_the_secretariats(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name in ("partner-needs.toml", "partner-needs.json"):
        shutil.copy(EXAMPLES / name, folder / name)
    api.client.app.state.settings = api.settings.model_copy(  # type: ignore[attr-defined]
        update={"connectors": ConnectorSettings(directory=folder)}
    )
    try:
        assert api.get("provider_a", "/v1/connectors").status_code == 403
        assert api.client.get("/v1/connectors/runs").status_code == 401
        listed = api.get("secretariat", "/v1/connectors")
        assert [c["name"] for c in listed.json()] == ["partner-needs"] and listed.json()[0]["last_run"] is None
        ran = api.post("secretariat", "/v1/connectors/partner-needs/runs")
        assert ran.status_code == 201, ran.text
        assert (ran.json()["status"], ran.json()["created"], ran.json()["trigger"]) == ("succeeded", 4, "api")
        runs = api.get("secretariat", "/v1/connectors/runs", params={"connector": "partner-needs"}).json()
        assert runs["total"] == 1 and runs["items"][0]["id"] == ran.json()["id"]
        assert api.get("admin", f"/v1/connectors/runs/{ran.json()['id']}").json()["created"] == 4
        assert api.post("secretariat", "/v1/connectors/nobody/runs").status_code == 404
        audit = api.get("secretariat", "/v1/audit", params={"entity": "connector_run", "action": "harvest"})
        assert audit.json()["items"][0]["entity_id"] == ran.json()["id"]
    finally:
        api.client.app.state.settings = api.settings  # type: ignore[attr-defined]


def test_the_secretariat_sees_a_harvested_need_and_its_hand_typed_copy_side_by_side(api: Api) -> None:
    definition = parse_definition((EXAMPLES / "partner-needs.toml").read_text("utf-8"), base=EXAMPLES)
    assert run_connector(api.db, definition, ConnectorSettings()).status == "succeeded"
    copy = {
        **_need_body(),
        "party": "PER",
        "title": "Model clauses for mutually agreed terms under the Nagoya Protocol",
        "description": "Legal advice on model contractual clauses for mutually agreed terms under the Nagoya "
        "Protocol is needed by our ABS focal point, and training for the permit office staff.",
    }
    posted = api.post("secretariat", "/v1/needs", json=copy)
    assert posted.status_code == 201, posted.text
    assert api.get("provider_a", "/v1/duplicates", params={"kind": "needs"}).status_code == 403
    pairs = api.get("secretariat", "/v1/duplicates", params={"kind": "needs"}).json()
    (pair,) = [p for p in pairs if posted.json()["need"]["id"] in (p["left"]["id"], p["right"]["id"])]
    sides = sorted([pair["left"], pair["right"]], key=lambda side: side["sources"])
    assert [s["sources"] for s in sides] == [["partner-needs"], ["typed in"]]
    assert sides[0]["fields"]["external_id"] == "partner-needs:NCH-2026-004"
    assert pair["score"] >= 0.45 and "same country PER" in pair["reasons"]
    # The secretariat keeps the hand-typed need: the harvested copy is withdrawn and its provenance moves.
    harvested, typed = sides[0]["id"], sides[1]["id"]
    body = {"kind": "needs", "survivor_id": typed, "merged_id": harvested}
    assert api.post("secretariat", "/v1/duplicates/merge", json={**body, "extra": 1}).status_code == 422
    merged = api.post("secretariat", "/v1/duplicates/merge", json=body)
    assert merged.status_code == 200, merged.text
    assert merged.json() == {
        **body,
        "merged_status": "withdrawn",
        "moved_sources": ["partner-needs:NCH-2026-004"],
    }
    assert api.post("admin", "/v1/duplicates/merge", json=body).json()["error"] == "conflict"
    assert api.get("secretariat", f"/v1/needs/{harvested}").json()["status"] == "withdrawn"
    pairs = api.get("secretariat", "/v1/duplicates", params={"kind": "needs"}).json()
    assert not [p for p in pairs if {p["left"]["id"], p["right"]["id"]} == {typed, harvested}]
    audit = api.get("secretariat", "/v1/audit", params={"action": "merge", "entity_id": harvested}).json()
    assert [e["changes"]["merged_into"] for e in audit["items"]] == [[None, typed]]

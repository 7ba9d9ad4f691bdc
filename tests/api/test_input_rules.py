"""Input the API refuses cleanly, and an OpenAPI document that says what the code enforces (issue 19).

A red-team run against a live server found NUL bytes answering 500 on PostgreSQL (and ``q=%00`` matching every
offer on SQLite), ``If-Match: "²"`` answering 500, titles of zero-width spaces passing the minimum length, and a
schema that allowed requests the code refused and the other way round. The text rules run on both backends;
the schema checks compare the document with what the running app answers, operation by operation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from models import vocabularies as vocab
from models.orm import AUDIT_ACTIONS, AUDIT_ENTITIES, DELIVERY_STATUSES, JOB_STATUSES, MATCH_STATUSES
from models.repositories import REVIEW_SORTS
from tests.api.conftest import NEED_BODY, OFFER_BODY, Api, start_api, unique
from tests.postgres import PostgresServer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The fixture app on each backend (PostgreSQL is where NUL used to fail)."""
    tmp = tmp_path_factory.mktemp("rules")
    if request.param == "sqlite":
        yield from start_api(tmp)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        with server.database() as url:
            yield from start_api(tmp, database_url=url)


def refused(response: Any, field: str) -> str:
    """The detail of a 422 that names ``field``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["error"], body.get("field")) == ("invalid_input", field), body
    return str(body["detail"])


# ------------------------------------------------------------------------------ control characters

CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85"]


@pytest.mark.parametrize(
    ("role", "path"), [("anonymous", "/v1/offers"), ("party_ken", "/v1/needs"), ("party_ken", "/v1/organisations")]
)
@pytest.mark.parametrize("control", ["\x00", "\x1f"])
def test_a_control_character_in_a_search_is_refused(any_api: Api, role: str, path: str, control: str) -> None:
    for q in (control, f"wetland{control}"):
        detail = refused(any_api.get(role, path, params={"q": q}), "q")
        assert f"U+{ord(control):04X}" in detail


def _text_bodies(marker: str, text: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(role, path, field, body) with ``text`` in one text field of each kind of record."""
    need = {**NEED_BODY, "title": f"Need {marker}"}
    offer = {**OFFER_BODY, "title": f"Offer {marker}"}
    org = {"name": f"Org {marker}", "org_type": "ngo", "country": "KEN"}
    subscription = {"kind": "query", "label": f"Alert {marker}", "query": "wetland maps", "channels": ["feed"]}
    return [
        ("party_ken", "/v1/needs", "title", {**need, "title": f"Need {marker} {text}"}),
        ("party_ken", "/v1/needs", "description", {**need, "description": f"{NEED_BODY['description']} {text}"}),
        ("party_ken", "/v1/needs", "requesting_organisation", {**need, "requesting_organisation": f"Min {text}"}),
        ("provider_a", "/v1/offers", "title", {**offer, "title": f"Offer {marker} {text}"}),
        (
            "provider_a",
            "/v1/offers",
            "description",
            {**offer, "description": f"{OFFER_BODY['description']} {text}"},
        ),
        ("secretariat", "/v1/organisations", "name", {**org, "name": f"Org {marker} {text}"}),
        ("provider_a", "/v1/subscriptions", "query", {**subscription, "query": f"wetland {text} maps"}),
        ("provider_a", "/v1/subscriptions", "label", {**subscription, "label": f"Alert {marker} {text}"}),
        ("party_ken", "/v1/match", "text", {"text": f"wetland {text} maps"}),
    ]


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("case", range(9))
def test_a_control_character_in_a_text_field_is_refused_and_nothing_is_stored(
    any_api: Api, control: str, case: int
) -> None:
    marker = unique()
    role, path, field, body = _text_bodies(marker, f"a{control}b")[case]
    detail = refused(any_api.post(role, path, json=body), field)
    assert f"U+{ord(control):04X}" in detail
    if path != "/v1/match":
        listing = "/v1/organisations" if path == "/v1/organisations" else path
        if path == "/v1/subscriptions":
            items = any_api.get("secretariat", listing, params={"limit": 200}).json()["items"]
            assert not [s for s in items if marker in (s["label"] or "")]
        else:
            assert any_api.get("secretariat", listing, params={"q": marker}).json()["total"] == 0


def test_a_control_character_in_a_patch_is_refused(any_api: Api) -> None:
    path = f"/v1/needs/{any_api.new_need()}"
    before = any_api.get("secretariat", path).json()
    response = any_api.call(
        "secretariat", "PATCH", path, json={"title": "Wetlands\x00 maps"}, headers={"If-Match": any_api.etag(path)}
    )
    refused(response, "title")
    assert any_api.get("secretariat", path).json() == before


def test_tabs_and_line_breaks_are_text(any_api: Api) -> None:
    """Tab, line feed and carriage return stay (CRLF is how browsers submit a textarea's line breaks)."""
    description = "We need help mapping wetlands.\r\n\r\n\tFirst: the lake basin;\n\tthen the peatlands."
    body = {**NEED_BODY, "title": f"  Wetland maps {unique()}\t", "description": f"\n{description}\r\n"}
    posted = any_api.post("party_ken", "/v1/needs", json=body)
    assert posted.status_code == 201, posted.text
    need = posted.json()["need"]
    assert (need["title"], need["description"]) == (body["title"].strip(), description)


# ------------------------------------------------------------------------------------ visible length

INVISIBLE_TITLES = [
    "\u200b" * 6,  # zero-width spaces
    "\u200ba\u200b\u200bb\u200b",  # two visible characters among zero-width ones
    "\u2060\ufeff\u200dx\u00a0\u3000",  # word joiner, BOM, zero-width joiner; no-break and ideographic spaces
    " \t\r\n ab \u2028",
]


@pytest.mark.parametrize("title", INVISIBLE_TITLES)
def test_minimum_lengths_count_visible_characters(any_api: Api, title: str) -> None:
    detail = refused(any_api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": title}), "title")
    assert "at least 3 visible characters" in detail


def test_invisible_characters_inside_a_title_are_kept(any_api: Api) -> None:
    title = f"a\u200bbc {unique()}"  # a zero-width space between visible letters (e.g. a line-break hint)
    posted = any_api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": title})
    assert posted.status_code == 201, posted.text
    assert posted.json()["need"]["title"] == title


def test_the_maximum_length_is_checked_as_documented(any_api: Api) -> None:
    """JSON Schema's maxLength counts the text as sent; so does the API (it used to strip first)."""
    documented = any_api.client.app.openapi()["components"]["schemas"]["NeedCreate"]["properties"]["title"]
    limit = documented["maxLength"]
    too_long = {**NEED_BODY, "title": "t" * limit + " "}
    assert "at most" in refused(any_api.post("party_ken", "/v1/needs", json=too_long), "title")
    fits = any_api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": " " + "t" * (limit - 1)})
    assert fits.status_code == 201, fits.text
    assert fits.json()["need"]["title"] == "t" * (limit - 1)


# ------------------------------------------------------------------------------------------- If-Match


def _document(api: Api) -> dict[str, Any]:
    return api.client.app.openapi()  # type: ignore[no-any-return]


def _operations(api: Api) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every /v1 operation."""
    for path, item in _document(api)["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in item.items():
                yield method.upper(), path, operation


def _if_match(operation: dict[str, Any]) -> dict[str, Any] | None:
    return next((p for p in operation.get("parameters", ()) if p["name"].lower() == "if-match"), None)


def _fresh_path(api: Api, template: str) -> str:
    """``template`` with new records of the fixture organisations in its path (so that changes are harmless)."""
    ids = {
        "{need_id}": lambda: api.new_need(),
        "{offer_id}": lambda: api.new_offer(),
        "{organisation_id}": lambda: api.new_organisation(),
        "{subscription_id}": lambda: api.new_subscription(),
        "{match_id}": lambda: api.new_match(),
        "{delivery_id}": lambda: api.new_delivery(api.new_subscription(webhook=True)),
        "{job_id}": lambda: api.new_job(),
        "{name}": lambda: "targets",
        "{token}": lambda: "a" * 24,
    }
    for name, make in ids.items():
        if name in template:
            template = template.replace(name, str(make()))
    return template


def _body(method: str, path: str) -> dict[str, Any] | None:
    """A valid body for the conditional requests (an empty PATCH changes nothing)."""
    if path.endswith("/decision"):
        return {"action": "shortlist"}
    return {} if method == "PATCH" else None


def _conditional_operations(api: Api) -> list[tuple[str, str, bool]]:
    found = [(m, p, param["required"]) for m, p, op in _operations(api) if (param := _if_match(op)) is not None]
    assert len(found) == 12, found  # PATCH x4, DELETE x4, withdraw, pause, resume, decision
    return found


def _raw(api: Api, method: str, path: str, headers: list[tuple[bytes, bytes]], body: Any) -> tuple[int, Any]:
    """Send a request with header bytes as given (the test client re-encodes non-ASCII header values as UTF-8;
    HTTP clients such as ``requests`` send them as Latin-1, which is how ``"²"`` reached the server)."""
    content = b"" if body is None else json.dumps(body).encode()
    authorization = f"Bearer {api.keys['secretariat']}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", authorization),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": content, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    api.client.portal.call(api.client.app, scope, receive, send)  # type: ignore[union-attr]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


@pytest.mark.parametrize("value", [b'"\xb2"', b"\xb3", b'W/"\xb9"', b'"3', b'"1"x', b"3.0", b'"99999999999"'])
def test_a_malformed_if_match_is_refused_on_every_route_that_reads_it(api: Api, value: bytes) -> None:
    """``str.isdigit`` accepted the superscripts ``²³¹`` (Latin-1 bytes over HTTP) and ``int`` then failed: 500."""
    for method, template, _ in _conditional_operations(api):
        path = _fresh_path(api, template)
        status, body = _raw(api, method, path, [(b"if-match", value)], _body(method, template))
        assert (status, body.get("field")) == (422, "If-Match"), (method, template, status, body)


def test_if_match_is_required_in_the_schema_exactly_where_the_code_requires_it(api: Api) -> None:
    for method, template, required in _conditional_operations(api):
        response = api.call("secretariat", method, _fresh_path(api, template), json=_body(method, template))
        assert (response.status_code == 428) == required, (method, template, response.status_code, required)


def test_the_if_match_pattern_is_the_one_enforced(api: Api) -> None:
    documented = {p["schema"].get("pattern") for _, _, op in _operations(api) if (p := _if_match(op)) is not None}
    assert len(documented) == 1
    pattern = re.compile(documented.pop())
    for value, valid in [('"3"', True), ('W/"3"', True), ("3", True), ("*", True), ('"²"', False), ('"3', False)]:
        assert (pattern.fullmatch(value) is not None) == valid, value
        if value.isascii():  # a new need is at version 1: "3" is stale, "*" is any version
            path = f"/v1/needs/{api.new_need()}"
            response = api.call("secretariat", "PATCH", path, json={}, headers={"If-Match": value})
            assert response.status_code == (200 if value == "*" else 412 if valid else 422), value


# ------------------------------------------------------------------------------------------------ 405


def test_a_405_lists_every_method_of_the_path(api: Api) -> None:
    for path, item in _document(api)["paths"].items():
        concrete = _fresh_path(api, path)
        response = api.call("secretariat", "PUT", concrete)  # no route of this API takes PUT
        assert response.status_code == 405, (path, response.status_code)
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert allowed == {m.upper() for m in item}, path


# ----------------------------------------------------------------------------------------- security


def test_routes_open_to_anonymous_callers_declare_the_key_optional(api: Api) -> None:
    """A required key means 401 without one; an optional key (``{}`` among the requirements) never does."""
    checked = 0
    for method, template, operation in _operations(api):
        requirements = operation["security"]
        assert {"HTTPBearer": []} in requirements
        response = api.call("anonymous", method, _fresh_path(api, template), json=_body(method, template))
        assert (response.status_code == 401) == ({} not in requirements), (method, template, response.status_code)
        checked += 1
    assert checked >= 48


# ------------------------------------------------------------------------------------- vocabularies

VOCABULARIES: dict[str, list[Any]] = {
    "Target": sorted(vocab.targets()),
    "CountryCode": sorted(vocab.countries()),
    "Area": sorted(set(vocab.geographic_areas())),
    "Place": sorted({*vocab.countries(), *vocab.geographic_areas()}),
    "LanguageCode": sorted(vocab.languages()),
    "AssistanceType": sorted(vocab.ASSISTANCE_TYPES),
    "OrganisationType": sorted(vocab.ORGANISATION_TYPES),
    "Cost": sorted(vocab.COSTS),
    "OfferStatus": sorted(vocab.OFFER_STATUSES),
    "NeedStatus": sorted(vocab.NEED_STATUSES),
    "NeedStatusOfMatch": sorted(vocab.NEED_STATUSES),
    "MatchStatus": sorted(MATCH_STATUSES),
    "DeliveryStatus": sorted(DELIVERY_STATUSES),
    "JobStatus": sorted(JOB_STATUSES),
    "AuditEntity": sorted(AUDIT_ENTITIES),
    "AuditAction": sorted(AUDIT_ACTIONS),
    "ReviewSort": sorted(REVIEW_SORTS),
}
VOCABULARY_PARAMETERS = {
    "target",
    "region",
    "country",
    "type",
    "status",
    "need_status",
    "language",
    "org_type",
    "entity",
    "action",
    "sort",
    "only_target",
    "only_region",
    "only_type",
    "only_language",
    "only_cost",
    "only_org_type",
}


def test_vocabulary_parameters_are_enums_of_the_canonical_values(api: Api) -> None:
    components = _document(api)["components"]["schemas"]
    for name, values in VOCABULARIES.items():
        assert sorted(components[name]["enum"]) == values, name
    seen = set()
    for method, path, operation in _operations(api):
        for param in operation.get("parameters", ()):
            if param["in"] == "query" and param["name"] in VOCABULARY_PARAMETERS:
                schema = param["schema"].get("items", param["schema"])
                assert schema["$ref"].removeprefix("#/components/schemas/") in VOCABULARIES, (method, path, param)
                seen.add(param["name"])
    assert seen == VOCABULARY_PARAMETERS


def test_vocabulary_fields_of_the_bodies_are_enums(api: Api) -> None:
    schemas = _document(api)["components"]["schemas"]
    for model, field, component in [
        ("NeedCreate", "party", "CountryCode"),
        ("NeedCreate", "language", "LanguageCode"),
        ("NeedCreate", "assistance_types", "AssistanceType"),
        ("OfferCreate", "regions_served", "Area"),
        ("OfferCreate", "countries_served", "CountryCode"),
        ("OfferCreate", "cost", "Cost"),
        ("OrganisationCreate", "org_type", "OrganisationType"),
        ("MatchFiltersIn", "serves", "Place"),
        ("MatchFiltersIn", "languages", "LanguageCode"),
        ("MatchRequest", "assistance_types", "AssistanceType"),
        ("NeedConditions", "areas", "Place"),
    ]:
        documented = json.dumps(schemas[model]["properties"][field])
        assert f'"#/components/schemas/{component}"' in documented, (model, field)


def test_a_patch_body_documents_null_only_where_it_means_none(api: Api) -> None:
    schemas = _document(api)["components"]["schemas"]
    nullable = {
        "NeedUpdate": set(),
        "OfferUpdate": {"capacity", "expires_on"},
        "OrganisationUpdate": {"website"},
        "SubscriptionUpdate": {
            "label",
            "query",
            "rule",
            "min_score",
            "top_n",
            "min_verdict",
            "webhook_url",
            "email",
        },
    }
    for model, expected in nullable.items():
        properties = schemas[model]["properties"]
        accepts_null = {name for name, p in properties.items() if {"type": "null"} in p.get("anyOf", ())}
        assert accepts_null == expected, model


def test_audit_times_are_rfc3339_as_documented(api: Api) -> None:
    """``format: date-time`` is RFC 3339; a number used to pass as a Unix time."""
    for until in ("0.5", "1700000000", "2026-01-31", "2026-01-31T09:00:00"):
        assert "RFC 3339" in refused(api.get("secretariat", "/v1/audit", params={"until": until}), "until")
    ok = api.get("secretariat", "/v1/audit", params={"until": "2026-01-31T09:00:00+01:00", "limit": 1})
    assert ok.status_code == 200, ok.text


def test_a_duplicate_external_id_is_a_conflict_as_documented(api: Api) -> None:
    """409 is the documented answer when "the record exists already"; it was a 422, which told a client that a
    well-formed request was malformed."""
    external_id = unique("ext-")
    first = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "external_id": external_id})
    assert first.status_code == 201, first.text
    again = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "external_id": external_id})
    assert (again.status_code, again.json()["error"]) == (409, "conflict"), again.text
    offer = {**OFFER_BODY, "external_id": external_id}
    assert api.post("provider_a", "/v1/offers", json=offer).status_code == 201
    assert api.post("provider_a", "/v1/offers", json=offer).status_code == 409


def test_a_need_whose_language_cannot_be_told_is_stored(any_api: Api) -> None:
    """py3langid calls "000000000A" ``zxx`` (no linguistic content), which does not fit the two-character language
    column: PostgreSQL answered 500 (found by the PostgreSQL fuzz run)."""
    body = {**NEED_BODY, "title": f"000 {unique()}", "description": "000000000A"}
    posted = any_api.post("party_ken", "/v1/needs", json=body)
    assert posted.status_code == 201, posted.text
    assert posted.json()["need"]["language"] in vocab.languages()

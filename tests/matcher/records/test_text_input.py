"""Free text and vocabulary values as every input path checks them: the interchange records of ``pollinate import``
and the API's bodies and query parameters share ``Text`` and ``Vocabulary`` (``matcher/records.py``).

The JSON Schema pattern of a text field must accept exactly what its validator accepts (the OpenAPI document is
generated from it), and a control character must be refused before it reaches either database: PostgreSQL cannot
store NUL (an import used to fail inside its write transaction) and SQLite stored it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from typer.testing import CliRunner

from matcher.cli.main import app
from matcher.engine.texts import detect_language
from matcher.records import interchange as records
from matcher.records.bulk import import_file
from matcher.records.interchange import EMAIL_PATTERN, URL_PATTERN, Text, Vocabulary
from matcher.settings import Settings
from models import vocabularies as vocab
from models.db import Database
from models.repositories import NeedRepository, OfferRepository

SPECS = [
    Text(max_length=40),
    Text(max_length=40, min_visible=1),
    Text(max_length=40, min_visible=3),
    Text(max_length=40, pattern=URL_PATTERN, hint="a URL"),
    Text(max_length=40, pattern=EMAIL_PATTERN, hint="an address"),
]
# Characters that decide the rules, mixed into arbitrary text: controls (refused but tab, LF, CR), whitespace and
# format characters (allowed, not visible), astral format characters (plane 14 tags), and the URL/e-mail parts.
SPECIAL = list("\x00\x01\t\n\r\x0b\x1f\x7f\x85\x9f \xa0\u200b\u200d\u2028\u2060\u3000\ufeff\U000e0020\U0001d173")
SPECIAL += ["https://", "http://x.y", "@", ".", "a", "é", "日"]
texts = st.lists(st.sampled_from(SPECIAL) | st.text(max_size=3), max_size=12).map("".join)


def accepted(spec: Text, value: str) -> bool:
    try:
        spec.validate(value)
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(value=texts)
@example(value="\u200b" * 6)
@example(value=" https://x.org \t")
@example(value="a\u200bb\U000e0020c")
def test_the_documented_pattern_accepts_exactly_what_the_validator_accepts(value: str) -> None:
    for spec in SPECS:
        documented = re.fullmatch(spec.json_pattern(), value) is not None
        assert documented == accepted(spec, value), (spec, value)


def test_the_documented_length_is_the_length_as_sent() -> None:
    """The maximum counts the text before stripping, as JSON Schema's maxLength does (it used to strip first)."""
    title = TypeAdapter(records.Title)
    limit = title.json_schema()["maxLength"]
    assert title.validate_python(" " + "t" * (limit - 1)) == "t" * (limit - 1)
    with pytest.raises(ValueError, match="at most"):
        title.validate_python("t" * limit + " ")


VOCABULARY_FIELDS = ["TargetNumber", "AssistanceType", "OrganisationType", "CountryCode", "LanguageCode", "Area"]


@pytest.mark.parametrize("name", [*VOCABULARY_FIELDS, "Place", "Cost"])
def test_every_documented_vocabulary_value_is_accepted_as_itself(name: str) -> None:
    field = getattr(records, name)
    vocabulary = next(m for m in get_args(field)[1:] if isinstance(m, Vocabulary))
    documented = list(dict.fromkeys(vocabulary.values()))
    adapter = TypeAdapter(field)
    assert [adapter.validate_python(value) for value in documented] == documented
    schema = adapter.json_schema()
    assert schema.get("$defs", {}).get(vocabulary.name, schema)["enum"] == documented


# ----------------------------------------------------------------------------------------------- import


def need_row(**values: Any) -> dict[str, Any]:
    return {
        "id": "need-1",
        "party": "FJI",
        "requesting_organisation": "Ministry of Environment",
        "title": "Rats on our seabird islets",
        "description": "Rats eat seabird chicks on two islets; we need a plan to remove them for good.",
        "targets": [6],
        "assistance_types": ["technical_advice"],
        "language": "en",
        **values,
    }


def offer_row(**values: Any) -> dict[str, Any]:
    return {
        "id": "offer-1",
        "organisation": "Island Biosecurity Collective",
        "org_type": "ngo",
        "country": "NZL",
        "regions_served": ["Oceania"],
        "title": "Rodent eradication planning for small islands",
        "description": "We plan and supervise rodent eradications on islands under 500 ha, including bait trials.",
        "targets": [6],
        "assistance_types": ["technical_advice"],
        "languages": ["en"],
        **values,
    }


def stored(db: Database) -> tuple[int, int]:
    with db.transaction(read_only=True) as session:
        return NeedRepository(session).count(), OfferRepository(session).count()


@pytest.mark.parametrize(
    ("kind", "row", "field"),
    [
        ("needs", need_row(title="Rats\x00 on our seabird islets"), "title"),
        ("needs", need_row(description=need_row()["description"] + "\x1b[31m"), "description"),
        ("needs", need_row(requesting_organisation="Ministry\x7f of Environment"), "requesting_organisation"),
        ("needs", need_row(region="Melanesia\x00"), "region"),
        ("offers", offer_row(organisation="Island\x00 Biosecurity Collective"), "organisation"),
        ("offers", offer_row(website="https://example.org/\x00"), "website"),
        ("offers", offer_row(title="\u200b" * 6), "title"),
    ],
)
def test_an_import_refuses_control_characters_and_invisible_text_naming_line_and_field(
    db: Database, tmp_path: Path, kind: str, row: dict[str, Any], field: str
) -> None:
    path = tmp_path / f"{kind}.jsonl"
    good = need_row(id="need-2") if kind == "needs" else offer_row(id="offer-2")
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    report = import_file(db, path, kind)  # type: ignore[arg-type]
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [(2, field)]
    assert not report.written
    assert stored(db) == (0, 0)


def test_a_csv_import_refuses_control_characters(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "needs.csv"
    row = need_row(description="Rats eat seabird chicks\x01 on two islets; we need a plan to remove them.")
    columns = list(row)
    cells = [";".join(map(str, v)) if isinstance(v, list) else str(v) for v in row.values()]
    path.write_text(",".join(columns) + "\n" + ",".join(f'"{c}"' for c in cells) + "\n", encoding="utf-8")
    report = import_file(db, path, "needs")
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [(2, "description")]
    assert "U+0001" in report.errors[0].message
    assert stored(db) == (0, 0)


def test_pollinate_import_reports_the_control_character(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "needs.jsonl"
    path.write_text(json.dumps(need_row(title="Rats\x00 on our islets")) + "\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["import", "needs", str(path)])
    assert result.exit_code == 1, result.output
    assert "needs.jsonl:1 title: contains the control character U+0000" in " ".join(result.output.split())
    assert "nothing was imported" in result.output


@pytest.mark.parametrize("text", ["000000000A", "0000000000", "!!! ??? ...", "Bon dia, com estàs?"])
def test_a_detected_language_is_an_iso_639_1_code(text: str) -> None:
    """The model's own answers include ``zxx`` (no linguistic content) and codes without two letters."""
    assert detect_language(text) in vocab.languages()

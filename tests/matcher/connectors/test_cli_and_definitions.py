"""Definitions (validated with pydantic, errors with their line) and ``pollinate connectors …``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli.main import app
from matcher.connectors.definition import line_of, parse_definition
from matcher.errors import InvalidInputError
from matcher.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[3] / "matcher" / "connectors" / "examples"
runner = CliRunner()

BAD = """\
name = "bad"
kind = "needs"

[source]
url = "https://example.org/feed"
formt = "json"

[source.paging]
style = "sideways"

[fields]
title = "heading"
description = [
  "summary",
  3,
]
"""


def test_definition_errors_name_their_line_and_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_definition(BAD, origin="bad.toml")
    lines = str(caught.value).splitlines()[1:]
    assert "bad.toml, line 6: source.formt: unknown field" in lines[0]
    assert lines[1].startswith("bad.toml, line 9: source.paging.style: Input should be")
    # The union's branches both point at the key's line, not at the line where its array ends.
    assert all(line.startswith("bad.toml, line 13: fields.description") for line in lines[2:4])


def test_a_missing_key_is_reported_at_its_table() -> None:
    text = 'name = "x"\nkind = "needs"\n\n[source]\nformat = "json"\n\n[fields]\nid = "ref"\n'
    with pytest.raises(InvalidInputError) as caught:
        parse_definition(text, origin="x.toml")
    assert "x.toml, line 4: source: Value error" not in str(caught.value)
    assert "x.toml, line 4: source: give exactly one of url" in str(caught.value)
    with pytest.raises(InvalidInputError, match=r"needs at least fields\.id"):
        parse_definition(text.replace('format = "json"', 'file = "x.json"').replace('id = "ref"', ""))


def test_line_of_finds_keys_tables_and_array_items() -> None:
    text = 'a = 1\n\n[t]\nb = [\n  1,\n  2,\n]\n\n[[r]]\nc = "x"\n\n[[r]]\nc = "y"\n'
    assert line_of(text, ("a",)) == 1
    assert line_of(text, ("t",)) == 3
    assert line_of(text, ("t", "b")) == 4
    assert line_of(text, ("r", 1, "c")) == 13
    assert line_of(text, ("t", "missing")) == 3


def test_not_toml_is_reported() -> None:
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        parse_definition("name = ", origin="x.toml")


def test_shipped_example_definitions_are_valid() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        definition = parse_definition(path.read_text("utf-8"), origin=str(path), base=EXAMPLES)
        assert definition.name == path.stem


def test_cli_validates_lists_and_runs_a_connector(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name in ("partner-needs.toml", "partner-needs.json"):
        shutil.copy(EXAMPLES / name, folder / name)
    monkeypatch.setenv("POLLINATE_CONNECTORS__DIRECTORY", str(folder))
    (tmp_path / "bad.toml").write_text(BAD, encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    checked = runner.invoke(
        app, ["connectors", "validate", str(folder / "partner-needs.toml"), str(tmp_path / "bad.toml")]
    )
    assert checked.exit_code == 1
    assert "partner-needs.toml: ok" in checked.output and "line 6: source.formt" in checked.output

    listed = runner.invoke(app, ["connectors", "list"])
    assert listed.exit_code == 0, listed.output
    assert "partner-needs" in listed.output and "never" in listed.output

    ran = runner.invoke(app, ["connectors", "run", "partner-needs", "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.output)
    assert (report["status"], report["created"], report["invalid"]) == ("succeeded", 4, [])

    again = runner.invoke(app, ["connectors", "run", "partner-needs"])
    assert "0 created, 0 updated, 4 unchanged, 0 withdrawn, 0 invalid" in again.output

    runs = runner.invoke(app, ["connectors", "runs"])
    assert runs.exit_code == 0 and runs.output.count("succeeded") == 2

    missing = runner.invoke(app, ["connectors", "run", "nobody"])
    assert missing.exit_code == 2 and "no connector named 'nobody'" in missing.output


def test_a_builtin_mapping_must_read_the_kind_asked_for() -> None:
    text = 'name = "x"\nkind = "offers"\nmapping = "biobridge-request"\n[source]\nfile = "x.json"\n'
    with pytest.raises(InvalidInputError, match="mapping 'biobridge-request' reads needs, not offers"):
        parse_definition(text)

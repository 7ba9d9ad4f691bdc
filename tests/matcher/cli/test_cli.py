"""The ``pollinate`` command line, end to end against a temporary SQLite data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli.main import app
from matcher.engine.verdicts import verdict_of
from matcher.settings import Settings
from models import migrate
from models.db import Database
from models.repositories import NeedRepository, OfferRepository
from tests.factories import broken_copy

runner = CliRunner()


def stored(settings: Settings) -> tuple[int, int]:
    db = Database(settings.database_url)
    try:
        with db.transaction(read_only=True) as session:
            return OfferRepository(session).count(), NeedRepository(session).count()
    finally:
        db.dispose()


def test_db_upgrade_creates_the_database_under_the_data_dir(settings: Settings) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (settings.data_dir / "pollinate.db").is_file()
    assert "database at revision" in result.output
    current = runner.invoke(app, ["db", "current"])
    assert f"current: {migrate.head_revision()}" in current.output


def test_import_offers_reports_bad_lines_and_writes_nothing(
    settings: Settings, shared_dev: Path, tmp_path: Path
) -> None:
    path, bad_lines = broken_copy(shared_dev / "offers.jsonl", tmp_path / "broken.jsonl")
    result = runner.invoke(app, ["import", "offers", str(path)])
    assert result.exit_code == 1
    for line in bad_lines:
        assert f"broken.jsonl:{line} " in result.output
    assert "nothing was imported" in result.output
    assert stored(settings) == (0, 0)

    result = runner.invoke(app, ["import", "offers", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "197 created" in result.output and "3 invalid rows skipped" in result.output

    result = runner.invoke(app, ["import", "offers", str(shared_dev / "offers.jsonl")])
    assert result.exit_code == 0 and "3 created, 0 updated, 197 unchanged" in result.output
    result = runner.invoke(app, ["import", "offers", str(shared_dev / "offers.jsonl")])
    assert "0 created, 0 updated, 200 unchanged" in result.output
    assert stored(settings) == (200, 0)


def test_export_writes_reimportable_files(settings: Settings, shared_dev: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", "needs", str(shared_dev / "needs.jsonl")]).exit_code == 0
    out = tmp_path / "needs.csv"
    result = runner.invoke(app, ["export", "needs", "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0 and "exported 50 needs" in result.output
    result = runner.invoke(app, ["import", "needs", str(out)])
    assert "0 created, 0 updated, 50 unchanged" in result.output
    jsonl = runner.invoke(app, ["export", "needs"])
    rows = [json.loads(line) for line in jsonl.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 50 and rows[0]["id"] == "N001"


def test_seed_demo_is_idempotent(settings: Settings) -> None:
    first = runner.invoke(app, ["seed", "--demo"])
    assert first.exit_code == 0, first.output
    offers, needs = stored(settings)
    assert offers >= 150 and needs >= 30
    second = runner.invoke(app, ["seed", "--demo"])
    assert "0 created, 0 updated" in second.output
    assert stored(settings) == (offers, needs)


def test_bad_settings_and_arguments_are_reported(settings: Settings, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(app, ["export", "widgets"]).exit_code == 2
    assert runner.invoke(app, ["seed"]).exit_code == 2
    monkeypatch.setenv("POLLINATE_API__PORT", "not-a-port")
    result = runner.invoke(app, ["settings"])
    assert result.exit_code == 2 and "invalid settings" in result.output


def test_settings_command_lists_every_variable(settings: Settings) -> None:
    result = runner.invoke(app, ["settings"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for env, _, _ in Settings.table():
        assert env in result.output


def test_match_prints_ranked_providers_as_json(settings: Settings, shared_dev: Path) -> None:
    assert runner.invoke(app, ["import", "offers", str(shared_dev / "offers.jsonl")]).exit_code == 0
    need_line = (shared_dev / "needs.jsonl").read_text("utf-8").splitlines()[0]
    result = runner.invoke(app, ["match", "--need", "-", "-k", "5", "--json"], input=need_line)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 5
    assert rows[0]["offer_id"].startswith("O")
    for row in rows:
        assert set(row) >= {"offer_id", "organisation", "score", "components", "explanation"}
        assert sum(row["components"].values()) == pytest.approx(row["score"], abs=1e-4)
        assert row["verdict"] == verdict_of(row["probability"], weak_topical_fit=row["weak_topical_fit"])
    graded = {
        line.split("\t")[1]
        for line in (shared_dev / "qrels.tsv").read_text().splitlines()
        if line.startswith("N001\t")
    }
    assert rows[0]["offer_id"] in graded

    text = runner.invoke(
        app,
        ["match", "Rats eat seabird chicks on our islets", "--country", "FJI", "--target", "6", "--only-region",
         "Oceania", "--only-type", "technical advice", "-k", "3", "--json"],
    )  # fmt: skip
    assert text.exit_code == 0, text.output
    assert 0 < len(json.loads(text.stdout)) <= 3

    bad = runner.invoke(app, ["match", "rats", "--only-region", "Oceana"], env={"COLUMNS": "300"})
    assert bad.exit_code == 2
    assert "did you mean 'Oceania'" in bad.output
    assert runner.invoke(app, ["match"]).exit_code == 2

"""A value outside a vocabulary is answered with the value meant, by meaning as well as by spelling, wherever it
is typed: the command line's options and imported files (the API's errors are tested in tests/api)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from matcher.cli.main import app
from matcher.settings import Settings
from models.repositories import OfferRepository

runner = CliRunner()

OFFER = {
    "id": "SYN001",
    "organisation": "Wetland Trust",
    "org_type": "foundation",
    "country": "KEN",
    "regions_served": ["Sub-Saharan Africa"],
    "title": "Wetland bird monitoring for county officers",
    "description": "We train county officers to count wetland birds and to keep the records in a shared database.",
    "targets": [4],
    "assistance_types": ["capacity building"],
    "languages": ["Kiswahili"],
    "cost": "pro bono",
}


def test_match_options_suggest_the_value_meant(settings: Settings) -> None:
    wide = {"COLUMNS": "300"}
    result = runner.invoke(app, ["match", "wetland birds", "--only-org-type", "foundation"], env=wide)
    assert result.exit_code == 2
    assert "unknown organisation type 'foundation'; did you mean 'ngo'?" in result.output
    result = runner.invoke(app, ["match", "wetland birds", "--type", "consulting"], env=wide)
    assert result.exit_code == 2
    assert "unknown assistance type 'consulting'; did you mean 'technical_advice'?" in result.output
    result = runner.invoke(app, ["match", "wetland birds", "--only-cost", "paid"], env=wide)
    assert result.exit_code == 2
    assert "unknown cost 'paid'; did you mean 'cost'?" in result.output


def test_import_errors_suggest_the_value_meant(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "offers.jsonl"
    path.write_text(json.dumps(OFFER) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["import", "offers", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    for expected in (
        "unknown organisation type 'foundation'; did you mean 'ngo'?",
        "did you mean 'Eastern Africa' or 'Middle Africa' or 'Southern Africa' or 'Western Africa'?",
        "unknown assistance type 'capacity building'; did you mean 'training'?",
        "unknown language 'Kiswahili'; did you mean 'sw (Swahili (macrolanguage))'?",
        "unknown cost 'pro bono'; did you mean 'free'?",
    ):
        assert expected in output, output


def test_import_accepts_labels_in_french_and_spanish(settings: Settings, tmp_path: Path) -> None:
    """`pollinate import` parses with the API's vocabularies: labels in any language become codes."""
    row = {
        **OFFER,
        "id": "LBL001",
        "org_type": "Organisation non gouvernementale",
        "country": "Kenia",
        "regions_served": ["Afrique de l'Est", "África Meridional"],
        "targets": ["Espèces exotiques envahissantes"],
        "assistance_types": ["Formation", "asesoramiento tecnico"],
        "languages": ["Swahili", "anglais"],
        "cost": "Gratuito",
    }
    path = tmp_path / "offers.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["import", "offers", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    db = settings.open_database()
    try:
        with db.transaction(read_only=True) as session:
            offer = OfferRepository(session).get_by_external_id("LBL001")
            assert offer is not None
            assert (offer.organisation.org_type, offer.organisation.country, offer.cost) == ("ngo", "KEN", "free")
            assert sorted(offer.regions_served) == ["Eastern Africa", "Southern Africa"]
            assert (list(offer.targets), sorted(offer.assistance_types)) == ([6], ["technical_advice", "training"])
            assert sorted(offer.languages) == ["en", "sw"]
    finally:
        db.dispose()

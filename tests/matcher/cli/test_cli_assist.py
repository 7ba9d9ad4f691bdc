"""``pollinate suggest`` and ``pollinate assist train``: the JSON shape of issue 17, saved models, bad drafts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from matcher.assist.service import saved_models_path
from matcher.cli.main import app
from matcher.data import DEMO_NEEDS
from matcher.settings import Settings

runner = CliRunner()


@pytest.fixture
def seeded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo corpus in a temporary data directory, with the hashing embedder (no model to load)."""
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    assert runner.invoke(app, ["seed", "--demo"]).exit_code == 0
    return settings


def demo_need() -> dict[str, object]:
    return json.loads(DEMO_NEEDS.read_text(encoding="utf-8").splitlines()[0])  # type: ignore[no-any-return]


def test_suggest_prints_the_issue_shape(seeded: Settings) -> None:
    need = demo_need()
    draft = {"title": need["title"], "description": need["description"], "party": need["party"]}
    result = runner.invoke(app, ["suggest", "--need", "-", "--json"], input=json.dumps(draft))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert list(body) == ["targets", "assistance_types", "missing", "duplicates", "places"]
    assert all(set(t) == {"target", "probability"} for t in body["targets"])
    assert all(set(t) == {"type", "probability"} for t in body["assistance_types"])
    assert all(set(m) == {"field", "code", "prompt"} for m in body["missing"])
    assert all(set(d) == {"need_id", "similarity"} for d in body["duplicates"])
    # The same need is already posted (by the demo corpus): it comes first, identical.
    assert body["duplicates"][0] == {"need_id": need["id"], "similarity": pytest.approx(1.0, abs=1e-3)}
    assert {"kind": "country", "code": "MNG", "region": "Eastern Asia"} in body["places"]


def test_suggest_refuses_unknown_fields(seeded: Settings) -> None:
    draft = {"title": "Rats on islands", "description": "Rats eat seabird chicks on two islands.", "urgent": True}
    result = runner.invoke(app, ["suggest", "--need", "-"], input=json.dumps(draft))
    assert result.exit_code == 2
    assert "urgent" in result.output


def test_train_saves_models_the_next_call_reads(seeded: Settings) -> None:
    result = runner.invoke(app, ["assist", "train"])
    assert result.exit_code == 0, result.output
    assert "42 demo-need" in result.stdout
    path = saved_models_path(seeded)
    assert path.exists()
    assert path.with_suffix(".json").exists()
    draft = {"title": "Rats on islands", "description": "Rats eat seabird chicks on two islands of Fiji."}
    assert runner.invoke(app, ["suggest", "--need", "-", "--json"], input=json.dumps(draft)).exit_code == 0

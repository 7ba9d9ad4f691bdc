"""Review decisions exported as a gold set (``pollinate export judgements``) load in the evaluation harness with
the grades of the decisions: accepted, contacted and completed 2, rejected 0, undecided left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.dataset import load_gold_set
from matcher.access.rules import Principal
from matcher.cli.main import app
from matcher.errors import InvalidInputError
from matcher.records.seed import seed_demo
from matcher.review import workflow as review
from matcher.review.judgements import write_judgements
from matcher.settings import Settings
from models import migrate
from models.db import Database
from models.orm import SuggestedMatch
from models.repositories import NeedRepository, OfferRepository

runner = CliRunner()
STAFF = Principal(role="secretariat")
# (need, offer) -> the decisions taken on the match, in order.
DECISIONS: dict[tuple[str, str], list[review.Decision]] = {
    ("demo-n001", "demo-o002"): [review.Decision("accept")],
    ("demo-n001", "demo-o001"): [review.Decision("accept"), review.Decision("contact")],
    ("demo-n001", "demo-o010"): [review.Decision("reject", reason="out_of_scope")],
    ("demo-n002", "demo-o003"): [
        review.Decision("accept"),
        review.Decision("contact"),
        review.Decision("complete"),
    ],
    ("demo-n002", "demo-o004"): [review.Decision("shortlist")],  # undecided: no judgement
    ("demo-n003", "demo-o005"): [review.Decision("reject", reason="geography", note="Asia only")],
    ("demo-n004", "demo-o006"): [],  # suggested: no judgement
}
EXPECTED = {
    ("demo-n001", "demo-o002"): 2,
    ("demo-n001", "demo-o001"): 2,
    ("demo-n001", "demo-o010"): 0,
    ("demo-n002", "demo-o003"): 2,
    ("demo-n003", "demo-o005"): 0,
}


def decided_demo(db: Database, decisions: dict[tuple[str, str], list[review.Decision]]) -> None:
    """The demo corpus with suggested matches that went through ``decisions``."""
    migrate.upgrade(db)
    seed_demo(db)
    with db.transaction() as session:
        needs, offers = NeedRepository(session), OfferRepository(session)
        for (need_ref, offer_ref), steps in decisions.items():
            need, offer = needs.get_by_external_id(need_ref), offers.get_by_external_id(offer_ref)
            assert need is not None and offer is not None
            match = SuggestedMatch(
                need_id=need.id,
                offer_id=offer.id,
                rank=1,
                score=1.0,
                components={"semantic": 1.0},
                explanation={"summary": "s", "reasons": [], "evidence": [], "text": "s"},
                model_id="fixture",
            )
            session.add(match)
            session.flush()
            for step in steps:
                review.decide(session, STAFF, match.id, step, version=None)


def test_the_export_is_a_gold_set_with_the_grades_of_the_decisions(settings: Settings, tmp_path: Path) -> None:
    db = settings.open_database()
    try:
        decided_demo(db, DECISIONS)
    finally:
        db.dispose()
    out = tmp_path / "judged"
    result = runner.invoke(app, ["export", "judgements", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 accepted and 2 rejected pairs (3 needs, 5 offers)" in result.output.replace("\n", " ")

    gold = load_gold_set(out)
    assert {(j.need_id, j.offer_id): j.grade for j in gold.judgements} == EXPECTED
    assert [n.id for n in gold.needs] == ["demo-n001", "demo-n002", "demo-n003"]  # only the decided ones
    assert sorted(o.id for o in gold.offers) == sorted({offer for _, offer in EXPECTED})
    assert gold.judged_needs == ["demo-n001", "demo-n002"]
    assert gold.warnings == ["1 need(s) have no judgement above grade 0; they are ranked but not scored"]
    header, *lines = (out / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    assert header == "need_id\toffer_id\tgrade"
    assert lines[:3] == ["demo-n001\tdemo-o001\t2", "demo-n001\tdemo-o002\t2", "demo-n001\tdemo-o010\t0"]
    # The records are those `pollinate export` writes (the decisions moved the needs along).
    assert {n.id: n.status for n in gold.needs} == {
        "demo-n001": "matched",
        "demo-n002": "matched",
        "demo-n003": "open",
    }


def test_without_an_accepted_match_nothing_is_written(sqlite_db: Database, tmp_path: Path) -> None:
    decided_demo(sqlite_db, {("demo-n001", "demo-o010"): [review.Decision("reject", reason="quality")]})
    with sqlite_db.transaction(read_only=True) as session, pytest.raises(InvalidInputError, match="accepted"):
        write_judgements(session, tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_the_command_needs_a_directory(settings: Settings, tmp_path: Path) -> None:
    assert runner.invoke(app, ["export", "judgements"]).exit_code == 2
    file = tmp_path / "file.txt"
    file.write_text("x", encoding="utf-8")
    assert runner.invoke(app, ["export", "judgements", "--out", str(file)]).exit_code == 2

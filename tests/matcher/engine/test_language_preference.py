"""The language a need is written in is a preference (the ``languages`` filter), not a scored signal.

On the dev needs written in six languages, the language term moved providers by the text's language alone:
the Spanish versions' top 5 took in 37 providers that work in Spanish and dropped 36 that do not, against
the English versions (docs/evaluation.md), and the fit calibration finds no relevance in it on the dev set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from embeddings import FakeEmbedder
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchService, need_from_stored
from matcher.records.seed import seed_demo
from matcher.settings import RankingSettings
from models import migrate
from models.db import Database, sqlite_url
from models.orm import Need


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(sqlite_url(tmp_path_factory.mktemp("demo") / "demo.db"))
    migrate.upgrade(db)
    seed_demo(db)
    yield db
    db.dispose()


def _spanish_needs(db: Database) -> list[NeedQuery]:
    with db.transaction(read_only=True) as session:
        stored = [need_from_stored(n) for n in session.scalars(select(Need).order_by(Need.id))]
    return [replace(n, language="es") for n in stored[:10]]


def test_the_default_ranker_gives_the_text_language_no_score(demo: Database) -> None:
    service = MatchService(demo, FakeEmbedder(dim=384))
    service.start()
    results = service.match_batch(_spanish_needs(demo), k=10)
    assert all(m.components["language"] == 0.0 for r in results for m in r.matches)
    # The weight is still a setting: a deployment that wants the language scored can have it.
    weighted = MatchService(demo, FakeEmbedder(dim=384), ranking=RankingSettings(language=0.05))
    weighted.start()
    scored = weighted.match_batch(_spanish_needs(demo), k=10)
    assert any(m.components["language"] == pytest.approx(0.05) for r in scored for m in r.matches)

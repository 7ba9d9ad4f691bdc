"""Explanations on the hand-written dev gold set, through MatchService with the real model.

The ranking-quality figures are measured by ``pollinate evaluate`` (tests/evaluation/test_quality.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from matcher.engine.service import MatchService, need_from_record
from matcher.records.bulk import import_file
from matcher.records.interchange import NeedRecord
from models import migrate
from models.db import Database, sqlite_url


@pytest.fixture(scope="module")
def dev_service(shared_dev: Path, real_embedder, tmp_path_factory) -> Iterator[MatchService]:  # type: ignore[no-untyped-def]
    db = Database(sqlite_url(tmp_path_factory.mktemp("quality") / "dev.db"))
    migrate.upgrade(db)
    assert import_file(db, shared_dev / "offers.jsonl", "offers").written
    assert import_file(db, shared_dev / "needs.jsonl", "needs").written
    svc = MatchService(db, real_embedder)
    svc.start()
    yield svc
    db.dispose()


def test_every_match_explains_targets_and_geography(dev_service: MatchService, shared_dev: Path) -> None:
    line = (shared_dev / "needs.jsonl").read_text("utf-8").splitlines()[0]
    result = dev_service.match(need_from_record(NeedRecord.model_validate_json(line)), k=10)
    assert len(result.matches) == 10
    for m in result.matches:
        assert sum(m.components.values()) == pytest.approx(m.score, abs=1e-5)
        assert "KMGBF target" in m.explanation.reasons[0]
        assert m.explanation.reasons[1].startswith(("Serves", "Does not list"))
        assert m.explanation.evidence

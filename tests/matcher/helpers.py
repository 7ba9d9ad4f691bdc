"""Building small catalogues for engine tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embeddings import Embedder, FakeEmbedder
from matcher.engine.service import MatchService
from matcher.records.bulk import import_file
from matcher.settings import RankingSettings
from models.db import Database
from tests.matcher.records.test_records import offer_row


def load_offers(db: Database, tmp_path: Path, rows: list[dict[str, Any]], name: str = "offers.jsonl") -> None:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = import_file(db, path, "offers")
    assert report.written, report.errors


def service(
    db: Database, embedder: Embedder | None = None, *, index_path: Path | None = None, **ranking: Any
) -> MatchService:
    svc = MatchService(
        db, embedder or FakeEmbedder(dim=64), ranking=RankingSettings(**ranking), index_path=index_path
    )
    svc.start()
    return svc


def offer(i: int, **overrides: Any) -> dict[str, Any]:
    return offer_row(**{"id": f"T{i:03d}", "organisation": f"Provider {i}", **overrides})

"""The assistant service's fit on the bundled examples is made once per process and embedding model."""

from __future__ import annotations

from typing import Any

import pytest

from embeddings import FakeEmbedder
from matcher.assist import service as assist_service
from matcher.assist.service import AssistService
from matcher.assist.suggest import Suggester
from matcher.engine.store import EmbeddingStore
from models.db import Database


@pytest.fixture
def counted_fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Suggester.fit in the test, by model id, with the process cache emptied first."""
    monkeypatch.setattr(assist_service, "_BUNDLED_FITS", {})
    fits: list[str] = []
    fit = Suggester.fit.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Suggester], *args: Any, **kwargs: Any) -> Suggester:
        fits.append(kwargs["model_id"])
        return fit(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Suggester, "fit", classmethod(counting))
    return fits


def test_services_of_one_process_share_the_fit_of_one_model(sqlite_db: Database, counted_fits: list[str]) -> None:
    first = AssistService(EmbeddingStore(sqlite_db, FakeEmbedder(dim=64))).suggester()
    second = AssistService(EmbeddingStore(sqlite_db, FakeEmbedder(dim=64))).suggester()
    assert second is first
    assert len(counted_fits) == 1


def test_another_embedding_model_gets_its_own_fit(sqlite_db: Database, counted_fits: list[str]) -> None:
    small = AssistService(EmbeddingStore(sqlite_db, FakeEmbedder(dim=64))).suggester()
    large = AssistService(EmbeddingStore(sqlite_db, FakeEmbedder(dim=96))).suggester()
    assert small.model_id != large.model_id
    assert counted_fits == [small.model_id, large.model_id]

"""The API's embedder keeps a composite's encoders visible to the engine when it micro-batches them."""

from __future__ import annotations

import pytest

import api.app
from embeddings import FakeEmbedder
from embeddings.batching import MicroBatcher
from embeddings.composite import CompositeEmbedder, parts_of
from matcher.settings import Settings


@pytest.fixture
def fused(monkeypatch: pytest.MonkeyPatch) -> CompositeEmbedder:
    model = CompositeEmbedder([FakeEmbedder(dim=32), FakeEmbedder(dim=16)])
    monkeypatch.setattr(api.app, "create_embedder", lambda _settings: model)
    return model


def test_each_encoder_of_a_composite_is_micro_batched_on_its_own(fused: CompositeEmbedder) -> None:
    served = api.app.serving_embedder(Settings(embedding={"micro_batch_wait_ms": 2}))  # type: ignore[arg-type]
    parts = parts_of(served)
    assert [p.model_id for p in parts] == [p.model_id for p in fused.parts]
    assert all(isinstance(p, MicroBatcher) for p in parts)
    assert served.model_id == fused.model_id and served.dim == fused.dim


def test_without_micro_batching_the_composite_is_served_as_it_is(fused: CompositeEmbedder) -> None:
    assert api.app.serving_embedder(Settings(embedding={"micro_batch_wait_ms": 0})) is fused  # type: ignore[arg-type]

"""The encoder set: per-encoder caches and centroids, and the language-aware fusion of their similarities."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings import FakeEmbedder
from embeddings.composite import CompositeEmbedder
from matcher.engine.encoders import EncoderSet, Mixture
from matcher.engine.store import text_hash
from models.db import Database
from models.repositories import EmbeddingRepository

OFFERS = [
    "Rodent eradication planning for small islands, bait trials and biosecurity.",
    "Restauration des mangroves au Sénégal avec les communautés locales.",
    "Capacitación en monitoreo de arrecifes de coral para guardaparques.",
    "Seed banking for crop wild relatives in arid lands.",
]
NEED = "Rats eat seabird chicks on our islets; we need a plan to remove them."


def _single(db: Database, dim: int) -> EncoderSet:
    return EncoderSet(db, FakeEmbedder(dim=dim), alpha=0.8, mixture=Mixture(0.4, 0.8))


def test_one_encoder_gives_the_same_vectors_on_both_sides(sqlite_db: Database) -> None:
    encoders = _single(sqlite_db, 32)
    offers, _ = encoders.offer_vectors(OFFERS, languages=["en", "fr", "es", "en"])
    queries = encoders.query_vectors(OFFERS, languages=["en", "fr", "es", "en"])
    np.testing.assert_array_equal(offers, queries)  # MiniLM alone: no weighting at all, as before fusion


@pytest.mark.parametrize(("language", "share"), [("en", 0.4), ("fr", 0.8), ("zh", 0.8)])
def test_fused_similarity_is_the_language_weighted_sum_of_z_scored_cosines(
    sqlite_db: Database, language: str, share: float
) -> None:
    fused = EncoderSet(
        sqlite_db,
        CompositeEmbedder([FakeEmbedder(dim=32), FakeEmbedder(dim=48)]),
        alpha=0.8,
        mixture=Mixture(0.4, 0.8),
    )
    parts = [_single(sqlite_db, 32), _single(sqlite_db, 48)]
    offers, languages = fused.offer_vectors(OFFERS)
    query = fused.query_vectors([NEED], languages=[language])[0]
    np.testing.assert_allclose(np.linalg.norm(offers, axis=1), 1.0, atol=1e-5)  # the index's unit vectors
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    cosines = np.stack(
        [
            part.offer_vectors(OFFERS, languages=languages)[0]
            @ part.query_vectors([NEED], languages=[language])[0]
            for part in parts
        ]
    )
    mixture = np.asarray([1 - share, share])
    # offer_scales are 1/sigma normalised: each encoder's cosines count in units of its own spread (z-scores).
    expected = (mixture / np.linalg.norm(mixture)) @ (fused.offer_scales[:, None] * cosines)
    np.testing.assert_allclose(offers @ query, expected, atol=1e-5)


def test_each_encoder_caches_its_own_embeddings(sqlite_db: Database) -> None:
    english, other = FakeEmbedder(dim=32), FakeEmbedder(dim=48)
    fused = EncoderSet(sqlite_db, CompositeEmbedder([english, other]), alpha=0.8, mixture=Mixture(0.4, 0.8))
    fused.offer_vectors(OFFERS)
    with sqlite_db.transaction(read_only=True) as session:
        repo = EmbeddingRepository(session)
        for model in (english, other):
            assert set(repo.get_many(model.model_id, [text_hash(t) for t in OFFERS])) == {
                text_hash(t) for t in OFFERS
            }
    assert fused.model_id == f"{english.model_id}+{other.model_id}"


def test_the_mixture_changes_the_transform_identity(sqlite_db: Database) -> None:
    composite = CompositeEmbedder([FakeEmbedder(dim=32), FakeEmbedder(dim=48)])
    a = EncoderSet(sqlite_db, composite, alpha=0.8, mixture=Mixture(0.4, 0.8))
    b = EncoderSet(sqlite_db, composite, alpha=0.8, mixture=Mixture(0.5, 0.8))
    assert a.transform_id != b.transform_id  # a saved index built with other weights is rebuilt


def test_every_encoder_is_centred_on_the_parallel_reference_texts_of_the_six_un_languages(
    sqlite_db: Database,
) -> None:
    """Each encoder fits its own centroids, one per UN language, on the same records written in the six
    languages, so no language's centroid holds other topics than another's (docs/evaluation.md)."""
    from matcher.engine.centering import MIN_TEXTS_PER_LANGUAGE
    from matcher.engine.encoders import centring_texts

    small, large = FakeEmbedder(dim=16), FakeEmbedder(dim=8)
    fused = EncoderSet(
        sqlite_db, CompositeEmbedder([small, large]), alpha=0.8, mixture=Mixture(english=0.4, other=0.8)
    )
    assert len(fused.centerings) == 2
    texts, languages = centring_texts()
    assert {lang: languages.count(lang) for lang in set(languages)} == {
        lang: len(texts) // 6 for lang in ("en", "fr", "es", "ar", "zh", "ru")
    }
    assert len(texts) // 6 >= MIN_TEXTS_PER_LANGUAGE
    for centering, embedder in zip(fused.centerings, (small, large), strict=True):
        assert set(centering.centroids) == {"en", "fr", "es", "ar", "zh", "ru"}
        vectors = embedder.embed(texts)
        for lang, centroid in centering.centroids.items():
            mine = [i for i, written_in in enumerate(languages) if written_in == lang]
            np.testing.assert_allclose(centroid, vectors[mine].mean(axis=0), rtol=1e-5, atol=1e-6)

"""One vector per text from one or several encoders: cached, language-centred and fused.

With one encoder (MiniLM alone) a text's vector is its language-centred embedding, as it always was. With
several (``embeddings.composite.CompositeEmbedder``: MiniLM and the multilingual USE-m3), each encoder keeps its
own cache entries (its model id) and its own language centroids, and the index holds one concatenated unit
vector per offer in which every encoder has its block:

- an **offer** (or a sentence quoted as evidence) is ``[v_1 x_1, ..., v_E x_E]`` where ``x_e`` is encoder
  ``e``'s centred unit vector and ``v_e`` is proportional to ``1 / sigma_e``, the standard deviation of encoder
  ``e``'s need-offer cosines on the reference corpus, with ``sum v_e^2 = 1``;
- a **need** (or a saved search) written in language ``l`` is ``[u_1(l) y_1, ..., u_E(l) y_E]`` with
  ``u(l)`` the unit vector along the language's mixture ``m(l)`` (``RankingSettings.multilingual_english`` /
  ``multilingual_other``: the multilingual encoder's share for English needs and for the others).

Both sides are unit vectors, so the index, its planner and its threshold searches work unchanged, and the
inner product is ``sum_e u_e(l) v_e cos_e`` = ``sum_e m_e(l) z_e / (|m(l)| |1/sigma|)`` with
``z_e = cos_e / sigma_e``: a language-aware weighted sum of per-encoder z-scored cosines. That fused similarity
is the semantic signal that the ranker retrieves by, scores and certifies, so its top-k stays exact.

The rule was measured on the dev needs in six languages (``pollinate evaluate --parallel``, docs/evaluation.md):
English needs keep most of MiniLM, whose English matching the multilingual encoder does not equal (dense nDCG@10
0.82 vs 0.69), while the other languages lean on USE-m3, the only encoder of the two that maps a translation
next to its original.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from embeddings import Embedder, l2_normalise
from embeddings.composite import parts_of
from matcher.data import CENTRING_TEXTS, DEMO_NEEDS, DEMO_OFFERS
from matcher.engine.centering import LanguageCentering
from matcher.engine.store import EmbeddingStore
from matcher.engine.texts import record_text
from models.db import Database

ENGLISH = "en"
_FITTED: dict[tuple[str, float], tuple[LanguageCentering, float]] = {}


@dataclass(frozen=True, slots=True)
class Mixture:
    """The multilingual encoder's share of the semantic similarity, for English needs and for the others."""

    english: float
    other: float

    def shares(self, language: str | None, count: int) -> NDArray[np.float64]:
        """Each encoder's share for a text in ``language`` (the first encoder is the English one)."""
        if count == 1:
            return np.ones(1)
        multilingual = self.english if language == ENGLISH else self.other
        return np.asarray([1.0 - multilingual, *([multilingual / (count - 1)] * (count - 1))])


class EncoderSet:
    """The encoders of a service, their caches and centroids, and the fused vectors of texts.

    Args:
        db: the database holding the embedding cache.
        embedder: one encoder, or a ``CompositeEmbedder`` of several (the English one first).
        alpha: language centring strength (``RankingSettings.language_centering``).
        mixture: the multilingual encoders' share per need language (ignored with one encoder).
    """

    def __init__(self, db: Database, embedder: Embedder, *, alpha: float, mixture: Mixture) -> None:
        self.stores = [EmbeddingStore(db, part) for part in parts_of(embedder)]
        self.mixture = mixture
        fitted = [self._fit(store, alpha) for store in self.stores]
        self.centerings = [centering for centering, _ in fitted]
        spread = np.asarray([sigma for _, sigma in fitted], dtype=np.float64)
        self.offer_scales = (1.0 / spread) / np.linalg.norm(1.0 / spread)
        self.dim = sum(store.dim for store in self.stores)
        self.model_id = "+".join(store.model_id for store in self.stores)

    @property
    def primary(self) -> EmbeddingStore:
        """The first encoder's store (its cache records each text's detected language)."""
        return self.stores[0]

    @property
    def transform_id(self) -> str:
        """Identity of the centring and fusion (index files record it: a different one means a rebuild)."""
        if len(self.stores) == 1:
            return self.centerings[0].transform_id
        digest = hashlib.sha256(json.dumps([c.transform_id for c in self.centerings]).encode())
        digest.update(np.round(self.offer_scales, 6).tobytes())
        digest.update(f"{self.mixture.english:.4f}/{self.mixture.other:.4f}".encode())
        return f"fused:{digest.hexdigest()[:16]}"

    def offer_vectors(
        self, texts: Sequence[str], *, languages: Sequence[str | None] | None = None
    ) -> tuple[NDArray[np.float32], list[str]]:
        """Offer-side fused vectors of ``texts`` and their languages (detected unless given)."""
        blocks, detected = self._centred(texts, languages)
        if len(blocks) == 1:
            return blocks[0], detected
        return _joined(
            [block * np.float32(s) for block, s in zip(blocks, self.offer_scales, strict=True)]
        ), detected

    def query_vectors(
        self, texts: Sequence[str], *, languages: Sequence[str | None] | None = None, cross_lingual: bool = False
    ) -> NDArray[np.float32]:
        """Need-side fused vectors of ``texts``: encoders weighted by the text's language (module docstring).

        ``cross_lingual`` weights every text as a non-English one (the multilingual encoder's larger share), for
        searches whose other side is in any language whatever the text's own: the saved-search alerts.
        """
        blocks, detected = self._centred(texts, languages)
        if len(blocks) == 1:
            return blocks[0]
        weighed_as = [None if cross_lingual else lang for lang in detected]
        weights = np.stack([self.query_scales(lang) for lang in weighed_as]) if len(detected) else np.zeros((0, 0))
        return _joined([block * weights[:, e : e + 1].astype(np.float32) for e, block in enumerate(blocks)])

    def query_scales(self, language: str | None) -> NDArray[np.float64]:
        """``u(l)``: the unit vector along the language's mixture (the offer scales already hold ``1/sigma``)."""
        direction = self.mixture.shares(language, len(self.stores))
        norm = np.linalg.norm(direction)
        return direction / norm if norm > 0 else direction

    def _centred(
        self, texts: Sequence[str], languages: Sequence[str | None] | None
    ) -> tuple[list[NDArray[np.float32]], list[str]]:
        """Each encoder's centred vectors of ``texts``, and their languages (the first encoder's cache)."""
        blocks: list[NDArray[np.float32]] = []
        detected: list[str] = []
        for e, store in enumerate(self.stores):
            vectors, found = store.get(texts, languages=languages)
            if e == 0:
                detected = found
            blocks.append(self.centerings[e].apply(vectors, detected))
        return blocks, detected

    @staticmethod
    def _fit(store: EmbeddingStore, alpha: float) -> tuple[LanguageCentering, float]:
        """Language centroids on the parallel reference texts, and the spread of need-offer cosines on the demo
        corpus.

        The centroids come from the same twenty records written in each of the six UN languages
        (``matcher/data/demo/centring.jsonl``): every language's centroid then holds the same topics, and two
        centroids differ by their languages alone. Estimated on each language's own demo texts instead (six
        Arabic, six Chinese), a centroid also held those texts' topics, and centring removed part of the topic
        from the Arabic and Chinese needs: dev-parallel top-5 overlap with English read ar 0.78 and zh 0.80
        (docs/evaluation.md has the figures after the change).

        Computed once per process for a model and alpha (both references ship with the code, so the vectors —
        and the index — do not shift when offers are added).
        """
        key = (store.model_id, alpha)
        if key not in _FITTED:
            reference, written_in = centring_texts()
            vectors, languages = store.get(reference, languages=written_in)
            centering = LanguageCentering.fit(vectors, languages, alpha=alpha)
            texts: list[str] = []
            known: list[str | None] = []
            is_need: list[bool] = []
            for path, need in ((DEMO_OFFERS, False), (DEMO_NEEDS, True)):
                for line in path.read_text(encoding="utf-8").splitlines():
                    row = json.loads(line)
                    texts.append(record_text(row["title"], row["description"], row["targets"]))
                    known.append(row["language"] if need else None)
                    is_need.append(need)
            vectors, languages = store.get(texts, languages=known)
            centred = centering.apply(vectors, languages).astype(np.float64)
            needs = np.asarray(is_need)
            cosines = centred[needs] @ centred[~needs].T
            _FITTED[key] = (centering, float(cosines.std()) or 1.0)
        return _FITTED[key]


def centring_texts() -> tuple[list[str], list[str]]:
    """The parallel reference texts the language centroids are estimated on, and the language of each.

    Raises:
        KeyError: A packaged reference line lacks a field (a broken installation).
    """
    rows = [json.loads(line) for line in CENTRING_TEXTS.read_text(encoding="utf-8").splitlines()]
    return [record_text(row["title"], row["description"], row["targets"]) for row in rows], [
        row["language"] for row in rows
    ]


def _joined(blocks: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Blocks side by side, re-normalised (float32 rounding leaves the norm a few ulps from 1)."""
    return l2_normalise(np.hstack(blocks))

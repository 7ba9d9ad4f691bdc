"""Ranking one need against the catalogue: filters, retrieval, exact re-scoring, top-k.

1. **Filter**: the allowed positions (hard filters and eligibility, ``matcher/filters.py``).
2. **Score everything cheap**: the lexical and structured signals of *every* allowed offer (vectorised; a few
   milliseconds at 100k offers), fused into ``rest`` — the score of each offer without its semantic term.
3. **Retrieve** the ``C`` offers most similar to the need among the allowed positions from the vector index,
   and score them fully: ``total = w_semantic * similarity + rest``.
4. **Certify**: an offer that was not retrieved has similarity at most ``s_C`` (the C-th similarity), so its
   total is at most ``w_semantic * s_C + max(rest of the others)``. When the k-th best total reaches that bound
   the top-k is exact; otherwise ``C`` is multiplied by 8 and the search repeated (at worst it covers every
   allowed offer). The result is therefore always the exact top-k of the fused score over the allowed offers —
   nothing is post-filtered away and a selective filter cannot under-fill the list.
5. **Feedback** (optional, ``feedback_depth`` > 0): the query vector is moved towards the mean vector of the
   certified top few offers and the ranking is run again (pseudo-relevance feedback, Rocchio). Measured on the
   dev gold set: nDCG@10 0.877 → 0.885 (depth 3, weight 0.5); on the demo judgements 0.889 → 0.896.

Ties are broken by the lower offer id, so the order is deterministic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matcher.catalog import OfferCatalog
from matcher.filters import FilterOutcome, Policy, apply_filters
from matcher.fusion import Weights, fuse
from matcher.index import VectorIndex
from matcher.lexical import LexicalIndex
from matcher.query import MatchFilters, NeedQuery
from matcher.scoring import SIGNALS, structured_signals


@dataclass(slots=True)
class Ranked:
    """The top-k of one need, best first.

    Attributes:
        positions: index positions of the ranked offers.
        scores: their total scores.
        contributions: weighted signal values per position (they add up to ``scores``).
        signals: raw signal values per position (before weighting).
        outcome: the filter outcome (allowed count, exclusions, why empty).
        retrieved: how many offers the vector search had to return to certify the top-k.
    """

    positions: NDArray[np.int64]
    scores: NDArray[np.float32]
    contributions: dict[str, NDArray[np.float32]]
    signals: dict[str, NDArray[np.float32]]
    outcome: FilterOutcome
    retrieved: int


class Ranker:
    """Ranks offers for needs over one catalogue, index and lexical index (which share positions)."""

    def __init__(
        self,
        catalog: OfferCatalog,
        index: VectorIndex,
        lexical: LexicalIndex,
        *,
        candidates: int = 200,
        inactive: Policy = "exclude",
        at_capacity: Policy = "exclude",
        feedback_depth: int = 0,
        feedback_weight: float = 0.5,
    ) -> None:
        self.catalog = catalog
        self.index = index
        self.lexical = lexical
        self.candidates = candidates
        self.inactive: Policy = inactive
        self.at_capacity: Policy = at_capacity
        self.feedback_depth = feedback_depth
        self.feedback_weight = feedback_weight

    def rank(
        self,
        query: NDArray[np.float32],
        need: NeedQuery,
        *,
        k: int,
        weights: Weights,
        filters: MatchFilters | None = None,
        today: dt.date | None = None,
    ) -> Ranked:
        """The exact top-``k`` offers for ``need`` whose (language-centred) vector is ``query``."""
        outcome = apply_filters(
            self.catalog,
            self.index.live_mask(),
            filters or MatchFilters(),
            own_organisation=need.organisation_id,
            inactive=self.inactive,
            at_capacity=self.at_capacity,
            today=today or dt.date.today(),
        )
        allowed = outcome.allowed
        if not len(allowed) or k <= 0:
            empty = np.zeros(0, dtype=np.float32)
            return Ranked(np.zeros(0, np.int64), empty, dict.fromkeys(SIGNALS, empty), {}, outcome, 0)

        signals = structured_signals(self.catalog, allowed, need)
        # Down-weighted eligibility problems, plus keyword stuffing (0..1, see matcher.texts.keyword_stuffing).
        signals["penalty"] = outcome.penalties + self.catalog.column("stuffing")[allowed]
        signals["lexical"] = (
            self._lexical(need, allowed) if weights.lexical else np.zeros(len(allowed), np.float32)
        )
        signals["semantic"] = np.zeros(len(allowed), dtype=np.float32)
        rest, _ = fuse(signals, weights)  # semantic is 0 here, so this is everything but the semantic term

        if self.feedback_depth and weights.semantic:
            found, _, _, scored = self._certified_top(query, allowed, rest, self.feedback_depth, weights)
            if len(found):
                first = found[np.argsort(-scored, kind="stable")[: self.feedback_depth]]
                expanded = query + np.float32(self.feedback_weight) * self.index.vectors_at(first).mean(axis=0)
                query = (expanded / np.linalg.norm(expanded)).astype(np.float32)
        positions, similarity, rows, totals = self._certified_top(query, allowed, rest, k, weights)

        ids = self.index.ids[positions]
        order = np.lexsort((ids, -totals))[:k]  # best total first, then lower offer id
        chosen = rows[order]
        signals["semantic"][rows] = similarity
        picked = {name: values[chosen] for name, values in signals.items()}
        totals_k, contributions = fuse(picked, weights)
        return Ranked(positions[order], totals_k, contributions, picked, outcome, len(positions))

    def _certified_top(
        self,
        query: NDArray[np.float32],
        allowed: NDArray[np.int64],
        rest: NDArray[np.float32],
        k: int,
        weights: Weights,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64], NDArray[np.float32]]:
        """Retrieve by similarity until the top-``k`` of the fused score is certified (module docstring).

        Returns the retrieved positions, their similarities, their rows in ``allowed`` and their totals.
        """
        # Without a semantic term, similarity cannot prune: score every allowed offer in one pass.
        depth = min(max(self.candidates, k), len(allowed)) if weights.semantic else len(allowed)
        while True:
            sims, found = self.index.search(query.reshape(1, -1), depth, allowed=allowed)
            keep = found[0] >= 0
            positions, similarity = found[0][keep], sims[0][keep]
            rows = np.searchsorted(allowed, positions)  # allowed is sorted (np.flatnonzero)
            totals = (weights.semantic * similarity + rest[rows]).astype(np.float32)
            if depth >= len(allowed) or len(positions) < depth:
                return positions, similarity, rows, totals
            outside = np.ones(len(allowed), dtype=bool)
            outside[rows] = False
            bound = weights.semantic * float(similarity[-1]) + float(rest[outside].max())
            kth = np.partition(totals, -k)[-k] if len(totals) >= k else -np.inf
            if kth > bound:  # strictly: an outsider tying the k-th could win the tie on its lower id
                return positions, similarity, rows, totals
            # Each deeper search is a full scan on a flat index, so deepen steeply and go straight to all
            # allowed offers once a quarter of them would be needed anyway.
            depth = depth * 8 if depth * 8 < len(allowed) // 4 else len(allowed)

    def _lexical(self, need: NeedQuery, allowed: NDArray[np.int64]) -> NDArray[np.float32]:
        scores = self.lexical.scores(f"{need.title} {need.description}")
        if not len(scores):
            return np.zeros(len(allowed), dtype=np.float32)
        values = scores[allowed]
        best = float(values.max()) if len(values) else 0.0
        return (values / best).astype(np.float32) if best > 0 else np.zeros(len(allowed), dtype=np.float32)

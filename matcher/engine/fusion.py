"""Fusing the signals into one score: a weighted sum of bounded signals.

``score = sum(weight[s] * signal[s])`` and each weighted term is reported as a score component, so the
components add up to the score exactly. Every score of a (need, offer) pair is computed here — the forward
ranking, the reverse searches (``MatchService.rank_needs``, ``offers_scoring_at_least``) and so the alerts:
:func:`rest_of` is the score without its semantic term and :func:`total` adds that term,
``w_semantic * similarity + rest``, which is the form the ranker certifies its top-k with (an offer's total is
bounded by its similarity); :func:`fuse` gives the components and their sum.

A weighted sum keeps the magnitudes that rank fusion throws away: reciprocal-rank fusion of BM25 and dense
retrieval scores 0.66 nDCG@10 on the dev gold set, below dense alone (0.72), because a paraphrasing need gets a
poor BM25 rank that RRF weighs like a good one. Default weights were chosen on the dev set and checked on the
demo corpus's judgements (see the engine's closing notes); they are written once, as the defaults of the ranking
settings (``RankingSettings``, where each has its description and its ``POLLINATE_RANKING__*`` variable), and
:class:`Weights` takes its defaults from there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from matcher.engine.scoring import SIGNALS, Signals
from matcher.settings import RankingSettings

# The default weights: those of the ranking settings (a plain model, so no environment variable is read here).
_DEFAULTS = RankingSettings()


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight per signal (``penalty`` is subtracted per eligibility problem); defaults: the ranking settings'."""

    semantic: float = _DEFAULTS.semantic
    lexical: float = _DEFAULTS.lexical
    targets: float = _DEFAULTS.targets
    geography: float = _DEFAULTS.geography
    language: float = _DEFAULTS.language
    assistance: float = _DEFAULTS.assistance
    penalty: float = _DEFAULTS.penalty

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"weight {f.name} must be >= 0")

    def signed(self, name: str) -> float:
        """The weight as applied: negative for the penalty."""
        value = float(getattr(self, name))
        return -value if name == "penalty" else value

    def only(self, *names: str) -> Weights:
        """These weights with every signal not named set to 0 (for single-signal baselines)."""
        return Weights(**{f.name: (getattr(self, f.name) if f.name in names else 0.0) for f in fields(self)})

    def without(self, name: str) -> Weights:
        """These weights with one signal removed (ablations)."""
        return Weights(**{f.name: (0.0 if f.name == name else getattr(self, f.name)) for f in fields(self)})


def rest_of(signals: Signals, weights: Weights) -> NDArray[np.float32]:
    """The scores without their semantic term: every other weighted term, added in ``SIGNALS`` order.

    A signal missing from ``signals`` counts 0, and zero-weight terms are left out (adding 0 changes no sum).
    The ranker computes this for every allowed offer of every need, so the terms are added into one buffer.
    (A float32 signal times a Python float is computed in float32, as in :func:`fuse`.)
    """
    n = len(next(iter(signals.values())))
    rest = np.zeros(n, dtype=np.float32)
    term = np.empty(n, dtype=np.float32)
    for name in SIGNALS:
        weight = weights.signed(name)
        if name != "semantic" and name in signals and weight:
            rest += np.multiply(signals[name], weight, out=term)
    return rest


def total(similarity: NDArray[np.float32], rest: NDArray[np.float32], weights: Weights) -> NDArray[np.float32]:
    """The scores of pairs from their similarity and :func:`rest_of`: ``w_semantic * similarity + rest``.

    Rounding is monotone, so an offer whose similarity is at most ``s`` scores at most ``total(s, rest)``:
    the bound that certifies the ranker's top-k. That certification (``Ranker._certify``) and the search bound
    of ``Ranker.scoring_at_least`` invert this form: they change with it.
    """
    scores: NDArray[np.float32] = (weights.semantic * similarity + rest).astype(np.float32)
    return scores


def fuse(signals: Signals, weights: Weights) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
    """Total scores (:func:`total` of :func:`rest_of`) and the weighted contribution of each signal.

    The contributions add up to the totals: the semantic one plus the others in ``SIGNALS`` order. The totals are
    therefore exactly those the ranker orders and certifies by (float32 addition is not associative: adding the
    terms left to right from the semantic one differs in the last bit for about a fifth of the pairs).
    """
    contributions = {name: (weights.signed(name) * signals[name]).astype(np.float32) for name in SIGNALS}
    return total(signals["semantic"], rest_of(signals, weights), weights), contributions

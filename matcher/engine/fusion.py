"""Fusing the signals into one score: a weighted sum of bounded signals.

``score = sum(weight[s] * signal[s])`` and each weighted term is reported as a score component, so the
components add up to the score exactly. A weighted sum keeps the magnitudes that rank fusion throws away:
reciprocal-rank fusion of BM25 and dense retrieval scores 0.66 nDCG@10 on the dev gold set, below dense alone
(0.72), because a paraphrasing need gets a poor BM25 rank that RRF weighs like a good one. Default weights were
chosen on the dev set and checked on the demo corpus's judgements (see the engine's closing notes); they live
in the ranking settings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from matcher.engine.scoring import SIGNALS, Signals


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight per signal (``penalty`` is subtracted per eligibility problem)."""

    semantic: float = 1.0
    lexical: float = 0.03
    targets: float = 0.3
    geography: float = 0.2
    language: float = 0.05
    assistance: float = 0.03
    penalty: float = 0.3

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


def fuse(signals: Signals, weights: Weights) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
    """Total scores and the weighted contribution of each signal (which add up to the totals)."""
    contributions = {name: (weights.signed(name) * signals[name]).astype(np.float32) for name in SIGNALS}
    total = np.zeros_like(next(iter(contributions.values())))
    for value in contributions.values():
        total = total + value
    return total, contributions

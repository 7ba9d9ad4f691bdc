"""Threshold search: every allowed position whose similarity to a query reaches a bound, however deep it is.

A top-k search answers "the k most similar"; the reverse searches (``MatchService.offers_scoring_at_least``,
the saved-search alerts) ask "every one at least this similar", whose count is unknown in advance. The search
starts at ``FIRST_DEPTH`` neighbours and widens fourfold until the last similarity returned is below the bound
or every allowed position was returned; results are best first, so nothing at or above the bound is missed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from matcher.engine.index.protocol import VectorIndex

# Neighbours fetched by the first search; most reverse searches stop there.
FIRST_DEPTH = 256


def search_at_least(
    index: VectorIndex, query: NDArray[np.float32], bound: float, *, allowed: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Similarities and positions, best first, of a prefix of ``allowed`` by similarity to ``query`` holding
    every position whose similarity is at least ``bound`` (and possibly a few below it, which callers filter).

    Positions of -1 pad the result when fewer live positions than asked for are allowed.
    """
    if not len(allowed):
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    depth = min(len(allowed), FIRST_DEPTH)
    while True:
        similarity, positions = index.search(query.reshape(1, -1), depth, allowed=allowed)
        if depth == len(allowed) or float(similarity[0, -1]) < bound:
            return similarity[0], positions[0]
        depth = min(len(allowed), depth * 4)

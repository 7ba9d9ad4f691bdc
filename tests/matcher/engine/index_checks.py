"""Assertions on vector index results, shared by the index tests (test modules never import each other)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from matcher.engine.index import VectorIndex

ATOL = 1e-5


def assert_consistent(
    index: VectorIndex,
    queries: NDArray[np.float32],
    result: tuple[NDArray[np.float32], NDArray[np.int64]],
    allowed: NDArray[np.int64] | None,
) -> None:
    """Every returned position is live, allowed, unique, and carries its true score, best first."""
    scores, positions = result
    live = index.live_mask()
    for row in range(len(positions)):
        found = positions[row][positions[row] >= 0]
        assert len(set(found.tolist())) == found.size
        assert live[found].all()
        if allowed is not None:
            assert np.isin(found, allowed).all()
        true_scores = index.vectors_at(found) @ queries[row]
        assert np.allclose(scores[row][: found.size], true_scores, atol=ATOL)
        assert np.all(np.diff(scores[row][: found.size]) <= ATOL)
        assert np.all(np.isneginf(scores[row][found.size :]))
        assert np.all(positions[row][found.size :] == -1)


def assert_same_top_k(
    expected: tuple[NDArray[np.float32], NDArray[np.int64]],
    actual: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    """Same scores (to float tolerance), same padding, and the same positions wherever scores are not tied.

    Two implementations may sum in different orders, so positions whose scores are within ATOL of the
    k-th score (the boundary) may legitimately differ; every position clearly above it may not.
    """
    expected_scores, expected_positions = expected
    actual_scores, actual_positions = actual
    assert actual_scores.shape == expected_scores.shape
    assert actual_positions.shape == expected_positions.shape
    np.testing.assert_array_equal(actual_positions == -1, expected_positions == -1)
    assert np.allclose(actual_scores, expected_scores, atol=ATOL)
    for row in range(len(expected_positions)):
        valid = expected_positions[row] >= 0
        if not valid.any():
            continue
        boundary = expected_scores[row][valid].min()
        clear_expected = valid & (expected_scores[row] > boundary + ATOL)
        clear_actual = (actual_positions[row] >= 0) & (actual_scores[row] > boundary + ATOL)
        assert set(expected_positions[row][clear_expected]) == set(actual_positions[row][clear_actual])

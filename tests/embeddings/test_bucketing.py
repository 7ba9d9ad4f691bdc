"""Forward passes by length: every text once, longest first, within the bounds of texts and padded tokens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embeddings.bucketing import length_batches


@settings(deadline=None)  # a loaded machine must not fail a pure property on time
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=256), max_size=60),
    max_texts=st.integers(min_value=1, max_value=40),
    max_tokens=st.one_of(st.none(), st.integers(min_value=1, max_value=4096)),
)
def test_batches_cover_every_row_once_longest_first_within_both_bounds(
    lengths: list[int], max_texts: int, max_tokens: int | None
) -> None:
    batches = length_batches(lengths, max_texts=max_texts, max_tokens=max_tokens)
    rows = np.concatenate(batches) if batches else np.zeros(0, dtype=np.intp)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in rows] == sorted(lengths, reverse=True)  # longest first, so little padding
    for batch in batches:
        assert 1 <= len(batch) <= max_texts
        padded = len(batch) * max(lengths[i] for i in batch)
        if max_tokens is not None and len(batch) > 1:
            assert padded <= max_tokens
    # Greedy: a batch stops short only when the next row would break a bound.
    for batch in batches[:-1]:
        grown = len(batch) + 1
        assert grown > max_texts or (max_tokens is not None and grown * lengths[batch[0]] > max_tokens)


def test_a_text_longer_than_the_budget_goes_alone() -> None:
    assert [b.tolist() for b in length_batches([10, 300, 20, 30], max_texts=8, max_tokens=64)] == [
        [1],
        [3, 2],
        [0],
    ]


def test_without_a_token_bound_batches_hold_max_texts() -> None:
    assert [b.tolist() for b in length_batches([5, 9, 7, 1, 3], max_texts=2, max_tokens=None)] == [
        [1, 2],
        [0, 4],
        [3],
    ]


@pytest.mark.parametrize(("max_texts", "max_tokens"), [(0, None), (4, 0)])
def test_bounds_below_one_are_refused(max_texts: int, max_tokens: int | None) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        length_batches([3], max_texts=max_texts, max_tokens=max_tokens)

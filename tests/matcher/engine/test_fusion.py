"""The one definition of a pair's score (matcher/engine/fusion.py): property tests over arbitrary signals."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matcher.engine.fusion import Weights, fuse, rest_of, total
from matcher.engine.scoring import SIGNALS, Signals

N = 16
unit = arrays(np.float32, N, elements=st.floats(0.0, 1.0, width=32))
SIGNAL_VALUES = {
    "semantic": arrays(np.float32, N, elements=st.floats(-1.0, 1.0, width=32)),
    "lexical": unit,
    "targets": unit,
    "geography": st.sampled_from([0.0, 0.8, 0.9, 1.0]).map(lambda v: np.full(N, v, dtype=np.float32)) | unit,
    "language": arrays(np.float32, N, elements=st.sampled_from([0.0, 1.0])),
    "assistance": unit,
    "penalty": arrays(np.float32, N, elements=st.floats(0.0, 3.0, width=32)),
}
signal_sets = st.fixed_dictionaries(SIGNAL_VALUES)
weight = st.floats(0.0, 2.0) | st.sampled_from([0.0, 0.03, 0.05, 0.2, 0.3, 1.0])
weight_sets = st.builds(Weights, **dict.fromkeys(SIGNALS, weight))


@settings(max_examples=300, deadline=None)
@given(signals=signal_sets, weights=weight_sets)
def test_the_reported_score_is_the_score_the_ranker_orders_by(signals: Signals, weights: Weights) -> None:
    """fuse's total is total(similarity, rest_of(...)) to the last bit: the ranker sorts and certifies by the
    latter, so the scores it reports are the ones its list is in order of (no near-tie reported upside down)."""
    totals, _ = fuse(signals, weights)
    rest = rest_of({name: v for name, v in signals.items() if name != "semantic"}, weights)
    np.testing.assert_array_equal(totals, total(signals["semantic"], rest, weights))


@settings(max_examples=100, deadline=None)
@given(signals=signal_sets, weights=weight_sets)
def test_components_are_the_weighted_signals_and_add_up_to_the_score(signals: Signals, weights: Weights) -> None:
    totals, contributions = fuse(signals, weights)
    assert list(contributions) == list(SIGNALS)
    for name in SIGNALS:
        np.testing.assert_array_equal(contributions[name], np.float32(weights.signed(name)) * signals[name])
    assert (contributions["penalty"] <= 0).all()
    np.testing.assert_allclose(sum(c.astype(np.float64) for c in contributions.values()), totals, atol=1e-5)

"""The selectivity planner (``PlannedIndex``): exact below the threshold, HNSW above it with recall >= 0.95.

The thresholds are scaled down (hundreds of vectors instead of 10k) so that both paths run on a small index.
Vectors are clustered and queries are near stored vectors, like real embeddings of offers and needs: on
uniformly random vectors any graph index has poor recall, and that is not what the planner is tuned for.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from matcher.engine.index import ExactIndex, PlannedIndex, PlannerConfig, load_index
from tests.matcher.engine.index_checks import assert_consistent, assert_same_top_k

N = 6_000
DIM = 32
# scan_per_ef=0: above exact_max the graph always serves (at this size the cost model would often scan).
SMALL = PlannerConfig(exact_max=300, flat_max=3_000, background=False, scan_per_ef=0)
SELECTIVITIES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.002)


def clustered(rng: np.random.Generator, n: int, dim: int = DIM) -> NDArray[np.float32]:
    centres = rng.standard_normal((60, dim))
    vectors = centres[rng.integers(0, 60, n)] + 0.7 * rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def near(rng: np.random.Generator, vectors: NDArray[np.float32], n: int) -> NDArray[np.float32]:
    queries = vectors[rng.integers(0, len(vectors), n)] + 0.3 * rng.standard_normal((n, vectors.shape[1]))
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def recall(expected: NDArray[np.int64], actual: NDArray[np.int64]) -> NDArray[np.float64]:
    """Share of each query's true top-k found (rows of positions)."""
    return np.array(
        [
            len(set(e[e >= 0]) & set(a[a >= 0])) / max(1, (e >= 0).sum())
            for e, a in zip(expected, actual, strict=True)
        ]
    )


@pytest.fixture(scope="module")
def indexes() -> tuple[PlannedIndex, ExactIndex, NDArray[np.float32]]:
    rng = np.random.default_rng(3)
    vectors = clustered(rng, N)
    ids = np.arange(N, dtype=np.int64) * 2 + 1
    planned, exact = PlannedIndex(DIM, SMALL), ExactIndex(DIM)
    planned.add(ids, vectors)
    exact.add(ids, vectors)
    assert planned.graph_size == N and planned.graph_builds == 1
    return planned, exact, vectors


@pytest.mark.parametrize("selectivity", SELECTIVITIES)
@pytest.mark.parametrize("k", [10, 50])
def test_planner_is_exact_below_the_threshold_and_recalls_95_percent_above(
    indexes: tuple[PlannedIndex, ExactIndex, NDArray[np.float32]], selectivity: float, k: int
) -> None:
    planned, exact, vectors = indexes
    rng = np.random.default_rng(int(selectivity * 1e4) + k)
    allowed = None if selectivity == 1.0 else rng.choice(N, int(N * selectivity), replace=False)
    queries = near(rng, vectors, 40)
    expected = exact.search(queries, k, allowed=allowed)
    actual = planned.search(queries, k, allowed=allowed)
    assert_consistent(planned, queries, actual, allowed)  # true scores, allowed and live, best first
    n_allowed = N if allowed is None else allowed.size
    plan = planned.plan(k, None if allowed is None else np.sort(allowed))
    assert plan == ("exact" if n_allowed <= SMALL.exact_max else "graph")
    if plan == "exact":
        assert_same_top_k(expected, actual)
    else:
        assert recall(expected[1], actual[1]).mean() >= 0.95
        assert (actual[1] >= 0).all()  # never fewer than k when k are allowed


@settings(max_examples=40, deadline=None, derandomize=True)  # a recall bound: the same examples every run
# From k=5: recall@1 of 30 queries moves in steps of 0.033, so one miss more or less decides a 0.95 bound.
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.0, 1.0), k=st.integers(5, 120))
def test_random_filters_at_any_selectivity(
    indexes: tuple[PlannedIndex, ExactIndex, NDArray[np.float32]], seed: int, share: float, k: int
) -> None:
    planned, exact, vectors = indexes
    rng = np.random.default_rng(seed)
    # Unsorted, with duplicates, as callers may pass them.
    allowed = rng.integers(0, N, max(1, round(share * N)))
    queries = near(rng, vectors, 30)  # recall is a mean: over a handful of queries it is mostly noise
    expected = exact.search(queries, k, allowed=allowed)
    actual = planned.search(queries, k, allowed=allowed)
    assert_consistent(planned, queries, actual, allowed)
    np.testing.assert_array_equal(actual[1] == -1, expected[1] == -1)  # padded exactly when fewer qualify
    if planned.plan(k, np.unique(allowed)) == "exact":
        assert_same_top_k(expected, actual)
    else:
        assert recall(expected[1], actual[1]).mean() >= 0.95


def test_plain_hnsw_with_a_selector_loses_recall_where_the_planner_does_not(
    indexes: tuple[PlannedIndex, ExactIndex, NDArray[np.float32]],
) -> None:
    """The comparison the benchmark makes: one graph, fixed efSearch, whatever the filter."""
    planned, exact, vectors = indexes
    plain = PlannedIndex(
        DIM, PlannerConfig(planned=False, scale_ef=False, fallback=False, background=False, ef_search=16)
    )
    plain.add(exact.ids, vectors)
    rng = np.random.default_rng(11)
    allowed = rng.choice(N, N // 100, replace=False)
    queries = near(rng, vectors, 40)
    expected = exact.search(queries, 10, allowed=allowed)[1]
    assert plain.plan(10, np.sort(allowed)) == "graph"
    assert recall(expected, plain.search(queries, 10, allowed=allowed)[1]).mean() < 0.9
    assert recall(expected, planned.search(queries, 10, allowed=allowed)[1]).mean() == 1.0


def test_a_graph_walk_that_runs_short_falls_back_to_exact() -> None:
    rng = np.random.default_rng(5)
    vectors = clustered(rng, 3_000)
    ids = np.arange(3_000, dtype=np.int64)
    # The graph serves even tiny filters here, with a small efSearch, so the walk finds too few allowed nodes.
    config = PlannerConfig(exact_max=0, flat_max=0, scale_ef=False, ef_search=10, background=False, scan_per_ef=0)
    with_fallback = PlannedIndex(DIM, config)
    without = PlannedIndex(DIM, dataclasses.replace(config, fallback=False))
    exact = ExactIndex(DIM)
    for index in (with_fallback, without, exact):
        index.add(ids, vectors)
    allowed = rng.choice(3_000, 12, replace=False)
    queries = near(rng, vectors, 20)
    assert with_fallback.plan(10, np.sort(allowed)) == "graph"
    short = without.search(queries, 10, allowed=allowed)[1]
    assert (short < 0).any()  # the situation the fallback exists for does arise
    assert_same_top_k(
        exact.search(queries, 10, allowed=allowed), with_fallback.search(queries, 10, allowed=allowed)
    )


def test_vectors_added_after_the_build_are_found_and_deleted_ones_never_return() -> None:
    rng = np.random.default_rng(8)
    vectors = clustered(rng, 4_000)
    config = PlannerConfig(exact_max=100, flat_max=1_000, background=False, rebuild_ratio=0.1, scan_per_ef=0)
    planned, exact = PlannedIndex(DIM, config), ExactIndex(DIM)
    for index in (planned, exact):
        index.add(np.arange(4_000), vectors)
    assert planned.graph_builds == 1

    tail = clustered(np.random.default_rng(9), 200)
    removed = np.arange(0, 4_000, 40)
    for index in (planned, exact):
        index.add(np.arange(10_000, 10_200), tail)  # 5 % of the graph: below the rebuild ratio
        index.remove(removed)
    assert planned.graph_builds == 1 and planned.stale_share() == pytest.approx((200 + 100) / 4_000)
    # Each tail vector is its own best match: found although it is not in the graph.
    _, positions = planned.search(tail[:50], 1)
    np.testing.assert_array_equal(planned.ids[positions[:, 0]], np.arange(10_000, 10_050))
    queries = near(rng, vectors, 30)
    result = planned.search(queries, 20)
    assert not np.isin(planned.ids[result[1]], removed).any()
    assert recall(exact.search(queries, 20)[1], result[1]).mean() >= 0.95

    # Past the rebuild ratio the graph is rebuilt over the live vectors only.
    for index in (planned, exact):
        index.add(np.arange(20_000, 20_300), clustered(np.random.default_rng(10), 300))
    assert planned.graph_builds == 2 and planned.graph_size == len(planned) and planned.stale_share() == 0.0


def test_compaction_renumbers_the_graph() -> None:
    rng = np.random.default_rng(12)
    vectors = clustered(rng, 4_000)
    config = PlannerConfig(exact_max=100, flat_max=1_000, background=False, rebuild_ratio=0.5, scan_per_ef=0)
    planned, exact = PlannedIndex(DIM, config), ExactIndex(DIM)
    for index in (planned, exact):
        index.add(np.arange(4_000), vectors)
        index.remove(np.arange(0, 4_000, 3))
        index.compact()
    assert planned.graph_builds == 1  # a third deleted is below this rebuild ratio: the same graph, renumbered
    queries = near(rng, vectors, 30)
    allowed = rng.choice(planned.size, 1_000, replace=False)
    for candidate in (None, allowed):
        assert planned.plan(10, None if candidate is None else np.sort(candidate)) == "graph"
        expected, actual = (
            exact.search(queries, 10, allowed=candidate),
            planned.search(queries, 10, allowed=candidate),
        )
        assert_consistent(planned, queries, actual, candidate)
        np.testing.assert_array_equal(planned.ids, exact.ids)
        assert recall(expected[1], actual[1]).mean() >= 0.95


def test_background_build_keeps_searches_exact_until_the_graph_is_ready() -> None:
    rng = np.random.default_rng(13)
    vectors = clustered(rng, 3_000)
    planned = PlannedIndex(DIM, PlannerConfig(exact_max=100, flat_max=1_000, background=True, scan_per_ef=0))
    exact = ExactIndex(DIM)
    exact.add(np.arange(3_000), vectors)
    failures: list[BaseException] = []
    stop = threading.Event()
    queries = near(rng, vectors, 4)

    def search() -> None:
        try:
            while not stop.is_set():
                result = planned.search(queries, 10)
                if planned.graph_size == 0 and len(planned) == 3_000:
                    assert_same_top_k(exact.search(queries, 10), result)
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)

    planned.add(np.arange(3_000), vectors)
    reader = threading.Thread(target=search)
    reader.start()
    planned.wait_for_graph(timeout=120)
    stop.set()
    reader.join()
    assert not failures
    assert planned.graph_size == 3_000 and planned.plan(10, None) == "graph"


def test_a_loaded_index_builds_its_graph(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    vectors = clustered(rng, 2_000)
    planned = PlannedIndex(DIM, PlannerConfig(exact_max=100, flat_max=1_000, background=False, scan_per_ef=0))
    planned.add(np.arange(2_000), vectors)
    planned.save(tmp_path / "offers.npz", {"model": "m"})
    loaded, metadata = load_index("auto", tmp_path / "offers.npz", planner=planned.config)
    assert isinstance(loaded, PlannedIndex) and metadata == {"model": "m"}
    assert loaded.graph_size == 2_000 and loaded.config == planned.config
    queries = near(rng, vectors, 20)
    assert recall(planned.search(queries, 10)[1], loaded.search(queries, 10)[1]).mean() >= 0.95


def test_efsearch_grows_as_the_filter_narrows() -> None:
    config = PlannerConfig(ef_search=64, ef_max=2_048)
    assert config.ef_for(10, 1.0) == 64
    assert config.ef_for(200, 1.0) == 800  # ef_per_k
    assert config.ef_for(10, 0.1) > config.ef_for(10, 0.2) >= 64
    assert config.ef_for(10, 1e-6) == 2_048
    assert PlannerConfig(ef_search=64, scale_ef=False).ef_for(10, 0.01) == 64


def test_a_saved_graph_is_mapped_back_not_rebuilt(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    vectors = clustered(rng, 2_000)
    config = PlannerConfig(exact_max=100, flat_max=1_000, background=False, scan_per_ef=0)
    planned = PlannedIndex(DIM, config)
    planned.add(np.arange(2_000), vectors)
    planned.remove(np.arange(0, 2_000, 50))  # dead nodes: the saved map must keep excluding them
    path = tmp_path / "offers.npz"
    planned.save(path, {})
    graphs = list(tmp_path.glob("offers.npz.*.hnsw"))
    assert len(graphs) == 1

    loaded, _ = load_index("auto", path, planner=config)
    assert isinstance(loaded, PlannedIndex)
    assert loaded.graph_builds == 0 and loaded.graph_size == 2_000  # mapped from the file
    queries = near(rng, vectors, 20)
    np.testing.assert_array_equal(planned.search(queries, 10)[1], loaded.search(queries, 10)[1])
    assert not np.isin(loaded.ids[loaded.search(queries, 10)[1]], np.arange(0, 2_000, 50)).any()

    # A new graph replaces the old file at the next save; a damaged file is rebuilt, never trusted.
    loaded.add(np.arange(5_000, 5_400), clustered(rng, 400))
    assert loaded.graph_builds == 1
    loaded.save(path, {})
    (replaced,) = tmp_path.glob("offers.npz.*.hnsw")
    assert replaced != graphs[0]
    replaced.write_bytes(b"not a faiss index")
    reloaded, _ = load_index("auto", path, planner=config)
    assert isinstance(reloaded, PlannedIndex) and reloaded.graph_builds == 1 and reloaded.graph_size == 2_360


def test_graph_state_tells_operators_what_searches_use() -> None:
    rng = np.random.default_rng(16)
    config = PlannerConfig(exact_max=500, flat_max=1_000, background=False)
    planned = PlannedIndex(DIM, config)
    planned.add(np.arange(400), clustered(rng, 400))
    assert planned.graph_state == "exact only"
    planned.add(np.arange(400, 1_500), clustered(rng, 1_100))
    assert planned.graph_state == "ready: 1500 nodes, 0% stale"
    planned.remove(np.arange(100))
    assert planned.graph_state == "ready: 1500 nodes, 7% stale"

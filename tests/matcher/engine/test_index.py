"""The vector index: FaissIndex agrees with the NumPy reference, tombstones stay dead, files survive crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from matcher.engine.index import (
    ExactIndex,
    FaissIndex,
    PlannedIndex,
    VectorIndex,
    make_index,
    search_at_least,
    threshold,
)
from tests.matcher.engine.index_checks import ATOL, assert_consistent, assert_same_top_k

# "auto" (the planner) with its default configuration searches these small indexes exactly, so it must
# agree with the reference exactly; tests/matcher/engine/test_index_planner.py covers its HNSW path.
KINDS = ("auto", "flat", "exact")


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def built(kind: str, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> VectorIndex:
    index = make_index(kind, vectors.shape[1])  # type: ignore[arg-type]
    index.add(ids, vectors)
    return index


# ------------------------------------------------------------------------------------------------ differential


@dataclass
class Scenario:
    """A random index history (adds, updates, removals) plus one filtered search."""

    seed: int
    dim: int
    n: int
    duplicate_share: float
    updates: int
    removals: int
    allowed_mode: str
    allowed_share: float
    k_extra: int
    n_queries: int


scenarios = st.builds(
    Scenario,
    seed=st.integers(0, 2**32 - 1),
    dim=st.integers(4, 32),
    n=st.integers(1, 300),
    duplicate_share=st.sampled_from([0.0, 0.0, 0.2, 0.9]),
    updates=st.integers(0, 40),
    removals=st.integers(0, 60),
    allowed_mode=st.sampled_from(["none", "empty", "single", "share", "share", "share"]),
    allowed_share=st.floats(0.0, 1.0),
    k_extra=st.integers(-300, 20),
    n_queries=st.integers(1, 4),
)


def play(scenario: Scenario) -> tuple[list[VectorIndex], NDArray[np.float32], NDArray[np.int64] | None, int]:
    """Apply the scenario's history to both kinds; return them, the queries, `allowed` and k."""
    rng = np.random.default_rng(scenario.seed)
    vectors = unit_vectors(rng, scenario.n, scenario.dim)
    # Duplicated rows give exactly tied scores.
    duplicates = rng.random(scenario.n) < scenario.duplicate_share
    vectors[duplicates] = vectors[rng.integers(0, scenario.n, int(duplicates.sum()))]
    ids = rng.choice(10 * scenario.n + 10, scenario.n, replace=False).astype(np.int64)
    indexes = [built(kind, ids, vectors) for kind in KINDS]

    updated = rng.choice(ids, min(scenario.updates, scenario.n), replace=False)
    new_ids = np.concatenate([updated, [10 * scenario.n + 20]]).astype(np.int64)
    new_vectors = unit_vectors(rng, new_ids.size, scenario.dim)
    # An id can be removed twice, or never have existed: both are no-ops.
    removed = np.concatenate([rng.choice(new_ids, min(scenario.removals, new_ids.size)), [-5]]).astype(np.int64)
    for index in indexes:
        index.add(new_ids, new_vectors)
        index.remove(removed)

    size = indexes[0].size
    allowed: NDArray[np.int64] | None
    if scenario.allowed_mode == "none":
        allowed = None
    elif scenario.allowed_mode == "empty":
        allowed = np.empty(0, np.int64)
    elif scenario.allowed_mode == "single":
        allowed = rng.integers(0, size, 1)
    else:
        # Unsorted, with duplicates and tombstoned positions: the index must cope with all three.
        allowed = rng.integers(0, size, max(1, round(scenario.allowed_share * size)))
    # Queries copied from stored vectors tie with their duplicates.
    queries = np.concatenate(
        [vectors[rng.integers(0, scenario.n, scenario.n_queries - 1)], unit_vectors(rng, 1, scenario.dim)]
    )
    k = max(1, scenario.n + scenario.k_extra)
    return indexes, queries, allowed, k


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
def test_faiss_top_k_equals_exact_top_k(scenario: Scenario) -> None:
    (*others, exact), queries, allowed, k = play(scenario)
    expected = exact.search(queries, k, allowed=allowed)
    assert_consistent(exact, queries, expected, allowed)
    for index in others:
        np.testing.assert_array_equal(index.ids, exact.ids)
        np.testing.assert_array_equal(index.live_mask(), exact.live_mask())
        assert len(index) == len(exact)
        actual = index.search(queries, k, allowed=allowed)
        assert_same_top_k(expected, actual)
        assert_consistent(index, queries, actual, allowed)


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios)
def test_exact_index_equals_a_full_sort(scenario: Scenario) -> None:
    (*_, exact), queries, allowed, k = play(scenario)
    live = exact.live_mask()
    candidates = np.flatnonzero(live) if allowed is None else np.unique(allowed)[live[np.unique(allowed)]]
    scores, positions = exact.search(queries, k, allowed=allowed)
    for row, query in enumerate(queries):
        full = (exact.vectors_at(candidates).astype(np.float64) @ query.astype(np.float64)).astype(np.float32)
        order = np.lexsort((candidates, -full))[:k]
        padding = k - order.size
        expected_scores = np.concatenate([full[order], np.full(padding, -np.inf, np.float32)])
        expected_positions = np.concatenate([candidates[order], np.full(padding, -1, np.int64)])
        assert_same_top_k(
            (expected_scores[None, :], expected_positions[None, :]),
            (scores[row : row + 1], positions[row : row + 1]),
        )


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    k=st.integers(1, 320),
    share=st.floats(0.0, 1.0),
    n_queries=st.sampled_from([1, 2, 25]),
)
def test_ties_follow_positions_exactly(seed: int, n: int, k: int, share: float, n_queries: int) -> None:
    """One-hot vectors make every score exact, so ties are real ties and the order is fully determined."""
    rng = np.random.default_rng(seed)
    dim = 4
    vectors = np.eye(dim, dtype=np.float32)[rng.integers(0, dim, n)]
    # Scores are exactly the query's components: few distinct values, many ties.
    queries = np.tile(np.array([[0.8, 0.6, 0.0, 0.0]], np.float32), (n_queries, 1))
    allowed = None if share > 0.9 else rng.integers(0, n, max(1, round(share * n)))
    live = rng.random(n) > 0.2
    for kind in KINDS:
        index = built(kind, np.arange(n), vectors)
        index.remove(np.flatnonzero(~live))
        scores, positions = index.search(queries, k, allowed=allowed)
        candidates = np.flatnonzero(live) if allowed is None else np.unique(allowed)[live[np.unique(allowed)]]
        full = vectors[candidates] @ queries[0]
        order = np.lexsort((candidates, -full))[:k]
        padding = k - order.size
        assert positions.tolist() == [[*candidates[order].tolist(), *[-1] * padding]] * n_queries, kind
        assert np.array_equal(scores[0, : order.size], full[order])


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    share=st.floats(0.0, 1.0),
    bound=st.floats(-1.0, 1.0),
    first_depth=st.sampled_from([1, 3, 256]),
)
def test_threshold_search_returns_every_allowed_position_reaching_the_bound(
    seed: int, n: int, share: float, bound: float, first_depth: int
) -> None:
    """However shallow the first search, widening finds every allowed live position at or above the bound."""
    rng = np.random.default_rng(seed)
    vectors = unit_vectors(rng, n, 8)
    query = unit_vectors(rng, 1, 8)[0]
    live = rng.random(n) > 0.1
    allowed = np.flatnonzero(rng.random(n) < share).astype(np.int64)
    for kind in KINDS:
        index = built(kind, np.arange(n), vectors)
        index.remove(np.flatnonzero(~live))
        with patch.object(threshold, "FIRST_DEPTH", first_depth):
            similarity, positions = search_at_least(index, query, bound, allowed=allowed)
        found = positions[positions >= 0]
        assert np.all(np.diff(similarity[positions >= 0]) <= 0), kind  # best first
        exact = vectors[allowed[live[allowed]]] @ query
        expected = allowed[live[allowed]][exact >= bound + ATOL]  # clear of float32 differences at the bound
        assert set(expected.tolist()) <= set(found.tolist()), kind
        assert set(found.tolist()) <= set(allowed[live[allowed]].tolist()), kind


# ------------------------------------------------------------------------------------------------ unit


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "allowed",
    [None, np.arange(10)[::-1].copy(), np.array([9, 3, 3, 4, 0, 1, 2]), np.arange(10)],
    ids=["unfiltered", "reversed", "duplicates", "all"],
)
def test_ties_are_broken_by_lower_position(kind: str, allowed: NDArray[np.int64] | None) -> None:
    vector = np.array([[0.6, 0.8, 0.0, 0.0]], np.float32)
    index = built(kind, np.arange(100, 110), np.repeat(vector, 10, axis=0))
    scores, positions = index.search(vector, 3, allowed=allowed)
    assert positions.tolist() == [[0, 1, 2]]
    assert np.allclose(scores, 1.0)
    index.remove(np.array([100]))
    assert index.search(vector, 3, allowed=allowed)[1].tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("share", [0.001, 0.05, 0.5, 0.65, 0.9, 0.999, 1.0])
def test_both_selector_paths_agree_with_exact(rng: np.random.Generator, share: float) -> None:
    vectors = unit_vectors(rng, 2000, 16)
    ids = np.arange(2000, dtype=np.int64)
    *others, exact = (built(kind, ids, vectors) for kind in KINDS)
    for index in (*others, exact):
        index.remove(ids[::50])
    queries = unit_vectors(rng, 25, 16)  # >= 20 queries: FAISS's BLAS path when unfiltered
    allowed = np.sort(rng.choice(2000, max(1, int(share * 2000)), replace=False))
    for candidate in (allowed, None):
        for index in others:
            assert_same_top_k(
                exact.search(queries, 10, allowed=candidate), index.search(queries, 10, allowed=candidate)
            )


@pytest.mark.parametrize("kind", KINDS)
def test_update_tombstones_the_old_position(kind: str, rng: np.random.Generator) -> None:
    vectors = unit_vectors(rng, 5, 8)
    index = built(kind, np.array([10, 11, 12, 13, 14]), vectors)
    new_vector = unit_vectors(rng, 1, 8)
    assert index.add(np.array([12]), new_vector).tolist() == [5]
    assert index.size == 6 and len(index) == 5
    assert index.live_mask().tolist() == [True, True, False, True, True, True]
    assert index.ids.tolist() == [10, 11, 12, 13, 14, 12]  # the tombstone keeps its old id
    assert index.positions_of(np.array([12, 10, 99])).tolist() == [5, 0, -1]
    assert index.tombstone_ratio == pytest.approx(1 / 6)
    # The old vector is gone from results even when explicitly allowed; the new one is found.
    assert index.search(vectors[2:3], 6, allowed=np.array([2]))[1].tolist() == [[-1] * 6]
    assert index.search(new_vector, 1)[1].tolist() == [[5]]
    np.testing.assert_array_equal(index.vectors_at(np.array([5, 2])), np.concatenate([new_vector, vectors[2:3]]))


@pytest.mark.parametrize("kind", KINDS)
def test_removed_ids_never_come_back(kind: str, rng: np.random.Generator) -> None:
    vectors = unit_vectors(rng, 50, 8)
    index = built(kind, np.arange(50), vectors)
    assert index.remove(np.array([3, 3, 7, 1000])) == 2
    assert index.remove(np.array([3])) == 0
    everything = np.arange(index.size)
    for allowed in (None, everything, np.array([3, 7])):
        positions = index.search(vectors, 50, allowed=allowed)[1]
        assert not np.isin(positions, [3, 7]).any()
    assert index.search(vectors[3:4], 5, allowed=np.array([3, 7]))[1].tolist() == [[-1] * 5]
    index.add(np.arange(100, 110), unit_vectors(rng, 10, 8))
    kept = index.compact()
    assert 3 not in index.ids and 7 not in index.ids
    assert kept.size == len(index) == 58
    assert not np.isin(index.ids[index.search(vectors, 58)[1]], [3, 7]).any()


@pytest.mark.parametrize("kind", KINDS)
def test_padding_when_fewer_than_k_qualify(kind: str, rng: np.random.Generator) -> None:
    vectors = unit_vectors(rng, 4, 8)
    empty = make_index("flat" if kind == "flat" else "exact", 8)
    scores, positions = empty.search(vectors, 3)
    assert positions.tolist() == [[-1] * 3] * 4 and np.isneginf(scores).all()
    index = built(kind, np.arange(4), vectors)
    scores, positions = index.search(vectors[:1], 6, allowed=np.array([2, 0]))
    assert positions[0, :2].tolist() == [0, 2] and positions[0, 2:].tolist() == [-1] * 4
    assert np.isneginf(scores[0, 2:]).all() and scores[0, 0] == pytest.approx(1.0)
    assert index.search(vectors, 2, allowed=np.empty(0, np.int64))[1].tolist() == [[-1, -1]] * 4
    assert index.search(np.empty((0, 8), np.float32), 2)[0].shape == (0, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_compact_returns_kept_and_keeps_results_as_ids(kind: str, rng: np.random.Generator) -> None:
    vectors = unit_vectors(rng, 200, 16)
    ids = np.arange(1000, 1200, dtype=np.int64)
    index = built(kind, ids, vectors)
    index.add(ids[:30], unit_vectors(rng, 30, 16))
    index.remove(ids[50:90])
    queries = unit_vectors(rng, 5, 16)
    allowed = np.arange(0, index.size, 3)
    before_ids = index.ids.copy()
    live_before = index.live_mask().copy()
    scores_before, positions_before = index.search(queries, 15, allowed=allowed)

    kept = index.compact()

    np.testing.assert_array_equal(kept, np.flatnonzero(live_before))
    np.testing.assert_array_equal(index.ids, before_ids[kept])
    assert index.size == len(index) == kept.size and index.tombstone_ratio == 0.0
    # A caller's per-position filter compacts the same way: allowed_mask[kept].
    allowed_mask = np.zeros(live_before.size, np.bool_)
    allowed_mask[allowed] = True
    scores_after, positions_after = index.search(queries, 15, allowed=np.flatnonzero(allowed_mask[kept]))
    assert np.allclose(scores_after, scores_before, atol=ATOL)
    np.testing.assert_array_equal(index.ids[positions_after], before_ids[positions_before])
    np.testing.assert_array_equal(index.positions_of(before_ids[kept]), np.arange(kept.size))
    np.testing.assert_array_equal(index.compact(), np.arange(kept.size))  # nothing left to drop


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("load_as", [FaissIndex, ExactIndex])
def test_save_load_round_trip(
    kind: str, load_as: type[FaissIndex] | type[ExactIndex], rng: np.random.Generator, tmp_path: Path
) -> None:
    vectors = unit_vectors(rng, 40, 8)
    index = built(kind, np.arange(40) * 3, vectors)
    index.add(np.array([3]), unit_vectors(rng, 1, 8))
    index.remove(np.array([6, 9]))
    metadata = {"model": "all-MiniLM-L6-v2", "built_at": "2025-01-01T00:00:00Z", "offers": 39}
    path = tmp_path / "offers.npz"

    index.save(path, metadata)
    loaded, loaded_metadata = load_as.load(path)

    assert isinstance(loaded, load_as)
    assert loaded_metadata == metadata
    assert loaded.dim == 8 and loaded.size == index.size and len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.ids, index.ids)
    np.testing.assert_array_equal(loaded.live_mask(), index.live_mask())
    everything = np.arange(index.size)
    np.testing.assert_array_equal(loaded.vectors_at(everything), index.vectors_at(everything))
    np.testing.assert_array_equal(loaded.positions_of(index.ids), index.positions_of(index.ids))
    assert_same_top_k(index.search(vectors, 5), loaded.search(vectors, 5))
    assert [p.name for p in tmp_path.iterdir()] == ["offers.npz"]  # no temporary file left behind


@pytest.mark.parametrize("kind", KINDS)
def test_crash_during_save_leaves_the_previous_file(
    kind: str, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "offers.npz"
    index = built(kind, np.arange(10), unit_vectors(rng, 10, 8))
    index.save(path, {"version": 1})
    previous = path.read_bytes()
    index.add(np.arange(10, 20), unit_vectors(rng, 10, 8))

    def crash(file: Any, *args: Any, **kwargs: Any) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr("matcher.engine.index.persistence.np.savez", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path, {"version": 2})

    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["offers.npz"]
    monkeypatch.undo()
    loaded, metadata = type(index).load(path)
    assert metadata == {"version": 1} and loaded.size == 10


def test_save_fsyncs_the_file_and_the_directory(
    rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr("matcher.engine.index.persistence.os.fsync", spy)
    built("flat", np.arange(3), unit_vectors(rng, 3, 4)).save(tmp_path / "i.npz", {})
    assert synced == [False, True]  # the data first, then the directory holding the rename


def test_save_rejects_metadata_that_is_not_json(rng: np.random.Generator, tmp_path: Path) -> None:
    index = built("flat", np.arange(3), unit_vectors(rng, 3, 4))
    with pytest.raises(TypeError):
        index.save(tmp_path / "i.npz", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, vectors=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a Pollinate vector index"):
        FaissIndex.load(path)


def test_public_arrays_are_read_only(rng: np.random.Generator) -> None:
    index = built("flat", np.arange(3), unit_vectors(rng, 3, 4))
    with pytest.raises(ValueError, match="read-only"):
        index.ids[0] = 5
    with pytest.raises(ValueError, match="read-only"):
        index.live_mask()[0] = False


def test_float64_input_is_stored_as_float32(rng: np.random.Generator) -> None:
    index = built("flat", np.arange(3), unit_vectors(rng, 3, 4).astype(np.float64))
    assert index.vectors_at(np.arange(3)).dtype == np.float32
    assert index.search(index.vectors_at(np.array([1])).astype(np.float64), 1)[1].tolist() == [[1]]


def _bad_calls() -> list[Any]:
    good = np.eye(4, dtype=np.float32)
    unnormalised = good * 2
    with_nan = good.copy()
    with_nan[1, 1] = np.nan
    return [
        pytest.param(lambda ix: ix.add(np.arange(4), np.eye(5, dtype=np.float32)), r"shape \(n, 4\)", id="dim"),
        pytest.param(lambda ix: ix.add(np.arange(1), good[0]), r"queries|vectors\[None, :\]", id="1-d"),
        pytest.param(lambda ix: ix.add(np.arange(4), np.eye(4, dtype=np.int64)), "floating point", id="int"),
        pytest.param(lambda ix: ix.add(np.arange(4), with_nan), r"NaN or infinite values \(rows \[1\]", id="nan"),
        pytest.param(lambda ix: ix.add(np.arange(4), unnormalised), "L2-normalised", id="norm"),
        pytest.param(lambda ix: ix.add(np.array([1, 2, 2, 3]), good), r"unique.*\[2\]", id="duplicate-ids"),
        pytest.param(lambda ix: ix.add(np.arange(3), good), "3 ids for 4 vectors", id="count"),
        pytest.param(lambda ix: ix.add(np.arange(4.0), good), "integers", id="float-ids"),
        pytest.param(lambda ix: ix.search(good[:, :3], 1), r"shape \(n, 4\)", id="query-dim"),
        pytest.param(lambda ix: ix.search(good[0], 1), r"queries\[None, :\]", id="query-1d"),
        pytest.param(lambda ix: ix.search(good, 0), "k must be at least 1", id="k"),
        pytest.param(lambda ix: ix.search(good, 1, allowed=np.array([0, 9])), r"\[0, 8\).*\[9\]", id="allowed"),
        pytest.param(lambda ix: ix.search(good, 1, allowed=np.array([[0]])), "1-D", id="allowed-2d"),
        pytest.param(lambda ix: ix.vectors_at(np.array([-1])), r"positions must be", id="vectors-at"),
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("call", "message"), _bad_calls())
def test_bad_input_is_refused_clearly(kind: str, call: Any, message: str) -> None:
    index = built(kind, np.arange(100, 108), np.eye(4, dtype=np.float32)[[0, 1, 2, 3] * 2])
    before = (index.ids.copy(), index.live_mask().copy())
    with pytest.raises(ValueError, match=message):
        call(index)
    np.testing.assert_array_equal(index.ids, before[0])  # a refused call changes nothing
    np.testing.assert_array_equal(index.live_mask(), before[1])


def test_make_index() -> None:
    assert isinstance(make_index("flat", 8), FaissIndex)
    assert isinstance(make_index("exact", 8), ExactIndex)
    assert isinstance(make_index("auto", 8), PlannedIndex) and make_index("auto", 8).config.planned  # type: ignore[attr-defined]
    assert not make_index("hnsw", 8).config.planned  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown index kind 'ivf'"):
        make_index("ivf", 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        make_index("flat", 0)


@pytest.mark.parametrize("kind", KINDS)
def test_searches_run_while_writers_add_remove_and_compact(kind: str, rng: np.random.Generator) -> None:
    dim = 16
    index = built(kind, np.arange(500), unit_vectors(rng, 500, dim))
    queries = unit_vectors(rng, 8, dim)
    failures: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        try:
            while not stop.is_set():
                # Below any size compaction can shrink the index to: positions must be valid when used.
                for allowed in (None, np.arange(0, 200, 2)):
                    scores, positions = index.search(queries[:1], 5, allowed=allowed)
                    assert ((positions[0] >= 0) | np.isneginf(scores[0])).all()
                    assert np.all(np.diff(scores[0][positions[0] >= 0]) <= ATOL)
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)

    readers = [threading.Thread(target=search) for _ in range(3)]
    for reader in readers:
        reader.start()
    writer_rng = np.random.default_rng(1)
    for step in range(60):
        index.add(writer_rng.integers(0, 800, 1) + np.arange(0, 50, 10) * 1000, unit_vectors(writer_rng, 5, dim))
        index.remove(writer_rng.integers(0, 500, 3))
        if step % 20 == 19:
            index.compact()
    stop.set()
    for reader in readers:
        reader.join()
    assert not failures
    assert len(index) == int(index.live_mask().sum())


# Run in a child process: without the write gate this crashes (SIGSEGV) rather than failing an assert, as
# FAISS frees the buffer a search is still reading when `add` reallocates it.
RACE = """
import threading
import numpy as np
from matcher.engine.index import FaissIndex

rng = np.random.default_rng(0)


def unit(n):
    v = rng.standard_normal((n, 64)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


index = FaissIndex(64)
index.add(np.arange(2000), unit(2000))
query = unit(1)
stop = threading.Event()


def search():
    while not stop.is_set():
        index.search(query, 5)


readers = [threading.Thread(target=search) for _ in range(2)]
for reader in readers:
    reader.start()
for step in range(1, 41):  # the buffer grows to 20 MB, reallocated (and unmapped) several times
    index.add(np.arange(2000) + 10_000 * step, unit(2000))
stop.set()
for reader in readers:
    reader.join()
print(index.size)
"""


def test_add_waits_for_searches_in_flight() -> None:
    root = Path(__file__).resolve().parents[3]  # the repository, so that the child imports this matcher
    child = subprocess.run(
        [sys.executable, "-c", RACE], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    assert child.stdout.split() == ["82000"]

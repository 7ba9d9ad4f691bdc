"""Index benchmark: single-query latency and recall of each index kind, by corpus size and filter selectivity.

Synthetic unit vectors (no model needed), one query per call as the server issues them, one thread. Every
kind the engine offers (``matcher.engine.index.IndexKind``) is benchmarked unless the caller picks some, so a kind
added to the engine shows up here without a change. The figures are measurements of one machine at one
moment; nothing here is ever asserted by a test except the shape of the report and recall (a correctness
property for the exact kinds).

Cost
    Dominated by the largest corpus. The default run (10k, 100k and 1M vectors of dimension 384, four
    selectivities, both kinds, 200 queries per cell) took 87 to 93 s wall on this 2-core machine, with a peak
    resident memory of 5.1 GB: at 1M, the vectors (1.5 GB), one copy in each index, and the engine's
    validation temporary while the second index is built. The vectors are normalised in place (no temporary
    beyond the array itself), and the reference search runs 32 queries at a time, so that its score matrix
    stays at 128 MB. Every (size, selectivity, kind) cell is timed with the same number of queries, so that
    p99 means the same thing at every size.

Recall
    Both kinds score in float32, whose rounding (at most ``dim * 2**-24`` per score of two unit vectors) can
    swap two results whose scores differ by less than that: among 1M random vectors a query's 10th and 11th
    scores sometimes do. So recall is tie-tolerant, as in ann-benchmarks: a returned position counts when the
    filter allows it and its float64 score is at least the k-th exact score minus twice that bound.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from evaluation.bench.corpus import offer_like_vectors
from evaluation.bench.measure import peak_rss_mb, rss_bytes
from matcher.engine.index import (
    ExactIndex,
    IndexKind,
    PlannedIndex,
    PlannerConfig,
    VectorIndex,
    make_index,
    planner_for,
)

__all__ = ["check_arguments", "index_kinds", "run_index_benchmark"]

# Untimed searches before each timed series: first calls pay for page faults and lazy initialisation.
_WARMUP_QUERIES = 3

# Overhead per stored offer beyond its vector: ids (8 B), live mask (1 B) and the id -> position dict
# (52 B of dict per entry measured with sys.getsizeof on CPython 3.11, plus two 28 B ints).
_BOOKKEEPING_BYTES_PER_VECTOR = 8 + 1 + 52 + 2 * 28

# Queries per reference search: its (queries x allowed) score matrix is 128 MB at 1M vectors.
_REFERENCE_BATCH = 32

# The kind whose results are the truth for recall.
_REFERENCE_KIND = "exact"


def index_kinds() -> tuple[IndexKind, ...]:
    """Every index kind the engine offers, in the order it declares them."""
    kinds: tuple[IndexKind, ...] = typing.get_args(IndexKind)
    return kinds


def run_index_benchmark(
    *,
    sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
    selectivities: Sequence[float] = (1.0, 0.1, 0.01, 0.001),
    dim: int = 384,
    k: int = 10,
    n_queries: int = 200,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    sentence_vectors: Mapping[str, NDArray[np.float32]] | None = None,
    planner: PlannerConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time single-query searches of each index kind for every (size, selectivity).

    For each size, every kind is built once from the same vectors: offer-like vectors synthesised from real
    sentence embeddings when ``sentence_vectors`` is given (:func:`evaluation.bench.api.offer_like_vectors`;
    the queries are drawn the same way), random unit vectors otherwise (on which any graph index recalls
    poorly: they have no structure). The ``auto`` (planner) and ``hnsw`` (plain HNSW + selector) kinds are
    built with their graph (in the foreground) and share it when both run. For each selectivity, one
    random allowed set of that fraction of the positions (at least one) serves the whole query batch;
    selectivity 1.0 means no filter. Recall@k is measured against exact (NumPy) search, tie-tolerant (see the
    module docstring).

    Args:
        sizes: Corpus sizes (number of vectors).
        selectivities: Fractions of the corpus the filter allows, in (0, 1].
        dim: Vector dimension.
        k: Results per query.
        n_queries: Timed queries per (size, selectivity, kind).
        seed: Seed of the vectors, queries and filters.
        kinds: Index kinds to time; None for every kind the engine offers (:func:`index_kinds`).
        sentence_vectors: Real embeddings of :func:`evaluation.bench.api.pool_sentences` (then ``dim`` must be
            theirs), or None for random vectors.
        planner: Configuration of the ``auto`` and ``hnsw`` kinds (default :class:`PlannerConfig`); its
            ``background`` is ignored (graphs are built before timing).
        progress: Called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: ``dim``, ``k``, ``n_queries``, ``seed``, ``kinds``, ``sizes``,
        ``selectivities``, ``threads``, ``omp_num_threads_at_start`` (the serving setting is "1"),
        ``cpu_count``, ``recall_tolerance``; ``results``, one entry per (size, selectivity, kind) with
        ``median_ms``, ``p99_ms``, ``recall_at_k``, ``plan`` (``exact`` or ``graph`` for the planned kinds,
        else None), ``build_s`` (with the graph), ``memory_mb`` (approximate: vectors plus
        bookkeeping) and ``rss_mb`` (resident memory the build added, measured; None where the platform does
        not tell); ``speedups``, one entry per (size, selectivity, kind other than exact) with
        ``exact median_ms / kind median_ms`` when exact ran; ``wall_s`` and ``peak_rss_mb`` (the whole
        process's peak, None where unknown).

    Raises:
        ValueError: A size, selectivity, k or query count out of range, or an unknown kind.
    """
    chosen = check_arguments(sizes=sizes, selectivities=selectivities, k=k, n_queries=n_queries, kinds=kinds)
    if sentence_vectors is not None and len(next(iter(sentence_vectors.values()))) != dim:
        raise ValueError(
            f"dim {dim} differs from the sentence vectors' ({len(next(iter(sentence_vectors.values())))})"
        )
    config = dataclasses.replace(planner or PlannerConfig(), background=False)
    started = time.perf_counter()
    omp_at_start = os.environ.get("OMP_NUM_THREADS")
    # Serving runs one thread per search. The variable only reaches thread pools not yet started (and child
    # processes); faiss.omp_set_num_threads covers FAISS's OpenMP for this thread, the one that searches.
    # NumPy's OpenBLAS started with its own pool when NumPy was imported: measured here, once FAISS is
    # loaded too, that pool made a 10k x 384 NumPy product 25x slower (8 ms instead of 0.3 ms) on 2 cores,
    # hence threadpoolctl to hold every BLAS and OpenMP pool of the process to one thread during the run.
    os.environ["OMP_NUM_THREADS"] = "1"
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        results, speedups = _run(
            sizes=sizes,
            selectivities=selectivities,
            dim=dim,
            k=k,
            n_queries=n_queries,
            seed=seed,
            kinds=chosen,
            sentence_vectors=sentence_vectors,
            planner=config,
            say=progress or (lambda _message: None),
        )
    return {
        "dim": dim,
        "k": k,
        "n_queries": n_queries,
        "seed": seed,
        "kinds": list(chosen),
        "vectors": "random" if sentence_vectors is None else "minilm-sentences",
        "planner": dataclasses.asdict(config),
        "sizes": list(sizes),
        "selectivities": list(selectivities),
        "threads": 1,
        "omp_num_threads_at_start": omp_at_start,
        "cpu_count": os.cpu_count(),
        "recall_tolerance": _score_tolerance(dim),
        "results": results,
        "speedups": speedups,
        "wall_s": round(time.perf_counter() - started, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def check_arguments(
    *, sizes: Sequence[int], selectivities: Sequence[float], k: int, n_queries: int, kinds: Sequence[str] | None
) -> tuple[IndexKind, ...]:
    """Validate the arguments of :func:`run_index_benchmark` (before any slow preparation).

    Returns:
        The kinds to run, in engine order.

    Raises:
        ValueError: A size, selectivity, k or query count out of range, or an unknown kind.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers; got {list(sizes)}")
    if not selectivities or not all(0 < s <= 1 for s in selectivities):
        raise ValueError(f"selectivities must be in (0, 1]; got {list(selectivities)}")
    if k < 1 or n_queries < 1:
        raise ValueError(f"k and n_queries must be at least 1; got k={k}, n_queries={n_queries}")
    return _checked_kinds(kinds)


def _checked_kinds(kinds: Sequence[str] | None) -> tuple[IndexKind, ...]:
    offered = index_kinds()
    if kinds is None:
        return offered
    unknown = [kind for kind in kinds if kind not in offered]
    if not kinds or unknown:
        raise ValueError(f"unknown index kinds {unknown}; choose among {list(offered)}")
    # Declaration order, each kind once, whatever order the caller gave.
    return tuple(kind for kind in offered if kind in kinds)


def _run(
    *,
    sizes: Sequence[int],
    selectivities: Sequence[float],
    dim: int,
    k: int,
    n_queries: int,
    seed: int,
    kinds: Sequence[IndexKind],
    sentence_vectors: Mapping[str, NDArray[np.float32]] | None,
    planner: PlannerConfig,
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    tolerance = _score_tolerance(dim)
    results: list[dict[str, Any]] = []
    speedups: list[dict[str, Any]] = []
    for size in sizes:
        say(f"size {size:,}: generating {size:,} x {dim} vectors")
        if sentence_vectors is None:
            vectors = _unit_vectors(rng, size, dim)
            queries = _unit_vectors(rng, n_queries, dim)
        else:
            vectors = offer_like_vectors(sentence_vectors, size, rng)
            queries = offer_like_vectors(sentence_vectors, n_queries, rng)
        ids = np.arange(1, size + 1, dtype=np.int64)  # database keys start at 1
        _prime_memory(vectors)
        indexes: dict[str, VectorIndex] = {}
        build_s: dict[str, float] = {}
        rss_mb: dict[str, float | None] = {}
        for kind in kinds:
            say(f"size {size:,}: building {kind}")
            rss_before = rss_bytes()
            started = time.perf_counter()
            shared = next((i for i in indexes.values() if isinstance(i, PlannedIndex) and i.graph_size), None)
            index: VectorIndex
            config = planner_for(kind, planner)
            if config is not None and shared is not None:
                index = shared.sharing(config)  # the same graph, searched another way
                build_s[kind] = build_s[next(name for name, built in indexes.items() if built is shared)]
            else:
                index = make_index(kind, dim, planner=planner)
                index.add(ids, vectors)  # builds the graph too (planner.background is False)
                build_s[kind] = time.perf_counter() - started
            rss_after = rss_bytes()
            rss_mb[kind] = (
                None if rss_before is None or rss_after is None else max(0, rss_after - rss_before) / 2**20
            )
            indexes[kind] = index
        reference = indexes.get(_REFERENCE_KIND)
        if reference is None:
            say(f"size {size:,}: building the {_REFERENCE_KIND} reference")
            reference = ExactIndex(dim)
            reference.add(ids, vectors)
        del vectors  # each index holds its own copy
        memory_mb = (size * (dim * 4 + _BOOKKEEPING_BYTES_PER_VECTOR)) / 2**20

        for selectivity in selectivities:
            allowed = None if selectivity >= 1.0 else _allowed_positions(rng, size, selectivity)
            expected = _reference_positions(reference, queries, k, allowed)
            medians: dict[str, float] = {}
            for name, index in indexes.items():
                say(f"size {size:,}, selectivity {selectivity:g}: timing {name}")
                latencies_ms, found = _time_single_queries(index, queries, k, allowed)
                medians[name] = statistics.median(latencies_ms)
                rss = rss_mb[name]
                results.append(
                    {
                        "size": size,
                        "selectivity": selectivity,
                        "allowed": size if allowed is None else int(allowed.size),
                        "kind": name,
                        "median_ms": round(medians[name], 4),
                        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 4),
                        "plan": (
                            index.plan(k, allowed if allowed is not None else None)
                            if isinstance(index, PlannedIndex)
                            else None
                        ),
                        "recall_at_k": _recall(
                            found,
                            expected,
                            queries=queries,
                            reference=reference,
                            allowed=allowed,
                            tolerance=tolerance,
                        ),
                        "build_s": round(build_s[name], 4),
                        "memory_mb": round(memory_mb, 2),
                        "rss_mb": None if rss is None else round(rss, 2),
                    }
                )
            if _REFERENCE_KIND in medians:
                speedups.extend(
                    {
                        "size": size,
                        "selectivity": selectivity,
                        "kind": name,
                        "speedup": round(medians[_REFERENCE_KIND] / median, 2),
                    }
                    for name, median in medians.items()
                    if name != _REFERENCE_KIND
                )
    return results, speedups


def _unit_vectors(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    """``n`` random unit vectors, normalised in place (no temporary the size of the array)."""
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    # np.linalg.norm would square a full copy first: 1.5 GB more at 1M x 384.
    vectors /= np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
    return vectors


def _prime_memory(vectors: NDArray[np.float32]) -> None:
    """Touch and free one buffer the size of ``vectors`` so that no build is charged for fresh memory.

    Each build validates its input with vector-sized temporaries. The first one the process ever allocates
    comes fresh from the kernel (here as transparent huge pages, which may need compacting): measured at 1M x
    384, whichever kind was built first took 3 to 4.5 s instead of 1.6 s. Later ones reuse freed memory.
    """
    scratch = np.empty_like(vectors)
    scratch.fill(0)
    del scratch


def _allowed_positions(rng: np.random.Generator, size: int, selectivity: float) -> NDArray[np.int64]:
    count = max(1, round(selectivity * size))
    # Sorted, as a filter built from a per-position mask (np.flatnonzero) would be.
    return np.sort(rng.choice(size, count, replace=False)).astype(np.int64)


def _reference_positions(
    reference: VectorIndex, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None
) -> NDArray[np.int64]:
    """Exact top-k positions of every query, searched a batch of queries at a time to bound memory."""
    parts = [
        reference.search(queries[start : start + _REFERENCE_BATCH], k, allowed=allowed)[1]
        for start in range(0, len(queries), _REFERENCE_BATCH)
    ]
    return np.concatenate(parts)


def _time_single_queries(
    index: VectorIndex, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None
) -> tuple[list[float], NDArray[np.int64]]:
    """Search one query per call; return each call's latency in ms and the positions found."""
    for row in range(min(_WARMUP_QUERIES, len(queries))):
        index.search(queries[row : row + 1], k, allowed=allowed)
    latencies_ms: list[float] = []
    found = np.empty((len(queries), k), np.int64)
    for row in range(len(queries)):
        query = queries[row : row + 1]
        started = time.perf_counter_ns()
        _, positions = index.search(query, k, allowed=allowed)
        latencies_ms.append((time.perf_counter_ns() - started) / 1e6)
        found[row] = positions[0]
    return latencies_ms, found


def _score_tolerance(dim: int) -> float:
    """Twice the float32 rounding bound of a dot product of two unit vectors (``dim * 2**-24`` each)."""
    return float(2 * dim * 2.0**-24)


def _recall(
    found: NDArray[np.int64],
    expected: NDArray[np.int64],
    *,
    queries: NDArray[np.float32],
    reference: VectorIndex,
    allowed: NDArray[np.int64] | None,
    tolerance: float,
) -> float:
    """Mean tie-tolerant recall@k of ``found`` against the exact top-k ``expected`` (both padded with -1).

    A found position counts when it is allowed, not repeated, and its float64 score is at least the lowest
    float64 score of the exact top-k minus ``tolerance``. A query with no allowed position counts 1.
    """
    shares = np.ones(len(queries))
    for row in range(len(queries)):
        want = expected[row][expected[row] >= 0]
        if not want.size:
            continue
        got = np.unique(found[row][found[row] >= 0])
        if allowed is not None:
            got = got[np.isin(got, allowed, assume_unique=True)]
        query = queries[row].astype(np.float64)
        threshold = (reference.vectors_at(want).astype(np.float64) @ query).min() - tolerance
        hits = np.count_nonzero(reference.vectors_at(got).astype(np.float64) @ query >= threshold)
        shares[row] = hits / want.size
    return round(float(shares.mean()), 6)

"""Index benchmark: single-query latency and recall of each index kind, by corpus size and filter selectivity.

Synthetic unit vectors (no model needed), one query per call as the server issues them, one thread.
The figures are measurements of one machine at one moment; nothing here is ever asserted by a test except
the shape of the report and recall (which is a correctness property: both kinds are exact).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from matcher.index import ExactIndex, IndexKind, VectorIndex, make_index

__all__ = ["run_index_benchmark"]

# Untimed searches before each timed series: first calls pay for page faults and lazy initialisation.
_WARMUP_QUERIES = 3

# Overhead per stored offer beyond its vector: ids (8 B), live mask (1 B) and the id -> position dict
# (52 B of dict per entry measured with sys.getsizeof on CPython 3.11, plus two 28 B ints).
_BOOKKEEPING_BYTES_PER_VECTOR = 8 + 1 + 52 + 2 * 28


def run_index_benchmark(
    *,
    sizes: Sequence[int] = (10_000, 100_000),
    selectivities: Sequence[float] = (1.0, 0.1, 0.01, 0.001),
    dim: int = 384,
    k: int = 10,
    n_queries: int = 200,
    seed: int = 0,
    kinds: Sequence[IndexKind] = ("flat", "exact"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time single-query searches of each index kind for every (size, selectivity).

    For each size, every kind is built once from the same random unit vectors. For each selectivity, one
    random allowed set of that fraction of the positions (at least one) serves the whole query batch;
    selectivity 1.0 means no filter. Recall@k is measured against the exact (NumPy) result.

    Args:
        sizes: Corpus sizes (number of vectors).
        selectivities: Fractions of the corpus the filter allows, in (0, 1].
        dim: Vector dimension.
        k: Results per query.
        n_queries: Timed queries per (size, selectivity, kind).
        seed: Seed of the vectors, queries and filters.
        kinds: Index kinds to time.
        progress: Called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: ``dim``, ``k``, ``n_queries``, ``seed``, ``threads``,
        ``omp_num_threads_at_start`` (the serving setting is "1"), ``cpu_count``; ``results``, one
        entry per (size, selectivity, kind) with ``median_ms``, ``p99_ms``, ``recall_at_k``, ``build_s`` and
        ``memory_mb`` (approximate: vectors plus bookkeeping); ``speedups``, one entry per (size,
        selectivity) with ``exact_median_ms / flat_median_ms`` when both kinds ran.

    Raises:
        ValueError: A size, selectivity, k or query count out of range, or an unknown kind.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers; got {list(sizes)}")
    if not selectivities or not all(0 < s <= 1 for s in selectivities):
        raise ValueError(f"selectivities must be in (0, 1]; got {list(selectivities)}")
    if k < 1 or n_queries < 1:
        raise ValueError(f"k and n_queries must be at least 1; got k={k}, n_queries={n_queries}")
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
            kinds=kinds,
            say=progress or (lambda _message: None),
        )
    return {
        "dim": dim,
        "k": k,
        "n_queries": n_queries,
        "seed": seed,
        "threads": 1,
        "omp_num_threads_at_start": omp_at_start,
        "cpu_count": os.cpu_count(),
        "results": results,
        "speedups": speedups,
    }


def _run(
    *,
    sizes: Sequence[int],
    selectivities: Sequence[float],
    dim: int,
    k: int,
    n_queries: int,
    seed: int,
    kinds: Sequence[IndexKind],
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    results: list[dict[str, Any]] = []
    speedups: list[dict[str, Any]] = []
    for size in sizes:
        say(f"size {size:,}: generating {size:,} x {dim} vectors")
        vectors = _unit_vectors(rng, size, dim)
        queries = _unit_vectors(rng, n_queries, dim)
        ids = np.arange(1, size + 1, dtype=np.int64)  # database keys start at 1
        indexes: dict[str, VectorIndex] = {}
        build_s: dict[str, float] = {}
        for kind in kinds:
            say(f"size {size:,}: building {kind}")
            started = time.perf_counter()
            index = make_index(kind, dim)
            index.add(ids, vectors)
            build_s[kind] = time.perf_counter() - started
            indexes[kind] = index
        reference = indexes.get("exact")
        if reference is None:
            reference = ExactIndex(dim)
            reference.add(ids, vectors)
        del vectors  # each index holds its own copy
        memory_mb = (size * (dim * 4 + _BOOKKEEPING_BYTES_PER_VECTOR)) / 2**20

        for selectivity in selectivities:
            allowed = None if selectivity >= 1.0 else _allowed_positions(rng, size, selectivity)
            expected = reference.search(queries, k, allowed=allowed)[1]
            medians: dict[str, float] = {}
            for name, index in indexes.items():
                say(f"size {size:,}, selectivity {selectivity:g}: timing {name}")
                latencies_ms, found = _time_single_queries(index, queries, k, allowed)
                medians[name] = statistics.median(latencies_ms)
                results.append(
                    {
                        "size": size,
                        "selectivity": selectivity,
                        "allowed": size if allowed is None else int(allowed.size),
                        "kind": name,
                        "median_ms": round(medians[name], 4),
                        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 4),
                        "recall_at_k": _recall(found, expected),
                        "build_s": round(build_s[name], 4),
                        "memory_mb": round(memory_mb, 2),
                    }
                )
            if "flat" in medians and "exact" in medians:
                speedups.append(
                    {
                        "size": size,
                        "selectivity": selectivity,
                        "speedup": round(medians["exact"] / medians["flat"], 2),
                    }
                )
    return results, speedups


def _unit_vectors(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _allowed_positions(rng: np.random.Generator, size: int, selectivity: float) -> NDArray[np.int64]:
    count = max(1, round(selectivity * size))
    # Sorted, as a filter built from a per-position mask (np.flatnonzero) would be.
    return np.sort(rng.choice(size, count, replace=False)).astype(np.int64)


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


def _recall(found: NDArray[np.int64], expected: NDArray[np.int64]) -> float:
    """Mean share of the exact top-k positions that were found (queries with no allowed position count 1)."""
    shares = []
    for got, want in zip(found, expected, strict=True):
        relevant = set(want[want >= 0].tolist())
        shares.append(len(relevant & set(got.tolist())) / len(relevant) if relevant else 1.0)
    return round(float(np.mean(shares)), 6)

"""The vector index: exact inner-product search over L2-normalised offer embeddings, with filters and deletions.

Positions and ids
    A *position* is a row number in the index; an *id* is the offer's database primary key. The index keeps a
    NumPy ``position -> id`` array and an ``id -> position`` dict. Adding an id that is already present is an
    update: the new vector is appended and the old position becomes a *tombstone* (kept, but never returned).
    ``compact()`` drops tombstones and renumbers positions, returning ``kept`` (the old position of every new
    position) so that callers holding per-position arrays (filters, metadata) can compact them identically.

Three implementations of :class:`VectorIndex`
    * :class:`PlannedIndex` — what serving uses (kind ``auto``): the flat index below plus an HNSW graph, and a
      planner choosing per search (see :mod:`matcher.engine.index.planner`).
    * :class:`FaissIndex` — a bare ``faiss.IndexFlatIP``. Flat means exact: every allowed vector is scored.
      It is deliberately *not* wrapped in ``IndexIDMap``/``IndexIDMap2``: the wrappers translate selectors,
      which loses FAISS's gather fast path (``IDSelectorArray`` on a bare flat index scores only the listed
      rows, cost proportional to the allowed count), and IDMap2 rebuilds a hash map over everything on removal.
    * :class:`ExactIndex` — NumPy brute force (matrix product, ``argpartition``, stable sort). It is the
      reference of the differential tests and shows what FAISS buys in the benchmark.

Threads
    Serving uses one OpenMP thread per search and takes its parallelism from concurrent requests: on 2 cores,
    FAISS with 2 OpenMP threads made single queries 2-3x *slower*. The process sets ``OMP_NUM_THREADS=1``
    before FAISS loads (``faiss.omp_set_num_threads`` only affects the calling thread, so library code never
    calls it; the benchmark sets both for itself).

The package: ``protocol`` (the interface), ``base`` (what the implementations share), ``flat`` (FAISS and NumPy
exact), ``planner`` (exact or HNSW per search), ``persistence`` (the file), ``kinds`` (by name), ``threshold``
(every position at least so similar to a query, for the reverse searches).
"""

from __future__ import annotations

from matcher.engine.index.flat import ExactIndex, FaissIndex
from matcher.engine.index.kinds import load_index, make_index, planner_for
from matcher.engine.index.planner import PlannedIndex, PlannerConfig
from matcher.engine.index.protocol import IndexKind, VectorIndex
from matcher.engine.index.threshold import search_at_least

__all__ = [
    "ExactIndex",
    "FaissIndex",
    "IndexKind",
    "PlannedIndex",
    "PlannerConfig",
    "VectorIndex",
    "load_index",
    "make_index",
    "planner_for",
    "search_at_least",
]

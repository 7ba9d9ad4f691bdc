"""The vector index: exact inner-product search over L2-normalised offer embeddings, with filters and deletions.

Positions and ids
    A *position* is a row number in the index; an *id* is the offer's database primary key. The index keeps a
    NumPy ``position -> id`` array and an ``id -> position`` dict. Adding an id that is already present is an
    update: the new vector is appended and the old position becomes a *tombstone* (kept, but never returned).
    ``compact()`` drops tombstones and renumbers positions, returning ``kept`` (the old position of every new
    position) so that callers holding per-position arrays (filters, metadata) can compact them identically.

Three implementations of :class:`VectorIndex`
    * :class:`PlannedIndex` — what serving uses (kind ``auto``): the flat index below plus an HNSW graph, and a
      planner choosing per search (see "Planner").
    * :class:`FaissIndex` — a bare ``faiss.IndexFlatIP``. Flat means exact: every allowed vector is scored.
      It is deliberately *not* wrapped in ``IndexIDMap``/``IndexIDMap2``: the wrappers translate selectors,
      which loses FAISS's gather fast path (``IDSelectorArray`` on a bare flat index scores only the listed
      rows, cost proportional to the allowed count), and IDMap2 rebuilds a hash map over everything on removal.
    * :class:`ExactIndex` — NumPy brute force (matrix product, ``argpartition``, stable sort). It is the
      reference of the differential tests and shows what FAISS buys in the benchmark.

Filters
    ``search(..., allowed=positions)`` restricts the candidates; tombstones are always excluded as well, so an
    unfiltered search on an index with tombstones goes through a selector over the live positions. The result
    is the exact top-k of the allowed live positions, best first, ties broken by the lower position, padded
    with ``-inf`` / ``-1`` when fewer than k qualify — a filter never silently returns fewer results than exist.
    The selector is built per call and passed in ``faiss.SearchParameters``; index attributes are never
    mutated (the server is threaded). Measured at 100k x 384 on this machine (2 shared cores, one query,
    one thread, median of 100; noisy): ``IDSelectorArray`` 0.35 ms at 5 % allowed, 1.5 ms at 10 %, 8.8 ms at
    50 %; ``IDSelectorBitmap`` 0.6 / 2.1 / 9.8 ms, but 7.6 ms against 8.9 ms at 90 %. Both pay for scattered
    reads at mid densities (an unfiltered scan is 5.9 ms). Hence: an array up to
    ``_ARRAY_SELECTOR_MAX_FRACTION`` of the positions, a bitmap above it, and a plain search when every
    position qualifies. FAISS's heaps keep an arbitrary position among equal scores, so ``FaissIndex`` asks
    for one result beyond k and, only for a query whose k-th score ties with it (duplicate offers), searches
    deeper until every tied position is in hand.

Planner
    As Lucene, Qdrant and Weaviate do: count the allowed vectors of the search; at most ``exact_max`` (10k) are
    scanned exactly (the gathered flat scan above, recall 1.0). The threshold is measured (``pollinate bench
    index``, offer-like MiniLM vectors, one thread): a gathered scan costs about 0.13 us per allowed vector at
    100k offers and 0.29 us at 1M (cache misses grow with the array), so 10k allowed take 1.3 and 2.9 ms,
    20k 3.6 and 5.2 ms, while the graph answers in about 1 to 2.5 ms at recall 0.97 or more. An unfiltered
    search stays exact below ``flat_max`` (200k) live vectors. Otherwise the HNSW graph (``IndexHNSWFlat``,
    M=32, inner product) answers, with the filter as a bitmap selector over its nodes and efSearch
    ``max(ef_search, 4k) * selectivity ** -0.4`` (capped at ``ef_max``), unless that efSearch would cost more
    than the exact scan (``scan_per_ef``). A graph walk that returns fewer than k allowed results is answered
    exactly. The exponent was measured on offer-like MiniLM vectors (``pollinate bench index``): plain HNSW
    with a fixed efSearch loses recall quickly as the filter narrows (0.60 at 1 % of 100k with efSearch 64),
    while the efSearch keeping recall at 0.95 grows far slower than the inverse of the selectivity.

    HNSW has no removal. The graph covers the vectors live when it was built; vectors added since (the
    *tail*) are scanned exactly and merged, deleted ones are excluded by the selector, and compaction
    renumbers the graph's node -> position map without rebuilding it. When tail plus dead nodes exceed
    ``rebuild_ratio`` (10 %) of the graph, a new one is built from a copy of the live vectors in a background
    thread (searches keep using the previous graph, or exact search before the first) and published whole;
    a build overtaken by a compaction is discarded and started again. The graph keeps its own copy of the
    vectors (``IndexHNSWFlat`` storage), so the planned index needs about twice the memory of the flat one
    plus 256 bytes per vector of links.

    ``save`` writes the graph once per build to its own FAISS file beside the index file (named by a build
    id the index file records), and ``load`` memory-maps it (``IO_FLAG_MMAP_IFC``) instead of rebuilding:
    worker processes loading the same file share its pages. Measured at 300k offers, two processes: load 1 to
    3 s instead of a 55 s build; the second process's resident set was 546 MB shared (the graph) + 507 MB
    private (the flat vectors and the links).

Threads
    Serving uses one OpenMP thread per search and takes its parallelism from concurrent requests: on 2 cores,
    FAISS with 2 OpenMP threads made single queries 2-3x *slower*. The process sets ``OMP_NUM_THREADS=1``
    before FAISS loads (``faiss.omp_set_num_threads`` only affects the calling thread, so library code never
    calls it; the benchmark sets both for itself).

Concurrency rule
    Any number of threads may search (and call the other read methods) at once; FAISS flat search releases
    the GIL and is safe for concurrent reads. Writers (``add``, ``remove``, ``compact``, ``save``) serialise
    on a ``threading.RLock``. Searches never take that lock: they read an immutable snapshot (positions, ids,
    live mask, vector storage) that writers replace rather than mutate. The one piece of memory mutated in
    place is FAISS's vector buffer, which ``add`` grows (and may reallocate), so ``add`` passes a small
    readers-writer gate: it waits for in-flight searches, and searches arriving meanwhile wait for it.
    Positions are only meaningful against the snapshot that produced them: whoever runs ``compact()`` must
    also compact its per-position arrays before issuing new filtered searches.

Persistence
    ``save`` writes one uncompressed ``.npz`` (vectors including tombstoned rows, ids, live mask, kind, dim,
    count and the caller's JSON metadata) to a temporary file in the target directory, fsyncs it, renames it
    over the target and fsyncs the directory: a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import faiss
import numpy as np
from numpy.typing import NDArray

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
]

IndexKind = Literal["auto", "flat", "hnsw", "exact"]

# Above this fraction of the positions, FaissIndex filters with a bitmap instead of a position array
# (see "Filters" in the module docstring for the measurements).
_ARRAY_SELECTOR_MAX_FRACTION = 0.6

# Embeddings come out of the model normalised to ~1e-7; a larger error means a caller forgot to normalise,
# and inner product would no longer be cosine similarity.
_NORM_TOLERANCE = 1e-3

log = logging.getLogger(__name__)

_FILE_FORMAT = "pollinate-vector-index"
# The arrays every index file has; implementations may add their own (the planner: its graph's).
_CORE_ARRAYS = frozenset({"format", "version", "kind", "dim", "count", "vectors", "ids", "live", "metadata"})
_FILE_VERSION = 1


class VectorIndex(Protocol):
    """Inner-product search over L2-normalised vectors; positions are row numbers, ids are database keys."""

    dim: int

    def __len__(self) -> int:
        """Number of live (non-deleted) vectors."""
        ...

    @property
    def size(self) -> int:
        """Number of positions, tombstones included."""
        ...

    @property
    def ids(self) -> NDArray[np.int64]:
        """Read-only ``position -> id`` array; tombstoned positions keep their old id."""
        ...

    def live_mask(self) -> NDArray[np.bool_]:
        """Read-only mask per position, False for tombstones."""
        ...

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> NDArray[np.int64]:
        """Append vectors; an id already present is an update (its old position is tombstoned).

        Returns:
            The new positions, one per id.
        """
        ...

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Tombstone the given ids; absent ids are ignored.

        Returns:
            How many of them were live.
        """
        ...

    def positions_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Live position of each id, -1 where absent."""
        ...

    def vectors_at(self, positions: NDArray[np.int64]) -> NDArray[np.float32]:
        """Copies of the vectors stored at the given positions."""
        ...

    def search(
        self, queries: NDArray[np.float32], k: int, *, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Exact top-k by inner product among the allowed live positions.

        Returns:
            ``(scores, positions)`` of shape ``(n_queries, k)``, best first, ties broken by the lower
            position, padded with ``-inf`` / ``-1`` when fewer than k positions qualify.
        """
        ...

    @property
    def tombstone_ratio(self) -> float:
        """Share of positions that are tombstones (0.0 for an empty index)."""
        ...

    def compact(self) -> NDArray[np.int64]:
        """Drop tombstones and renumber positions.

        Returns:
            ``kept``: new position ``i`` held old position ``kept[i]``.
        """
        ...

    def save(self, path: Path, metadata: Mapping[str, Any]) -> None:
        """Write the index and JSON-serialisable metadata to ``path`` atomically."""
        ...

    @classmethod
    def load(cls, path: Path, **options: Any) -> tuple[Self, dict[str, Any]]:
        """Read an index written by ``save``; returns the index and its metadata."""
        ...


# ------------------------------------------------------------------------------------------------ input checks


def _check_vectors(vectors: object, dim: int, name: str) -> NDArray[np.float32]:
    """Validate a ``(n, dim)`` batch of finite unit vectors and return it as C-contiguous float32."""
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[1] != dim:
        hint = f"; for a single vector pass {name}[None, :]" if array.shape == (dim,) else ""
        raise ValueError(f"{name} must have shape (n, {dim}); got {array.shape}{hint}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be floating point (float32 preferred); got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)[:5].tolist()
        raise ValueError(f"{name} contains NaN or infinite values (rows {rows}...); embed the text again")
    norms = np.linalg.norm(array, axis=1)
    off = np.flatnonzero(np.abs(norms - 1.0) > _NORM_TOLERANCE)
    if off.size:
        rows = off[:5].tolist()
        raise ValueError(
            f"{name} must be L2-normalised so that inner product is cosine similarity; rows {rows} have "
            f"norms {np.round(norms[off[:5]], 4).tolist()}: divide each row by its norm"
        )
    return array


def _check_ids(ids: object, name: str) -> NDArray[np.int64]:
    """Validate a 1-D array of integer ids and return it as C-contiguous int64."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integers; got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integers (int64); got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_positions(positions: object, size: int, name: str) -> NDArray[np.int64]:
    """Validate positions in ``[0, size)`` and return them as C-contiguous int64."""
    array = _check_ids(positions, name)
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = array[(array < 0) | (array >= size)][:5].tolist()
        raise ValueError(f"{name} must be positions in [0, {size}) (the index size); got {bad}")
    return array


def _strictly_increasing(array: NDArray[np.int64]) -> bool:
    return bool(np.all(array[1:] > array[:-1]))


# ------------------------------------------------------------------------------------------------ concurrency


class _SearchGate:
    """Readers-writer gate: many searches at once, or one writer changing memory that searches read.

    Writer-preferring, so that a steady stream of searches cannot starve an update.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writers = 0  # waiting or writing

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Enter as a reader (waits while a writer waits or writes)."""
        with self._condition:
            while self._writers:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Enter as the only writer once in-flight readers have left (writers are serialised by the caller)."""
        with self._condition:
            self._writers += 1
            while self._readers:
                self._condition.wait()
        try:
            yield
        finally:
            with self._condition:
                self._writers -= 1
                self._condition.notify_all()


_StorageT = TypeVar("_StorageT")


@dataclass(frozen=True, slots=True)
class _Snapshot(Generic[_StorageT]):
    """Everything one search reads. Published whole by writers and never mutated afterwards."""

    size: int
    ids: NDArray[np.int64]  # read-only, length `size`
    live: NDArray[np.bool_]  # read-only, length `size`
    n_live: int
    live_positions: NDArray[np.int64] | None  # None when there is no tombstone
    storage: _StorageT


# ------------------------------------------------------------------------------------------------ shared logic


class _BaseIndex(ABC, Generic[_StorageT]):
    """Bookkeeping shared by both implementations: ids, tombstones, snapshots, locking and persistence.

    Subclasses only store vectors and score them.
    """

    kind: ClassVar[IndexKind]

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be a positive integer; got {dim}")
        self.dim = dim
        self._lock = threading.RLock()
        self._gate = _SearchGate()
        # id -> live position; mutated only under `_lock`, read only under `_lock`.
        self._position_of: dict[int, int] = {}
        self._snapshot = self._snapshot_of(np.empty(0, np.int64), np.empty(0, np.bool_), self._empty_storage())

    # -------------------------------------------------------------------------------- storage hooks

    @abstractmethod
    def _empty_storage(self) -> _StorageT: ...

    @abstractmethod
    def _append(self, snapshot: _Snapshot[_StorageT], vectors: NDArray[np.float32]) -> _StorageT:
        """Store ``vectors`` after ``snapshot.size`` rows; called inside the write gate."""

    @abstractmethod
    def _rows(self, snapshot: _Snapshot[_StorageT]) -> NDArray[np.float32]:
        """A ``(size, dim)`` view of the stored vectors, valid until the next ``_append``."""

    @abstractmethod
    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: _Snapshot[_StorageT]
    ) -> _StorageT:
        """New storage holding exactly ``vectors``, the rows ``kept`` of ``snapshot`` (compaction).

        The old storage stays valid for readers.
        """

    @abstractmethod
    def _top_k(
        self,
        snapshot: _Snapshot[_StorageT],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top ``k`` among ``candidates`` (sorted, unique, live; None = every position), ``k <= len``.

        Returns ``(n_queries, k)`` arrays ordered by descending score, then ascending position.
        """

    # -------------------------------------------------------------------------------- read side

    def __len__(self) -> int:
        return self._snapshot.n_live

    def __repr__(self) -> str:
        snapshot = self._snapshot
        return f"{type(self).__name__}(dim={self.dim}, live={snapshot.n_live}, size={snapshot.size})"

    @property
    def size(self) -> int:
        """Number of positions, tombstones included."""
        return self._snapshot.size

    @property
    def ids(self) -> NDArray[np.int64]:
        """Read-only ``position -> id`` array; tombstoned positions keep their old id."""
        return self._snapshot.ids

    def live_mask(self) -> NDArray[np.bool_]:
        """Read-only mask per position, False for tombstones."""
        return self._snapshot.live

    @property
    def tombstone_ratio(self) -> float:
        """Share of positions that are tombstones (0.0 for an empty index)."""
        snapshot = self._snapshot
        return 0.0 if snapshot.size == 0 else (snapshot.size - snapshot.n_live) / snapshot.size

    def positions_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Live position of each id, -1 where absent."""
        checked = _check_ids(ids, "ids")
        with self._lock:
            get = self._position_of.get
            return np.fromiter((get(i, -1) for i in checked.tolist()), dtype=np.int64, count=checked.size)

    def vectors_at(self, positions: NDArray[np.int64]) -> NDArray[np.float32]:
        """Copies of the vectors stored at the given positions (tombstoned positions included)."""
        with self._gate.reading():
            snapshot = self._snapshot
            checked = _check_positions(positions, snapshot.size, "positions")
            return self._rows(snapshot)[checked]

    def search(
        self, queries: NDArray[np.float32], k: int, *, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Exact top-k by inner product (cosine, the vectors being unit) among the allowed live positions.

        Args:
            queries: ``(n_queries, dim)`` L2-normalised vectors.
            k: How many results per query (at least 1).
            allowed: Positions the caller permits (a filter), in any order, duplicates ignored; None
                allows every position. Tombstones are excluded either way.

        Returns:
            ``(scores, positions)`` of shape ``(n_queries, k)``, best first, ties broken by the lower
            position, padded with ``-inf`` / ``-1`` when fewer than k positions qualify.

        Raises:
            ValueError: Queries of the wrong shape or dtype, non-finite or not normalised; ``k < 1``;
                ``allowed`` not 1-D integers or outside ``[0, size)``.
        """
        checked = _check_vectors(queries, self.dim, "queries")
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}")
        with self._gate.reading():
            snapshot = self._snapshot
            candidates = self._candidates(snapshot, allowed)
            available = snapshot.size if candidates is None else candidates.size
            found = min(k, available)
            if found and len(checked):
                scores, positions = self._top_k(snapshot, checked, found, candidates)
        out_scores = np.full((len(checked), k), -np.inf, dtype=np.float32)
        out_positions = np.full((len(checked), k), -1, dtype=np.int64)
        if found and len(checked):
            out_scores[:, :found] = scores
            out_positions[:, :found] = positions
        return out_scores, out_positions

    @staticmethod
    def _candidates(snapshot: _Snapshot[_StorageT], allowed: NDArray[np.int64] | None) -> NDArray[np.int64] | None:
        """Sorted unique live positions to score, or None when every position qualifies."""
        if allowed is None:
            return snapshot.live_positions
        positions = _check_positions(allowed, snapshot.size, "allowed")
        if not _strictly_increasing(positions):
            positions = np.unique(positions)
        positions = positions[snapshot.live[positions]]
        return None if positions.size == snapshot.size else positions

    # -------------------------------------------------------------------------------- write side

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> NDArray[np.int64]:
        """Append vectors; an id already present is an update (its old position is tombstoned).

        Args:
            ids: Database keys, unique within the call.
            vectors: ``(len(ids), dim)`` L2-normalised vectors (converted to float32).

        Returns:
            The new positions, one per id.

        Raises:
            ValueError: Shapes or dtypes are wrong, a vector is non-finite or not normalised, or an id is
                repeated within the call. Nothing is changed then.
        """
        new_ids = _check_ids(ids, "ids")
        new_vectors = _check_vectors(vectors, self.dim, "vectors")
        if new_ids.size != len(new_vectors):
            raise ValueError(f"got {new_ids.size} ids for {len(new_vectors)} vectors; pass one id per vector")
        unique, counts = np.unique(new_ids, return_counts=True)
        if unique.size != new_ids.size:
            repeated = unique[counts > 1][:5].tolist()
            raise ValueError(f"ids must be unique within one add call; repeated: {repeated}")
        with self._lock:
            snapshot = self._snapshot
            start = snapshot.size
            positions = np.arange(start, start + new_ids.size, dtype=np.int64)
            # Copy-on-write: searches may still be reading the previous arrays.
            live = np.concatenate([snapshot.live, np.ones(new_ids.size, np.bool_)])
            get = self._position_of.get
            replaced = [p for p in (get(i) for i in new_ids.tolist()) if p is not None]
            live[replaced] = False
            all_ids = np.concatenate([snapshot.ids, new_ids])
            with self._gate.writing():
                storage = self._append(snapshot, new_vectors)
                self._snapshot = self._snapshot_of(all_ids, live, storage)
            self._position_of.update(zip(new_ids.tolist(), positions.tolist(), strict=True))
        return positions

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Tombstone the given ids; absent (or already removed) ids are ignored.

        Returns:
            How many of them were live.
        """
        checked = _check_ids(ids, "ids")
        with self._lock:
            pop = self._position_of.pop
            removed = [p for p in (pop(i, None) for i in checked.tolist()) if p is not None]
            if removed:
                snapshot = self._snapshot
                live = snapshot.live.copy()
                live[removed] = False
                self._snapshot = self._snapshot_of(snapshot.ids, live, snapshot.storage)
        return len(removed)

    def compact(self) -> NDArray[np.int64]:
        """Drop tombstones and renumber positions, preserving the order of the live ones.

        Builds new storage (transiently doubling memory) so that searches in flight finish on the old one.

        Returns:
            ``kept``: new position ``i`` held old position ``kept[i]``; apply ``array[kept]`` to every
            per-position array kept beside the index.
        """
        with self._lock:
            snapshot = self._snapshot
            kept = np.flatnonzero(snapshot.live).astype(np.int64)
            if kept.size == snapshot.size:
                return kept
            storage = self._rebuilt(np.ascontiguousarray(self._rows(snapshot)[kept]), kept, snapshot)
            ids = snapshot.ids[kept]
            self._snapshot = self._snapshot_of(ids, np.ones(kept.size, np.bool_), storage)
            self._position_of = dict(zip(ids.tolist(), range(kept.size), strict=True))
        return kept

    def _snapshot_of(
        self, ids: NDArray[np.int64], live: NDArray[np.bool_], storage: _StorageT
    ) -> _Snapshot[_StorageT]:
        ids.flags.writeable = False
        live.flags.writeable = False
        n_live = int(np.count_nonzero(live))
        live_positions = None if n_live == live.size else np.flatnonzero(live).astype(np.int64)
        return _Snapshot(ids.size, ids, live, n_live, live_positions, storage)

    # -------------------------------------------------------------------------------- persistence

    def save(self, path: Path, metadata: Mapping[str, Any]) -> None:
        """Write the index and its metadata to one ``.npz`` file, atomically.

        Args:
            path: Target file; its directory must exist. Any previous file there is replaced only once the
                new one is safely on disk.
            metadata: JSON-serialisable facts about the index (model name, build time...), returned by
                ``load``.

        Raises:
            TypeError: The metadata is not JSON-serialisable (nothing is written then).
        """
        metadata_json = json.dumps(dict(metadata), sort_keys=True, allow_nan=False)
        path = Path(path)
        # Holding the writers' lock keeps the storage still (no append can move it) without blocking
        # searches, so the vectors are written straight from the index's own memory.
        with self._lock:
            snapshot = self._snapshot
            arrays: dict[str, Any] = {
                "format": np.array(_FILE_FORMAT),
                "version": np.array(_FILE_VERSION),
                "kind": np.array(self.kind),
                "dim": np.array(self.dim),
                "count": np.array(snapshot.size),
                "vectors": self._rows(snapshot),
                "ids": snapshot.ids,
                "live": snapshot.live,
                "metadata": np.array(metadata_json),
                **self._saved_beside(snapshot, path),
            }
            _write_atomically(path, arrays)
            self._after_save(snapshot, path)

    def _saved_beside(self, snapshot: _Snapshot[_StorageT], path: Path) -> dict[str, Any]:
        """Hook: write companion files of ``path`` and return extra arrays for the index file."""
        return {}

    def _after_save(self, snapshot: _Snapshot[_StorageT], path: Path) -> None:
        """Hook run once the index file is in place (companion files it no longer names can go)."""

    @classmethod
    def load(cls, path: Path, **options: Any) -> tuple[Self, dict[str, Any]]:
        """Read an index written by ``save`` (by any implementation: the format is shared).

        Args:
            path: The file ``save`` wrote.
            **options: Constructor options of the implementation (the planner's configuration).

        Returns:
            The index and the metadata given to ``save``.

        Raises:
            ValueError: The file is not a Pollinate index, or is inconsistent.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != _FILE_FORMAT:
                raise ValueError(f"{path} is not a Pollinate vector index file")
            if int(data["version"]) != _FILE_VERSION:
                raise ValueError(
                    f"{path} has index file version {int(data['version'])}; this Pollinate reads version "
                    f"{_FILE_VERSION}: rebuild the index"
                )
            dim = int(data["dim"])
            count = int(data["count"])
            vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
            ids = np.ascontiguousarray(data["ids"], dtype=np.int64)
            live = np.ascontiguousarray(data["live"], dtype=np.bool_)
            metadata = json.loads(str(data["metadata"]))
            extras = {name: data[name] for name in data.files if name not in _CORE_ARRAYS}
        if vectors.shape != (count, dim) or ids.shape != (count,) or live.shape != (count,):
            raise ValueError(
                f"{path} is inconsistent: count={count}, dim={dim}, vectors {vectors.shape}, "
                f"ids {ids.shape}, live {live.shape}; rebuild the index"
            )
        live_ids = ids[live]
        if np.unique(live_ids).size != live_ids.size:
            raise ValueError(f"{path} is inconsistent: a live id appears twice; rebuild the index")
        index = cls(dim, **options)
        with index._lock:
            storage = index._append(index._snapshot, vectors)
            index._snapshot = index._snapshot_of(ids, live, storage)
            index._position_of = dict(zip(live_ids.tolist(), np.flatnonzero(live).tolist(), strict=True))
        index._loaded(path, extras)
        return index, metadata

    def _loaded(self, path: Path, extras: Mapping[str, NDArray[Any]]) -> None:
        """Hook run once ``load`` has filled the index, with the file's arrays beyond the shared format."""


def _write_atomically(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` as an ``.npz`` to ``path`` so that a crash leaves the old file or the new, never half.

    Temporary file in the same directory (same filesystem, so the rename is atomic), fsync, rename over the
    target, fsync the directory (so the rename itself survives a power loss).
    """
    directory = path.parent
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, allow_pickle=False, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)


# ------------------------------------------------------------------------------------------------ implementations


def _flat_top_k(
    index: Any, size: int, queries: NDArray[np.float32], k: int, candidates: NDArray[np.int64] | None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Exact top ``k`` on a ``faiss.IndexFlatIP`` of ``size`` rows (see ``_BaseIndex._top_k``)."""
    available = size if candidates is None else candidates.size
    params = None
    if candidates is not None:
        # The selector and the buffers it points into stay referenced by these locals for every call.
        selector: Any
        if candidates.size <= _ARRAY_SELECTOR_MAX_FRACTION * size:
            selector = faiss.IDSelectorArray(candidates.size, faiss.swig_ptr(candidates))
        else:
            mask = np.zeros(size, np.bool_)
            mask[candidates] = True
            bits = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits))
        # Per-call parameters: the shared index is never mutated (searches run in parallel).
        params = faiss.SearchParameters()
        params.sel = selector

    def search(batch: NDArray[np.float32], depth: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        found: tuple[NDArray[np.float32], NDArray[np.int64]] = index.search(batch, depth, params=params)
        return found

    # FAISS's scores are exact, but among equal scores its heaps keep arbitrary positions. One result
    # beyond k tells whether the k-th score is tied with a position left out; only then search deeper.
    depth = min(k + 1, available)
    scores, positions = search(queries, depth)
    order = np.lexsort((positions, -scores))[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1)
    top_positions = np.take_along_axis(positions, order, axis=1)
    tied = scores[:, -1] == scores[:, k - 1] if depth < available else np.zeros(len(queries), np.bool_)
    for row in np.flatnonzero(tied):
        row_scores, row_positions = scores[row], positions[row]
        row_depth = depth
        while row_depth < available and row_scores[-1] == row_scores[k - 1]:
            row_depth = min(2 * row_depth, available)
            deeper_scores, deeper_positions = search(queries[row : row + 1], row_depth)
            row_scores, row_positions = deeper_scores[0], deeper_positions[0]
        # Every position scoring at least the k-th score is now present: order by score, then position.
        row_order = np.lexsort((row_positions, -row_scores))[:k]
        top_scores[row], top_positions[row] = row_scores[row_order], row_positions[row_order]
    return top_scores.astype(np.float32, copy=False), top_positions.astype(np.int64, copy=False)


class FaissIndex(_BaseIndex[Any]):
    """Exact search on a bare ``faiss.IndexFlatIP``, filters and tombstones through per-call ID selectors.

    Example:
        >>> index = FaissIndex(384)
        >>> index.add(np.array([17, 42]), vectors)  # doctest: +SKIP
        >>> scores, positions = index.search(query[None, :], 10, allowed=positions_in_region)  # doctest: +SKIP
        >>> offer_ids = index.ids[positions[positions >= 0]]  # doctest: +SKIP
    """

    kind: ClassVar[IndexKind] = "flat"

    def _empty_storage(self) -> Any:
        return faiss.IndexFlatIP(self.dim)

    def _append(self, snapshot: _Snapshot[Any], vectors: NDArray[np.float32]) -> Any:
        # In place (the buffer may move): only ever called inside the write gate.
        snapshot.storage.add(vectors)
        return snapshot.storage

    def _rows(self, snapshot: _Snapshot[Any]) -> NDArray[np.float32]:
        if snapshot.size == 0:
            return np.empty((0, self.dim), np.float32)
        flat: NDArray[np.float32] = faiss.rev_swig_ptr(snapshot.storage.get_xb(), snapshot.size * self.dim)
        return flat.reshape(snapshot.size, self.dim)

    def _rebuilt(self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: _Snapshot[Any]) -> Any:
        index = faiss.IndexFlatIP(self.dim)
        index.add(vectors)
        return index

    def _top_k(
        self,
        snapshot: _Snapshot[Any],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return _flat_top_k(snapshot.storage, snapshot.size, queries, k, candidates)


class ExactIndex(_BaseIndex[NDArray[np.float32]]):
    """NumPy brute force: the reference implementation the differential tests compare FAISS against."""

    kind: ClassVar[IndexKind] = "exact"

    def __init__(self, dim: int) -> None:
        # Appends write past every published view, so the buffer grows without disturbing searches.
        self._buffer = np.empty((0, dim), np.float32)
        super().__init__(dim)

    def _empty_storage(self) -> NDArray[np.float32]:
        return self._buffer[:0]

    def _append(
        self, snapshot: _Snapshot[NDArray[np.float32]], vectors: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        start = snapshot.size
        end = start + len(vectors)
        if end > len(self._buffer):
            grown = np.empty((max(end, 2 * len(self._buffer)), self.dim), np.float32)
            grown[:start] = self._buffer[:start]
            self._buffer = grown
        self._buffer[start:end] = vectors
        view = self._buffer[:end]
        view.flags.writeable = False
        return view

    def _rows(self, snapshot: _Snapshot[NDArray[np.float32]]) -> NDArray[np.float32]:
        return snapshot.storage

    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: _Snapshot[NDArray[np.float32]]
    ) -> NDArray[np.float32]:
        self._buffer = vectors
        view = vectors[:]
        view.flags.writeable = False
        return view

    def _top_k(
        self,
        snapshot: _Snapshot[NDArray[np.float32]],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        vectors = snapshot.storage
        if candidates is None:
            scores = queries @ vectors.T
        elif 2 * candidates.size >= snapshot.size:
            # A full product then a column pick beats gathering most of the rows.
            scores = (queries @ vectors.T)[:, candidates]
        else:
            scores = queries @ vectors[candidates].T
        columns = np.stack([_top_k_columns(row, k) for row in scores])
        positions = columns if candidates is None else candidates[columns]
        return np.take_along_axis(scores, columns, axis=1), positions


def _top_k_columns(scores: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Columns of the k best scores, by descending score then ascending column (``k <= len(scores)``)."""
    if k < scores.size:
        partition = np.argpartition(-scores, k - 1)[:k]
        boundary = scores[partition].min()
        above = np.flatnonzero(scores > boundary)
        # argpartition picks arbitrarily among scores equal to the boundary: take the lowest columns.
        tied = np.flatnonzero(scores == boundary)[: k - above.size]
        columns = np.concatenate([above, tied])
    else:
        columns = np.arange(scores.size)
    # Stable: within one score, `columns` is ascending (`above` and `tied` are, and never share a score).
    order = np.argsort(-scores[columns], kind="stable")
    return columns[order].astype(np.int64)


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """How :class:`PlannedIndex` chooses between exact search and its HNSW graph (module docstring, "Planner").

    Attributes:
        exact_max: Searches allowing at most this many live vectors are exact (gathered flat scan).
        flat_max: Unfiltered searches stay exact while the index holds fewer live vectors than this.
        m: HNSW links per node (``IndexHNSWFlat`` M).
        ef_construction: HNSW build breadth.
        ef_search: efSearch of an unfiltered search for a few results; a filtered one scales it up
            (``scale_ef``).
        ef_per_k: efSearch is at least this many times k (recall of a deep top-k needs a wider beam).
        ef_max: Upper bound of the scaled efSearch.
        scale_ef: Scale efSearch up as the filter's selectivity ``s`` falls, by ``s ** -ef_exponent``.
        ef_exponent: See ``scale_ef``.
        scan_per_ef: A graph search costs about as much as an exact scan of this many vectors per unit of
            efSearch (measured at 100k: efSearch 512 0.8 ms, a flat scan 5.9 ms); the planner scans exactly
            when that is cheaper.
        fallback: Search exactly when the graph returns fewer than k allowed results.
        planned: False for plain "HNSW + selector" (the benchmark's comparison): the graph serves every
            search, whatever the filter, with efSearch ``max(ef_search, k)``.
        rebuild_ratio: Rebuild the graph when the vectors outside it (added since) plus its dead nodes
            (deleted since) exceed this share of its size.
        background: Build the graph in a background thread (searches stay exact until it is ready);
            False builds it inside the write that calls for it.
        build_threads: OpenMP threads of a graph build (0: every core).
    """

    exact_max: int = 10_000
    flat_max: int = 200_000
    m: int = 32
    ef_construction: int = 40
    ef_search: int = 128
    ef_per_k: float = 4.0
    ef_exponent: float = 0.4
    ef_max: int = 2_048
    scale_ef: bool = True
    scan_per_ef: int = 27
    fallback: bool = True
    planned: bool = True
    rebuild_ratio: float = 0.1
    background: bool = True
    build_threads: int = 0

    def graph_useful(self, n_live: int) -> bool:
        """Whether some search over ``n_live`` vectors would use a graph."""
        return n_live > 0 if not self.planned else n_live > self.exact_max

    def ef_for(self, k: int, selectivity: float) -> int:
        """efSearch for ``k`` results when ``selectivity`` of the graph's nodes are allowed."""
        ef = max(self.ef_search, math.ceil(self.ef_per_k * k))
        if self.scale_ef and selectivity < 1.0:
            # A walk meets allowed nodes at rate `selectivity`, but neighbours of good nodes tend to be good:
            # measured on MiniLM vectors at 100k and 1M, the efSearch keeping recall >= 0.95 grows about as
            # selectivity ** -0.4, far slower than its inverse.
            ef = math.ceil(ef * max(selectivity, 1e-9) ** -self.ef_exponent)
        return min(ef, max(self.ef_max, k))


@dataclass(frozen=True, slots=True)
class _Graph:
    """An HNSW graph over some of the index's vectors; node (label) ``i`` holds the vector of ``positions[i]``.

    Immutable once published: compaction makes a renumbered copy sharing the same FAISS graph.
    """

    hnsw: Any  # faiss.IndexHNSWFlat
    positions: NDArray[np.int64]  # label -> current position, -1 once compacted away
    labels: NDArray[np.int64]  # position -> label, -1 for positions added since the build
    identity: bool  # label i is position i for every node (built without tombstones, never renumbered)
    build_id: str  # names the graph's file once saved (a renumbered graph keeps it: same FAISS graph)

    def label_of(self, positions: NDArray[np.int64]) -> NDArray[np.int64]:
        """Label of each position, -1 for positions outside the graph."""
        labels = np.full(positions.size, -1, np.int64)
        inside = positions < self.labels.size
        labels[inside] = self.labels[positions[inside]]
        return labels

    def renumbered(self, kept: NDArray[np.int64], old_size: int) -> _Graph:
        """The same graph after a compaction that kept the old positions ``kept``, in order."""
        new_of_old = np.full(old_size, -1, np.int64)
        new_of_old[kept] = np.arange(kept.size)
        valid = self.positions >= 0
        positions = np.full(self.positions.size, -1, np.int64)
        positions[valid] = new_of_old[self.positions[valid]]
        labels = np.full(kept.size, -1, np.int64)
        mapped = np.flatnonzero(positions >= 0)
        labels[positions[mapped]] = mapped
        identity = mapped.size == positions.size and bool(np.array_equal(positions, np.arange(positions.size)))
        return _Graph(self.hnsw, positions, labels, identity, self.build_id)


@dataclass(frozen=True, slots=True)
class _Stores:
    """What a :class:`PlannedIndex` snapshot searches: every vector in a flat index, most of them in a graph."""

    flat: Any  # faiss.IndexFlatIP, every position
    graph: _Graph | None


class PlannedIndex(_BaseIndex[_Stores]):
    """A flat index for exact search plus an HNSW graph, and a planner choosing per search (module docstring).

    Vectors added after the graph was built (the *tail*) are scanned exactly and merged with the graph's
    results; deleted ones are excluded by the selector. The graph is rebuilt when tail and deletions exceed
    ``rebuild_ratio`` of it, in a background thread by default; searches meanwhile use the previous graph.
    """

    kind: ClassVar[IndexKind] = "auto"

    def __init__(self, dim: int, config: PlannerConfig | None = None) -> None:
        self.config = config or PlannerConfig()
        self._compactions = 0
        self._builder: threading.Thread | None = None
        # (live mask, graph, bitmap, allowed count, tail) of unfiltered searches; see _selection.
        self._unfiltered: tuple[NDArray[np.bool_], _Graph, NDArray[np.uint8] | None, int, NDArray[np.int64]] | None
        self._unfiltered = None
        self.graph_builds = 0
        self.last_build_s: float | None = None
        super().__init__(dim)

    # -------------------------------------------------------------------------------- storage hooks

    def _empty_storage(self) -> _Stores:
        return _Stores(faiss.IndexFlatIP(self.dim), None)

    def _append(self, snapshot: _Snapshot[_Stores], vectors: NDArray[np.float32]) -> _Stores:
        snapshot.storage.flat.add(vectors)  # in place, inside the write gate; the new positions are tail
        return snapshot.storage

    def _rows(self, snapshot: _Snapshot[_Stores]) -> NDArray[np.float32]:
        if snapshot.size == 0:
            return np.empty((0, self.dim), np.float32)
        flat: NDArray[np.float32] = faiss.rev_swig_ptr(snapshot.storage.flat.get_xb(), snapshot.size * self.dim)
        return flat.reshape(snapshot.size, self.dim)

    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: _Snapshot[_Stores]
    ) -> _Stores:
        flat = faiss.IndexFlatIP(self.dim)
        flat.add(vectors)
        graph = snapshot.storage.graph
        self._compactions += 1  # a build in progress numbered positions the old way: it will be discarded
        return _Stores(flat, None if graph is None else graph.renumbered(kept, snapshot.size))

    # -------------------------------------------------------------------------------- the planner

    def _top_k(
        self,
        snapshot: _Snapshot[_Stores],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        plan = self.plan(k, candidates, snapshot)
        if plan == "exact":
            return _flat_top_k(snapshot.storage.flat, snapshot.size, queries, k, candidates)
        return self._graph_top_k(snapshot, queries, k, candidates)

    def plan(
        self,
        k: int,
        candidates: NDArray[np.int64] | None,
        snapshot: _Snapshot[_Stores] | None = None,
    ) -> Literal["exact", "graph"]:
        """How a search for ``k`` results among ``candidates`` (None: every position) would run."""
        snapshot = snapshot or self._snapshot
        graph = snapshot.storage.graph
        if graph is None:
            return "exact"
        if not self.config.planned:
            return "graph"
        allowed = snapshot.size if candidates is None else candidates.size
        if allowed <= self.config.exact_max:
            return "exact"
        if allowed == snapshot.n_live and snapshot.n_live < self.config.flat_max:
            return "exact"
        selectivity = allowed / max(graph.positions.size, 1)
        if allowed <= self.config.scan_per_ef * self.config.ef_for(k, selectivity):
            return "exact"
        return "graph"

    def _graph_top_k(
        self,
        snapshot: _Snapshot[_Stores],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        graph = snapshot.storage.graph
        assert graph is not None
        n_nodes = graph.positions.size
        bits, n_allowed, tail = self._selection(snapshot, graph, candidates)
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # absent from the stubs
        params.efSearch = self.config.ef_for(k, n_allowed / max(n_nodes, 1))
        if bits is not None:
            params.sel = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits))  # `bits` outlives the search
        scores, found = graph.hnsw.search(queries, k, params=params)
        found_positions = np.where(found >= 0, graph.positions[np.maximum(found, 0)], -1)
        scores = np.where(found_positions >= 0, scores, -np.inf).astype(np.float32)
        if tail.size:
            tail_k = min(k, tail.size)
            tail_scores, tail_positions = _flat_top_k(snapshot.storage.flat, snapshot.size, queries, tail_k, tail)
            scores = np.concatenate([scores, tail_scores], axis=1)
            found_positions = np.concatenate([found_positions, tail_positions], axis=1)
        order = np.lexsort((found_positions, -scores))[:, :k]
        top_scores = np.take_along_axis(scores, order, axis=1)
        top_positions = np.take_along_axis(found_positions, order, axis=1)
        if self.config.fallback:
            short = np.flatnonzero((top_positions < 0).any(axis=1))
            if short.size:  # the graph walk ran out of allowed nodes: these queries are answered exactly
                exact_scores, exact_positions = _flat_top_k(
                    snapshot.storage.flat, snapshot.size, queries[short], k, candidates
                )
                top_scores[short], top_positions[short] = exact_scores, exact_positions
        return top_scores.astype(np.float32, copy=False), top_positions.astype(np.int64, copy=False)

    def _selection(
        self, snapshot: _Snapshot[_Stores], graph: _Graph, candidates: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.uint8] | None, int, NDArray[np.int64]]:
        """The graph nodes a search may return (a bitmap, None for all), how many, and the tail positions.

        Costs O(allowed) per search, except for the unfiltered case, whose answer depends only on the snapshot's
        live mask and the graph: it is computed once per (live mask, graph) and kept (1M offers: 5 ms saved on
        every unfiltered search).
        """
        if candidates is None or candidates is snapshot.live_positions:
            cached = self._unfiltered
            if cached is not None and cached[0] is snapshot.live and cached[1] is graph:
                return cached[2], cached[3], cached[4]
            everything = candidates if candidates is not None else np.arange(snapshot.size, dtype=np.int64)
            bits, n_allowed, tail = self._selection_of(graph, everything)
            self._unfiltered = (snapshot.live, graph, bits, n_allowed, tail)  # one tuple: replaced atomically
            return bits, n_allowed, tail
        return self._selection_of(graph, candidates)

    @staticmethod
    def _selection_of(
        graph: _Graph, candidates: NDArray[np.int64]
    ) -> tuple[NDArray[np.uint8] | None, int, NDArray[np.int64]]:
        n_nodes = graph.positions.size
        if graph.identity:  # candidates are sorted: the graph's part is a prefix
            split = int(np.searchsorted(candidates, n_nodes))
            allowed_labels, tail = candidates[:split], candidates[split:]
        else:
            labels = graph.label_of(candidates)
            inside = labels >= 0
            allowed_labels, tail = labels[inside], candidates[~inside]
        if allowed_labels.size == n_nodes:
            return None, n_nodes, tail
        mask = np.zeros(n_nodes, np.bool_)
        mask[allowed_labels] = True
        return np.packbits(mask, bitorder="little"), int(allowed_labels.size), tail

    # -------------------------------------------------------------------------------- graph upkeep

    @property
    def graph_state(self) -> str:
        """For operators: ``building`` while a graph build runs, else what the planner searches."""
        if self._builder is not None and self._builder.is_alive():
            return "building"
        graph = self._snapshot.storage.graph
        if graph is None:
            return "exact only" if not self.config.graph_useful(len(self)) else "not built"
        return f"ready: {graph.positions.size} nodes, {self.stale_share():.0%} stale"

    @property
    def graph_size(self) -> int:
        """Nodes of the current graph (0 when there is none yet)."""
        graph = self._snapshot.storage.graph
        return 0 if graph is None else graph.positions.size

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> NDArray[np.int64]:
        positions = super().add(ids, vectors)
        self._maintain()
        return positions

    def remove(self, ids: NDArray[np.int64]) -> int:
        removed = super().remove(ids)
        if removed:
            self._maintain()
        return removed

    def compact(self) -> NDArray[np.int64]:
        kept = super().compact()
        self._maintain()
        return kept

    def _saved_beside(self, snapshot: _Snapshot[_Stores], path: Path) -> dict[str, Any]:
        """Write the graph to its own FAISS file beside ``path`` (once per build: it never changes)."""
        graph = snapshot.storage.graph
        if graph is None:
            return {}
        target = _graph_path(path, graph.build_id)
        if not target.exists():
            temporary = target.with_name(f".{target.name}.tmp")
            try:
                faiss.write_index(graph.hnsw, str(temporary))
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        return {"graph_id": np.array(graph.build_id), "graph_positions": graph.positions}

    def _after_save(self, snapshot: _Snapshot[_Stores], path: Path) -> None:
        graph = snapshot.storage.graph
        keep = None if graph is None else _graph_path(path, graph.build_id).name
        for stale in path.parent.glob(f"{path.name}.*.hnsw"):
            if stale.name != keep:
                stale.unlink(missing_ok=True)

    def _loaded(self, path: Path, extras: Mapping[str, NDArray[Any]]) -> None:
        """Map the saved graph if the file names one (worker processes then share its pages), else build."""
        if "graph_id" in extras:
            try:
                build_id = str(extras["graph_id"])
                self._map_graph(_graph_path(path, build_id), build_id, extras["graph_positions"])
            except Exception:  # a missing or damaged graph file is rebuilt, never trusted
                log.warning("HNSW graph beside %s unreadable; rebuilding it", path, exc_info=True)
        self._maintain()

    def _map_graph(self, file: Path, build_id: str, saved_positions: NDArray[Any]) -> None:
        # IO_FLAG_MMAP_IFC maps the graph's vectors from the file read-only: processes loading the same file
        # share those pages (the links are read into memory). The graph is never written to after its build.
        hnsw = faiss.read_index(str(file), faiss.IO_FLAG_MMAP_IFC)
        positions = np.ascontiguousarray(saved_positions, dtype=np.int64)
        with self._lock:
            snapshot = self._snapshot
            if hnsw.d != self.dim or hnsw.ntotal != positions.size or positions.max(initial=-1) >= snapshot.size:
                raise ValueError(f"{file} does not match the index ({hnsw.ntotal} nodes, dim {hnsw.d})")
            labels = np.full(snapshot.size, -1, np.int64)
            mapped = np.flatnonzero(positions >= 0)
            labels[positions[mapped]] = mapped
            identity = mapped.size == positions.size and bool(np.array_equal(positions, np.arange(positions.size)))
            graph = _Graph(hnsw, positions, labels, identity, build_id)
            self._snapshot = dataclasses.replace(snapshot, storage=_Stores(snapshot.storage.flat, graph))

    def stale_share(self) -> float:
        """Share of the graph that is out of date: vectors added since its build, plus its deleted nodes."""
        snapshot = self._snapshot
        graph = snapshot.storage.graph
        if graph is None:
            return math.inf
        valid = graph.positions[graph.positions >= 0]
        dead = graph.positions.size - int(np.count_nonzero(snapshot.live[valid]))
        tail = snapshot.n_live - (graph.positions.size - dead)
        return (tail + dead) / max(graph.positions.size, 1)

    def _maintain(self) -> None:
        """Start a graph build when one is useful and the current graph is missing or too stale."""
        if not self.config.graph_useful(len(self)) or self.stale_share() <= self.config.rebuild_ratio:
            return
        if not self.config.background:
            self.build_graph()
            return
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return  # the running build re-checks staleness when it ends
            self._builder = threading.Thread(target=self._build_in_background, name="pollinate-hnsw", daemon=True)
            self._builder.start()

    def _build_in_background(self) -> None:
        # Writes during a build (a catch-up adding offers in chunks) leave the new graph stale: go again
        # until it is fresh enough. Each build covers everything live at its start, so this ends.
        while self.config.graph_useful(len(self)) and self.stale_share() > self.config.rebuild_ratio:
            try:
                self.build_graph()
            except Exception:  # a failed build leaves the previous graph (or exact search) in place
                log.exception("building the HNSW graph failed; searches stay on the previous graph or exact")
                return

    def build_graph(self) -> bool:
        """Build an HNSW graph over the live vectors now and publish it (searches keep running meanwhile).

        Returns:
            Whether it was published: False when a compaction renumbered the positions during the build (the
            next write or :meth:`build_graph` call starts again).
        """
        started = time.perf_counter()
        with self._lock:  # no write can move the storage while the live rows are copied out
            snapshot = self._snapshot
            compactions = self._compactions
            positions = np.flatnonzero(snapshot.live).astype(np.int64)
            vectors = np.ascontiguousarray(self._rows(snapshot)[positions])
        hnsw = faiss.IndexHNSWFlat(self.dim, self.config.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.config.ef_construction
        threads = self.config.build_threads or os.cpu_count() or 1
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads)  # this thread only (module docstring, "Threads")
        try:
            hnsw.add(vectors)
        finally:
            faiss.omp_set_num_threads(previous)
        del vectors
        labels = np.full(snapshot.size, -1, np.int64)
        labels[positions] = np.arange(positions.size)
        graph = _Graph(
            hnsw, positions, labels, identity=positions.size == snapshot.size, build_id=uuid.uuid4().hex
        )
        with self._lock:
            if self._compactions != compactions:
                return False
            current = self._snapshot
            self._snapshot = dataclasses.replace(current, storage=_Stores(current.storage.flat, graph))
            self.graph_builds += 1
            self.last_build_s = time.perf_counter() - started
        log.info("HNSW graph of %d vectors built in %.1f s", positions.size, self.last_build_s)
        return True

    def sharing(self, config: PlannerConfig) -> PlannedIndex:
        """A second planner over this index's vectors and graph, for reading only (benchmark comparisons).

        Writes to either index afterwards would leave the other inconsistent.
        """
        other = PlannedIndex(self.dim, config)
        with self._lock:
            other._snapshot, other._position_of = self._snapshot, self._position_of
        return other

    def wait_for_graph(self, timeout: float | None = None) -> None:
        """Wait for a background build in progress (tests and benchmarks)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)


def _graph_path(index_path: Path, build_id: str) -> Path:
    """The FAISS file of a planned index's graph, beside the index file."""
    return index_path.with_name(f"{index_path.name}.{build_id}.hnsw")


def make_index(kind: IndexKind, dim: int, *, planner: PlannerConfig | None = None) -> VectorIndex:
    """Create an empty index of the given kind.

    Args:
        kind: ``"auto"`` (the planner: exact or HNSW per search, what serving uses), ``"flat"`` (FAISS exact
            search only), ``"hnsw"`` (plain HNSW + selector, the benchmark's comparison) or ``"exact"``
            (NumPy, the reference of the tests).
        dim: Vector dimension (384 for the packaged MiniLM model).
        planner: The planner's configuration (``auto`` and ``hnsw``); default :class:`PlannerConfig`.

    Raises:
        ValueError: Unknown kind or non-positive dimension.
    """
    return _index_class(kind)(dim, **_index_options(kind, planner))


def load_index(
    kind: IndexKind, path: Path, *, planner: PlannerConfig | None = None
) -> tuple[VectorIndex, dict[str, Any]]:
    """Read an index file written by ``save`` into an index of the given kind (see :func:`make_index`).

    Returns:
        The index and the metadata given to ``save``.
    """
    index, metadata = _index_class(kind).load(path, **_index_options(kind, planner))
    return index, metadata


_KINDS: dict[str, type[PlannedIndex] | type[FaissIndex] | type[ExactIndex]] = {
    "auto": PlannedIndex,
    "flat": FaissIndex,
    "hnsw": PlannedIndex,
    "exact": ExactIndex,
}


def _index_class(kind: str) -> type[PlannedIndex] | type[FaissIndex] | type[ExactIndex]:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {sorted(_KINDS)}") from None


def planner_for(kind: str, planner: PlannerConfig | None = None) -> PlannerConfig | None:
    """The configuration an index of ``kind`` searches with (None for the kinds without a planner).

    ``hnsw`` is plain HNSW + selector: the graph for every search, a fixed efSearch, no fallback.
    """
    if kind == "auto":
        return planner or PlannerConfig()
    if kind == "hnsw":
        return dataclasses.replace(planner or PlannerConfig(), planned=False, scale_ef=False, fallback=False)
    return None


def _index_options(kind: str, planner: PlannerConfig | None) -> dict[str, Any]:
    config = planner_for(kind, planner)
    return {} if config is None else {"config": config}

"""What every index implementation shares: input checks, the search gate, snapshots, add/remove/compact/search.

Concurrency rule
    Any number of threads may search (and call the other read methods) at once; FAISS flat search releases
    the GIL and is safe for concurrent reads. Writers (``add``, ``remove``, ``compact``, ``save``) serialise
    on a ``threading.RLock``. Searches never take that lock: they read an immutable snapshot (positions, ids,
    live mask, vector storage) that writers replace rather than mutate. The one piece of memory mutated in
    place is FAISS's vector buffer, which ``add`` grows (and may reallocate), so ``add`` passes a small
    readers-writer gate: it waits for in-flight searches, and searches arriving meanwhile wait for it.
    Positions are only meaningful against the snapshot that produced them: whoever runs ``compact()`` must
    also compact its per-position arrays before issuing new filtered searches.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from matcher.engine.index.persistence import CORE_ARRAYS, FILE_FORMAT, FILE_VERSION, write_atomically
from matcher.engine.index.protocol import IndexKind

# Embeddings come out of the model normalised to ~1e-7; a larger error means a caller forgot to normalise,
# and inner product would no longer be cosine similarity.
_NORM_TOLERANCE = 1e-3

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
class Snapshot(Generic[_StorageT]):
    """Everything one search reads. Published whole by writers and never mutated afterwards."""

    size: int
    ids: NDArray[np.int64]  # read-only, length `size`
    live: NDArray[np.bool_]  # read-only, length `size`
    n_live: int
    live_positions: NDArray[np.int64] | None  # None when there is no tombstone
    storage: _StorageT


# ------------------------------------------------------------------------------------------------ shared logic


class BaseIndex(ABC, Generic[_StorageT]):
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
    def _append(self, snapshot: Snapshot[_StorageT], vectors: NDArray[np.float32]) -> _StorageT:
        """Store ``vectors`` after ``snapshot.size`` rows; called inside the write gate."""

    @abstractmethod
    def _rows(self, snapshot: Snapshot[_StorageT]) -> NDArray[np.float32]:
        """A ``(size, dim)`` view of the stored vectors, valid until the next ``_append``."""

    @abstractmethod
    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: Snapshot[_StorageT]
    ) -> _StorageT:
        """New storage holding exactly ``vectors``, the rows ``kept`` of ``snapshot`` (compaction).

        The old storage stays valid for readers.
        """

    @abstractmethod
    def _top_k(
        self,
        snapshot: Snapshot[_StorageT],
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
    def _candidates(snapshot: Snapshot[_StorageT], allowed: NDArray[np.int64] | None) -> NDArray[np.int64] | None:
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
    ) -> Snapshot[_StorageT]:
        ids.flags.writeable = False
        live.flags.writeable = False
        n_live = int(np.count_nonzero(live))
        live_positions = None if n_live == live.size else np.flatnonzero(live).astype(np.int64)
        return Snapshot(ids.size, ids, live, n_live, live_positions, storage)

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
                "format": np.array(FILE_FORMAT),
                "version": np.array(FILE_VERSION),
                "kind": np.array(self.kind),
                "dim": np.array(self.dim),
                "count": np.array(snapshot.size),
                "vectors": self._rows(snapshot),
                "ids": snapshot.ids,
                "live": snapshot.live,
                "metadata": np.array(metadata_json),
                **self._saved_beside(snapshot, path),
            }
            write_atomically(path, arrays)
            self._after_save(snapshot, path)

    def _saved_beside(self, snapshot: Snapshot[_StorageT], path: Path) -> dict[str, Any]:
        """Hook: write companion files of ``path`` and return extra arrays for the index file."""
        return {}

    def _after_save(self, snapshot: Snapshot[_StorageT], path: Path) -> None:
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
            if "format" not in data.files or str(data["format"]) != FILE_FORMAT:
                raise ValueError(f"{path} is not a Pollinate vector index file")
            if int(data["version"]) != FILE_VERSION:
                raise ValueError(
                    f"{path} has index file version {int(data['version'])}; this Pollinate reads version "
                    f"{FILE_VERSION}: rebuild the index"
                )
            dim = int(data["dim"])
            count = int(data["count"])
            vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
            ids = np.ascontiguousarray(data["ids"], dtype=np.int64)
            live = np.ascontiguousarray(data["live"], dtype=np.bool_)
            metadata = json.loads(str(data["metadata"]))
            extras = {name: data[name] for name in data.files if name not in CORE_ARRAYS}
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

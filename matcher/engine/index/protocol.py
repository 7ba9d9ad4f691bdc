"""The vector index's interface: what the ranking, the alerts and the service rely on.

Positions and ids
    A *position* is a row number in the index; an *id* is the offer's database primary key. The index keeps a
    NumPy ``position -> id`` array and an ``id -> position`` dict. Adding an id that is already present is an
    update: the new vector is appended and the old position becomes a *tombstone* (kept, but never returned).
    ``compact()`` drops tombstones and renumbers positions, returning ``kept`` (the old position of every new
    position) so that callers holding per-position arrays (filters, metadata) can compact them identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, Self

import numpy as np
from numpy.typing import NDArray

IndexKind = Literal["auto", "flat", "hnsw", "exact"]


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

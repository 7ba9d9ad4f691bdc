"""The flat (exact) indexes: FAISS ``IndexFlatIP`` and its NumPy reference.

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
"""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np
from numpy.typing import NDArray

from matcher.engine.index.base import BaseIndex, Snapshot
from matcher.engine.index.protocol import IndexKind

# Above this fraction of the positions, FaissIndex filters with a bitmap instead of a position array
# (see "Filters" in the module docstring for the measurements).
_ARRAY_SELECTOR_MAX_FRACTION = 0.6
# ------------------------------------------------------------------------------------------------ implementations


def flat_top_k(
    index: Any, size: int, queries: NDArray[np.float32], k: int, candidates: NDArray[np.int64] | None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Exact top ``k`` on a ``faiss.IndexFlatIP`` of ``size`` rows (see ``BaseIndex._top_k``)."""
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


class FaissIndex(BaseIndex[Any]):
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

    def _append(self, snapshot: Snapshot[Any], vectors: NDArray[np.float32]) -> Any:
        # In place (the buffer may move): only ever called inside the write gate.
        snapshot.storage.add(vectors)
        return snapshot.storage

    def _rows(self, snapshot: Snapshot[Any]) -> NDArray[np.float32]:
        if snapshot.size == 0:
            return np.empty((0, self.dim), np.float32)
        flat: NDArray[np.float32] = faiss.rev_swig_ptr(snapshot.storage.get_xb(), snapshot.size * self.dim)
        return flat.reshape(snapshot.size, self.dim)

    def _rebuilt(self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: Snapshot[Any]) -> Any:
        index = faiss.IndexFlatIP(self.dim)
        index.add(vectors)
        return index

    def _top_k(
        self,
        snapshot: Snapshot[Any],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return flat_top_k(snapshot.storage, snapshot.size, queries, k, candidates)


class ExactIndex(BaseIndex[NDArray[np.float32]]):
    """NumPy brute force: the reference implementation the differential tests compare FAISS against."""

    kind: ClassVar[IndexKind] = "exact"

    def __init__(self, dim: int) -> None:
        # Appends write past every published view, so the buffer grows without disturbing searches.
        self._buffer = np.empty((0, dim), np.float32)
        super().__init__(dim)

    def _empty_storage(self) -> NDArray[np.float32]:
        return self._buffer[:0]

    def _append(
        self, snapshot: Snapshot[NDArray[np.float32]], vectors: NDArray[np.float32]
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

    def _rows(self, snapshot: Snapshot[NDArray[np.float32]]) -> NDArray[np.float32]:
        return snapshot.storage

    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: Snapshot[NDArray[np.float32]]
    ) -> NDArray[np.float32]:
        self._buffer = vectors
        view = vectors[:]
        view.flags.writeable = False
        return view

    def _top_k(
        self,
        snapshot: Snapshot[NDArray[np.float32]],
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

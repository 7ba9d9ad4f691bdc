"""Index kinds by name (``auto``, ``flat``, ``hnsw``, ``exact``): making and loading an index of a kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from matcher.engine.index.flat import ExactIndex, FaissIndex
from matcher.engine.index.planner import PlannedIndex, PlannerConfig
from matcher.engine.index.protocol import IndexKind, VectorIndex


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

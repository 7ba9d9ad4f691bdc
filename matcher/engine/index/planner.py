"""The selectivity planner: exact scan or HNSW graph per search (``PlannedIndex``, index kind ``auto``).

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
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import faiss
import numpy as np
from numpy.typing import NDArray

from matcher.engine.index.base import BaseIndex, Snapshot
from matcher.engine.index.flat import flat_top_k
from matcher.engine.index.protocol import IndexKind

log = logging.getLogger(__name__)


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


class PlannedIndex(BaseIndex[_Stores]):
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

    def _append(self, snapshot: Snapshot[_Stores], vectors: NDArray[np.float32]) -> _Stores:
        snapshot.storage.flat.add(vectors)  # in place, inside the write gate; the new positions are tail
        return snapshot.storage

    def _rows(self, snapshot: Snapshot[_Stores]) -> NDArray[np.float32]:
        if snapshot.size == 0:
            return np.empty((0, self.dim), np.float32)
        flat: NDArray[np.float32] = faiss.rev_swig_ptr(snapshot.storage.flat.get_xb(), snapshot.size * self.dim)
        return flat.reshape(snapshot.size, self.dim)

    def _rebuilt(
        self, vectors: NDArray[np.float32], kept: NDArray[np.int64], snapshot: Snapshot[_Stores]
    ) -> _Stores:
        flat = faiss.IndexFlatIP(self.dim)
        flat.add(vectors)
        graph = snapshot.storage.graph
        self._compactions += 1  # a build in progress numbered positions the old way: it will be discarded
        return _Stores(flat, None if graph is None else graph.renumbered(kept, snapshot.size))

    # -------------------------------------------------------------------------------- the planner

    def _top_k(
        self,
        snapshot: Snapshot[_Stores],
        queries: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        plan = self.plan(k, candidates, snapshot)
        if plan == "exact":
            return flat_top_k(snapshot.storage.flat, snapshot.size, queries, k, candidates)
        return self._graph_top_k(snapshot, queries, k, candidates)

    def plan(
        self,
        k: int,
        candidates: NDArray[np.int64] | None,
        snapshot: Snapshot[_Stores] | None = None,
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
        snapshot: Snapshot[_Stores],
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
            tail_scores, tail_positions = flat_top_k(snapshot.storage.flat, snapshot.size, queries, tail_k, tail)
            scores = np.concatenate([scores, tail_scores], axis=1)
            found_positions = np.concatenate([found_positions, tail_positions], axis=1)
        order = np.lexsort((found_positions, -scores))[:, :k]
        top_scores = np.take_along_axis(scores, order, axis=1)
        top_positions = np.take_along_axis(found_positions, order, axis=1)
        if self.config.fallback:
            short = np.flatnonzero((top_positions < 0).any(axis=1))
            if short.size:  # the graph walk ran out of allowed nodes: these queries are answered exactly
                exact_scores, exact_positions = flat_top_k(
                    snapshot.storage.flat, snapshot.size, queries[short], k, candidates
                )
                top_scores[short], top_positions[short] = exact_scores, exact_positions
        return top_scores.astype(np.float32, copy=False), top_positions.astype(np.int64, copy=False)

    def _selection(
        self, snapshot: Snapshot[_Stores], graph: _Graph, candidates: NDArray[np.int64] | None
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

    def _saved_beside(self, snapshot: Snapshot[_Stores], path: Path) -> dict[str, Any]:
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

    def _after_save(self, snapshot: Snapshot[_Stores], path: Path) -> None:
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

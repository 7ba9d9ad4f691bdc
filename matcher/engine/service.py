"""MatchService: the one ranking code path used by the API, the CLI, the jobs and the evaluation harness.

The service keeps an in-memory view of the offer catalogue — vector index, metadata columns and lexical index,
all sharing positions — in step with the database:

- **start**: load the saved index when its metadata (model, vector transform, dimension, kind) matches, drop
  offers changed or deleted since the change sequence it reflects, add the missing ones (embeddings come from
  the database cache: unchanged offers are never re-embedded), and save it back atomically. A stale index is
  never served.
- **before each match**: one tiny query reads the offer change sequence; if offers changed, only those are
  re-read (and re-embedded only if their text changed).

``match(need)`` is ``match_batch([need])[0]``: needs are embedded together and ranked together
(``Ranker.rank_batch``: filters, BM25 and retrieval once per batch), and the explanations' evidence sentences
are read from the embedding cache in one go; every need gets the result it would get alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from embeddings import Embedder, FakeEmbedder
from matcher.engine.catalog import OfferCatalog
from matcher.engine.encoders import EncoderSet, Mixture
from matcher.engine.explain import Explanation, explain
from matcher.engine.filters import FilterOutcome
from matcher.engine.fusion import Weights, fuse
from matcher.engine.index import PlannerConfig, VectorIndex, load_index, make_index
from matcher.engine.lexical import LexicalIndex
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.ranking import Ranked, Ranker
from matcher.engine.scoring import SignalCache, pair_signals
from matcher.engine.texts import record_text, sentences
from matcher.engine.verdicts import Calibration, Fit, Verdict, load_calibration
from matcher.errors import NotFoundError
from matcher.settings import RankingSettings, Settings
from models.db import Database
from models.orm import Need
from models.repositories import CatalogRepository, NeedRepository, OfferSnapshot

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
# The model name that selects the deterministic hashing embedder (no model: for tests and smoke runs).
HASHING_MODEL = "hashing"


@dataclass(frozen=True, slots=True)
class Match:
    """One suggested provider.

    Attributes:
        offer_id: database id of the offer.
        external_id: the offer's external id (given at import, or made when it was created).
        organisation: provider name.
        title: offer title.
        organisation_id: database id of the provider.
        score: total score (the sum of ``components``).
        components: weighted contribution of each signal.
        explanation: why it was suggested.
        probability: calibrated probability that a person would judge the provider relevant (``verdicts``).
        verdict: ``strong``, ``good``, ``possible`` or ``weak``: the probability in words for a reader.
        weak_topical_fit: targets and geography fit but the texts are about something else (never ``strong``).
    """

    offer_id: int
    external_id: str | None
    organisation: str
    title: str
    score: float
    components: dict[str, float]
    explanation: Explanation
    organisation_id: int
    probability: float
    verdict: Verdict
    weak_topical_fit: bool


@dataclass(slots=True)
class MatchResult:
    """The ranked providers for one need, and what the filters did.

    Attributes:
        matches: best first.
        allowed: offers that passed the filters and eligibility rules.
        excluded: eligibility exclusions by reason (among offers passing the filters).
        empty_reason: why there is no match, and what to relax (``None`` when there are matches).
    """

    matches: list[Match]
    allowed: int
    excluded: dict[str, int] = field(default_factory=dict)
    empty_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """An offer scored for a need as in the need's ranking (``MatchService.offers_scoring_at_least``).

    Attributes:
        offer: the offer.
        score: total score (the sum of ``components``).
        components: weighted contribution of each signal, as in a ranked match.
        fit: its calibrated probability and verdict (``matcher.engine.verdicts``).
    """

    offer: OfferSnapshot
    score: float
    components: dict[str, float]
    fit: Fit


@dataclass(frozen=True, slots=True)
class NeedMatch:
    """A need an offer could serve (reverse matching), with its score components and explanation."""

    need_id: int | None
    external_id: str | None
    title: str
    party: str | None
    score: float
    components: dict[str, float]
    explanation: Explanation


def weights_from(settings: RankingSettings) -> Weights:
    """The fusion weights configured in the ranking settings (one setting per signal, same names)."""
    return Weights(**{f.name: getattr(settings, f.name) for f in fields(Weights)})


def _pair_weights(weights: Weights) -> Weights:
    """The weights of the reverse searches' pair score: the forward weights without BM25 (which depends on the
    rest of the catalogue: ``MatchService.rank_needs``)."""
    return weights.without("lexical")


def offer_text(offer: OfferSnapshot) -> str:
    """The text embedded for an offer."""
    return record_text(offer.title, offer.description, offer.targets)


def need_text(need: NeedQuery) -> str:
    """The text embedded for a need."""
    return record_text(need.title, need.description, need.targets)


class MatchService:
    """Ranks providers for needs over the database's offers (see the module docstring).

    Args:
        db: the database.
        embedder: the sentence embedder.
        ranking: ranking settings (weights, eligibility policies, centring, retrieval depth).
        index_kind: ``"auto"`` (the planner), ``"flat"`` (FAISS exact), ``"hnsw"`` or ``"exact"`` (NumPy).
        index_path: where the index is saved (``None``: in memory only).
        compact_ratio: compact the index when this share of its positions is deleted.
        planner: the ``auto`` index's planner configuration (default :class:`PlannerConfig`).
        calibration: the fit-verdict calibration (default: the shipped one, ``matcher/engine/verdicts.py``).
    """

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        *,
        ranking: RankingSettings | None = None,
        index_kind: str = "auto",
        index_path: Path | None = None,
        compact_ratio: float = 0.2,
        planner: PlannerConfig | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.db = db
        self.settings = ranking or RankingSettings()
        self.encoders = EncoderSet(
            db,
            embedder,
            alpha=self.settings.language_centering,
            mixture=Mixture(self.settings.multilingual_english, self.settings.multilingual_other),
        )
        self.store = self.encoders.primary
        self.weights = weights_from(self.settings)
        self.calibration = calibration or load_calibration()
        if any(abs(self.weights.signed(n) - w) > 1e-9 for n, w in self.calibration.weights.items()):
            log.warning(
                "the fit verdicts were calibrated for other ranking weights (%s); refit them "
                "(docs/evaluation.md), or the probabilities will be off",
                self.calibration.weights,
            )
        self.index_kind = index_kind
        self.index_path = index_path
        self.compact_ratio = compact_ratio
        self.planner = planner
        self._lock = threading.RLock()
        self.index: VectorIndex = make_index(index_kind, self.encoders.dim, planner=planner)  # type: ignore[arg-type]
        self.catalog = OfferCatalog()
        self.lexical = LexicalIndex()
        self.seq = -1  # offer change sequence the in-memory view reflects (-1: not loaded)
        self._signals: SignalCache | None = None
        self._signals_key: tuple[int, int, int] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, embedder: Embedder) -> MatchService:
        """A service configured by ``settings`` (index saved under the data directory)."""
        return cls(
            db,
            embedder,
            ranking=settings.ranking,
            index_kind=settings.index.kind,
            index_path=settings.index_dir / f"offers-{settings.index.kind}.npz",
            compact_ratio=settings.index.compact_ratio,
            planner=settings.index.planner(),
        )

    # ------------------------------------------------------------------------------------ catalogue sync

    @property
    def metadata(self) -> dict[str, Any]:
        """What the saved index must match to be reused."""
        return {
            "format": INDEX_FORMAT,
            "model_id": self.encoders.model_id,
            "transform": self.encoders.transform_id,
            "dim": self.encoders.dim,
            "kind": self.index_kind,
        }

    def start(self) -> None:
        """Load the saved index if it fits, catch up with the database, and save."""
        with self._lock:
            loaded = self._load_saved()
            if loaded is not None:
                index, saved_seq = loaded
                self._adopt(index, saved_seq)
            else:
                self._reset()
                self._sync_all()
            self._save()

    def _load_saved(self) -> tuple[VectorIndex, int] | None:
        if self.index_path is None or not self.index_path.exists():
            return None
        try:
            index, meta = load_index(self.index_kind, self.index_path, planner=self.planner)  # type: ignore[arg-type]
        except Exception:  # a corrupt or foreign file is rebuilt, never trusted
            log.warning("index file %s unreadable; rebuilding", self.index_path, exc_info=True)
            return None
        if any(meta.get(key) != value for key, value in self.metadata.items()):
            log.info("index file %s was built for another model or transform; rebuilding", self.index_path)
            return None
        return index, int(meta.get("change_seq", -1))

    def _reset(self) -> None:
        self.index = make_index(self.index_kind, self.encoders.dim, planner=self.planner)  # type: ignore[arg-type]
        self.catalog = OfferCatalog()
        self.lexical = LexicalIndex()
        self.seq = -1

    def _adopt(self, index: VectorIndex, saved_seq: int) -> None:
        """Use a saved index: keep the offers unchanged since it was saved, re-add the rest."""
        with self.db.transaction(read_only=True) as session:
            repo = CatalogRepository(session)
            db_seq = repo.change_seq()
            versions = repo.versions()
        if saved_seq > db_seq:  # the database went back in time (restored backup): trust nothing
            self._reset()
            self._sync_all()
            return
        ids = index.ids[index.live_mask()]
        stale = np.asarray([i for i in ids.tolist() if versions.get(i, saved_seq + 1) > saved_seq], np.int64)
        index.remove(stale)
        index.compact()
        with self.db.transaction(read_only=True) as session:
            current = {s.id: s for s in CatalogRepository(session).snapshots(index.ids.tolist())}
        vanished = np.asarray([i for i in index.ids.tolist() if i not in current], np.int64)
        if len(vanished):  # deleted since `versions` was read
            index.remove(vanished)
            index.compact()
        kept = [current[i] for i in index.ids.tolist()]
        self.index, self.catalog, self.lexical = index, OfferCatalog(), LexicalIndex()
        self.catalog.append(np.arange(len(kept), dtype=np.int64), kept)
        self.lexical.append([offer_text(s) for s in kept])
        missing = sorted(set(versions) - set(current))
        with self.db.transaction(read_only=True) as session:
            added = CatalogRepository(session).snapshots(missing)
        self._add(added)
        self.seq = db_seq

    def _sync_all(self) -> None:
        with self.db.transaction(read_only=True) as session:
            repo = CatalogRepository(session)
            seq = repo.change_seq()
            snapshots = repo.snapshots()
        self._add(snapshots)
        self.seq = seq

    def _add(self, snapshots: Sequence[OfferSnapshot]) -> None:
        """Embed (through the cache) and add offers; an offer already indexed is replaced."""
        if not snapshots:
            return
        for start in range(0, len(snapshots), 2048):
            chunk = list(snapshots[start : start + 2048])
            ids = np.asarray([s.id for s in chunk], dtype=np.int64)
            self._remove(ids)
            vectors, _languages = self.encoders.offer_vectors([offer_text(s) for s in chunk])
            positions = self.index.add(ids, vectors)
            self.catalog.append(positions, chunk)
            self.lexical.append([offer_text(s) for s in chunk])

    def _remove(self, ids: NDArray[np.int64]) -> None:
        if len(ids) and self.index.remove(ids) and self.index.tombstone_ratio > self.compact_ratio:
            kept = self.index.compact()
            self.catalog.compact(kept)
            self.lexical.compact(kept)

    def refresh(self) -> int:
        """Apply offer changes committed since the last refresh; returns how many offers were re-read."""
        with self._lock:
            if self.seq < 0:
                self.start()
                return len(self.index)
            with self.db.transaction(read_only=True) as session:
                repo = CatalogRepository(session)
                seq = repo.change_seq()  # read first: later commits are picked up next time
                if seq == self.seq:
                    return 0
                changed = repo.changed_since(self.seq)
                deleted = repo.deleted_since(self.seq)
                snapshots = repo.snapshots(changed)
            self._remove(np.asarray(sorted(set(deleted) | set(changed)), dtype=np.int64))
            self._add(snapshots)
            self.seq = seq
            return len(changed) + len(deleted)

    def _save(self) -> None:
        if self.index_path is None:
            return
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        self.index.save(self.index_path, {**self.metadata, "change_seq": self.seq, "count": len(self.index)})

    def close(self) -> None:
        """Save the index (so the next start only catches up)."""
        with self._lock:
            if self.seq >= 0:
                self._save()

    # -------------------------------------------------------------------------------------------- match

    def query_vectors(self, needs: Sequence[NeedQuery], *, cross_lingual: bool = False) -> NDArray[np.float32]:
        """Language-centred (and, with several encoders, fused) vectors of needs, embedded through the cache in
        one batch (``cross_lingual``: see ``EncoderSet.query_vectors``)."""
        return self.encoders.query_vectors(
            [need_text(n) for n in needs], languages=[n.language for n in needs], cross_lingual=cross_lingual
        )

    def match(
        self, need: NeedQuery, *, k: int = 10, filters: MatchFilters | None = None, weights: Weights | None = None
    ) -> MatchResult:
        """Ranked providers for one need."""
        return self.match_batch([need], k=k, filters=filters, weights=weights)[0]

    def match_batch(
        self,
        needs: Sequence[NeedQuery],
        *,
        k: int = 10,
        filters: MatchFilters | None = None,
        weights: Weights | None = None,
        explain_matches: bool = True,
        today: dt.date | None = None,
    ) -> list[MatchResult]:
        """Ranked providers for each need (one embedding batch for all of them)."""
        self.refresh()
        queries = self.query_vectors(needs)
        used = weights or self.weights
        results: list[MatchResult] = []
        with self._lock:
            ranked = self._ranker().rank_batch(queries, needs, k=k, weights=used, filters=filters, today=today)
            snapshots = [[self.catalog.snapshots[int(p)] for p in r.positions] for r in ranked]
            stuffing = [self.catalog.column("stuffing")[r.positions] for r in ranked]
        if explain_matches:
            evidence = self._evidence(queries, snapshots)
        else:
            evidence = [[() for _ in group] for group in snapshots]
        for i, need in enumerate(needs):
            results.append(self._result(need, ranked[i], snapshots[i], stuffing[i], evidence[i]))
        return results

    def _ranker(self) -> Ranker:
        """A ranker over the current catalogue with the configured settings (call with the lock held)."""
        return Ranker(
            self.catalog,
            self.index,
            self.lexical,
            candidates=self.settings.candidates,
            inactive=self.settings.inactive,
            at_capacity=self.settings.at_capacity,
            feedback_depth=self.settings.feedback_depth,
            feedback_weight=self.settings.feedback_weight,
            signals=self._signal_cache(),
        )

    def _signal_cache(self) -> SignalCache:
        """Per-party and per-language signal values, shared by batches while the catalogue is unchanged."""
        key = (id(self.catalog), self.seq, self.catalog.size)
        if self._signals is None or self._signals_key != key:
            self._signals, self._signals_key = SignalCache(self.catalog), key
        return self._signals

    def _result(
        self,
        need: NeedQuery,
        ranked: Ranked,
        snapshots: list[OfferSnapshot | None],
        stuffing: NDArray[np.float32],
        evidence: list[tuple[str, ...]],
    ) -> MatchResult:
        outcome: FilterOutcome = ranked.outcome
        matches = []
        for j, snapshot in enumerate(snapshots):
            assert snapshot is not None
            components = {name: float(values[j]) for name, values in ranked.contributions.items()}
            penalised = float(ranked.signals["penalty"][j]) > 0
            fit = self.calibration.assess(components)
            matches.append(
                Match(
                    offer_id=snapshot.id,
                    external_id=snapshot.external_id,
                    organisation=snapshot.organisation,
                    title=snapshot.title,
                    score=float(ranked.scores[j]),
                    components=components,
                    explanation=explain(
                        need, snapshot, evidence=evidence[j], penalised=penalised, stuffing=float(stuffing[j])
                    ),
                    organisation_id=snapshot.organisation_id,
                    probability=fit.probability,
                    verdict=fit.verdict,
                    weak_topical_fit=fit.weak_topical_fit,
                )
            )
        return MatchResult(matches, len(outcome.allowed), outcome.excluded, outcome.empty_reason)

    def _evidence(
        self, queries: NDArray[np.float32], snapshots: list[list[OfferSnapshot | None]]
    ) -> list[list[tuple[str, ...]]]:
        """Per need and offer, the offer sentences most similar to the need.

        Sentence embeddings are cached like any text; the batch's distinct sentences are read in one go.
        Similarities are computed in float64 so that a need quotes the same sentences alone and in a batch.
        """
        count = self.settings.evidence_sentences
        per_need = [[sentences(s.description) if s is not None else [] for s in group] for group in snapshots]
        distinct = list(dict.fromkeys(s for groups in per_need for group in groups for s in group))
        if not count or not distinct:
            return [[() for _ in group] for group in snapshots]
        vectors, _languages = self.encoders.offer_vectors(distinct)
        centred = vectors.astype(np.float64)
        row_of = {sentence: row for row, sentence in enumerate(distinct)}
        out: list[list[tuple[str, ...]]] = []
        for i, groups in enumerate(per_need):
            flat = [row_of[s] for group in groups for s in group]
            similarity = centred[flat] @ queries[i].astype(np.float64)
            quoted: list[tuple[str, ...]] = []
            start = 0
            for group in groups:
                sims = similarity[start : start + len(group)]
                best = sorted(np.argsort(-sims, kind="stable")[:count].tolist())  # keep the offer's own order
                quoted.append(tuple(group[b] for b in best))
                start += len(group)
            out.append(quoted)
        return out

    # ---------------------------------------------------------------------------------------- reverse

    def rank_needs(
        self, offer_id: int, needs: Sequence[NeedQuery], *, k: int = 10, weights: Weights | None = None
    ) -> list[NeedMatch]:
        """The needs an offer could best serve, best first (for providers: "where could we help?").

        Each need is scored with the signals of the forward score that belong to the pair alone — semantic,
        targets, geography, language, assistance and the offer's keyword-stuffing penalty — with the same
        weights. BM25 and feedback are left out: they depend on the rest of the catalogue, which would mean
        ranking every offer for every need. Needs the offer's own organisation posted are skipped.

        Raises:
            NotFoundError: the offer is not in the catalogue.
        """
        self.refresh()
        used = _pair_weights(weights or self.weights)
        with self._lock:
            position = int(self.index.positions_of(np.asarray([offer_id], dtype=np.int64))[0])
            if position < 0:
                raise NotFoundError(f"no offer with id {offer_id}")
            snapshot = self.catalog.snapshots[position]
            assert snapshot is not None
            offer_vector = self.index.vectors_at(np.asarray([position], dtype=np.int64))[0]
            stuffing = float(self.catalog.column("stuffing")[position])
            eligible = [n for n in needs if n.organisation_id != snapshot.organisation_id]
            if not eligible:
                return []
            similarity = self.query_vectors(eligible) @ offer_vector
            positions = np.asarray([position], dtype=np.int64)
            no_penalty = np.zeros(1, dtype=np.float32)  # eligibility is not checked here, as documented above
            scored = []
            for i, need in enumerate(eligible):
                signals = pair_signals(
                    self.catalog, positions, need, penalties=no_penalty, semantic=similarity[i : i + 1]
                )
                total, contributions = fuse(signals, used)
                scored.append((float(total[0]), need, {name: float(v[0]) for name, v in contributions.items()}))
        scored.sort(key=lambda item: (-item[0], item[1].need_id or 0))
        return [
            NeedMatch(
                need_id=need.need_id,
                external_id=need.external_id,
                title=need.title,
                party=need.party,
                score=score,
                components=components,
                explanation=explain(need, snapshot, evidence=(), penalised=False, stuffing=stuffing),
            )
            for score, need, components in scored[:k]
        ]

    def offers_scoring_at_least(
        self,
        need: NeedQuery,
        organisations: Collection[int],
        *,
        floor: float,
        today: dt.date | None = None,
    ) -> list[Scored]:
        """Every eligible offer of ``organisations`` whose score for ``need`` is at least ``floor``, best first.

        The score is the forward ranking's, component by component (``Ranker.scoring_at_least``: BM25 among
        every offer the need's ranking allows, pseudo-relevance feedback, the same eligibility rules), so each
        offer's score is the one it has in the need's ranking of providers, and its fit verdict is calibrated
        like a ranked match's. Exact: no offer reaching ``floor`` is left out.
        """
        self.refresh()
        query = self.query_vectors([need])[0]
        with self._lock:
            ranked = self._ranker().scoring_at_least(
                query,
                need,
                organisations=np.asarray(sorted(organisations), dtype=np.int64),
                floor=floor,
                weights=self.weights,
                today=today,
            )
            snapshots = [self.catalog.snapshots[int(p)] for p in ranked.positions]
        out = []
        for j, snapshot in enumerate(snapshots):
            assert snapshot is not None
            components = {name: float(values[j]) for name, values in ranked.contributions.items()}
            out.append(Scored(snapshot, float(ranked.scores[j]), components, self.calibration.assess(components)))
        return out

    # ---------------------------------------------------------------------------------------- loading

    def stored_need(self, need_id: int) -> NeedQuery:
        """The ranking view of a stored need."""
        with self.db.transaction(read_only=True) as session:
            need = NeedRepository(session).get(need_id)
            if need is None:
                raise NotFoundError(f"no need with id {need_id}")
            return need_from_stored(need)


def create_embedder(settings: Settings) -> Embedder:
    """The embedder configured in ``settings``: the packaged sentence-transformers model, with the multilingual
    USE-m3 beside it when ``embedding.multilingual`` is ``use-m3`` (a ``CompositeEmbedder``).

    ``embedding.backend`` picks torch (fp32 or bf16) or an ONNX Runtime variant; ``auto`` follows the quality
    gate recorded with the ONNX export and the CPU (``embeddings.onnx.choose_backend``).
    """
    english = _english_embedder(settings)
    if settings.embedding.multilingual == "none" or settings.embedding.model == HASHING_MODEL:
        return english  # `hashing` means no model at all (tests and smoke runs)
    from embeddings.composite import CompositeEmbedder
    from embeddings.universal import UniversalSentenceEncoder

    return CompositeEmbedder([english, UniversalSentenceEncoder(threads=settings.embedding.threads)])


def _english_embedder(settings: Settings) -> Embedder:
    """The configured MiniLM (or other sentence-transformers model), on the chosen backend, or its static copy."""
    if settings.embedding.model == HASHING_MODEL:
        return FakeEmbedder(dim=384)
    if settings.embedding.english_encoder == "static":
        from embeddings.static import StaticEmbedder

        return StaticEmbedder.for_model(
            settings.embedding.model,
            settings.cache_dir,
            batch_size=settings.embedding.batch_size,
            threads=settings.embedding.threads,
        )
    from embeddings.onnx import VARIANTS, OnnxEmbedder, choose_backend, export_dir

    choice = choose_backend(settings.embedding.backend, export_dir(settings.cache_dir, settings.embedding.model))
    log.info("embedding backend %s: %s", choice.backend, choice.reason)
    if choice.backend in VARIANTS:
        return OnnxEmbedder.for_model(
            settings.embedding.model,
            settings.cache_dir,
            variant="onnx-int8" if choice.backend == "onnx-int8" else "onnx-fp32",
            batch_size=settings.embedding.batch_size,
            batch_tokens=settings.embedding.batch_tokens,
            long_text=settings.embedding.long_text,
            threads=settings.embedding.threads,
        )
    from embeddings.transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        settings.embedding.model,
        batch_size=settings.embedding.batch_size,
        batch_tokens=settings.embedding.batch_tokens,
        long_text=settings.embedding.long_text,
        threads=settings.embedding.threads,
        precision="bf16" if choice.backend == "torch-bf16" else "fp32",
    )


class NeedFields(Protocol):
    """What the ranker reads from a need: a stored one (``models.orm.Need``) or a gold-format record
    (``matcher.records.interchange.NeedRecord``, which the engine does not import: records sit above it)."""

    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def targets(self) -> Iterable[int]: ...
    @property
    def assistance_types(self) -> Iterable[str]: ...
    @property
    def language(self) -> str: ...
    @property
    def party(self) -> str: ...


class NeedRecordFields(NeedFields, Protocol):
    """A gold-format need record: its fields and its external id."""

    @property
    def id(self) -> str: ...


def need_from_stored(need: Need) -> NeedQuery:
    """The ranking view of a need loaded from the database."""
    return _need_query(need, organisation_id=need.organisation_id, need_id=need.id, external_id=need.external_id)


def need_from_record(record: NeedRecordFields, *, organisation_id: int | None = None) -> NeedQuery:
    """The ranking view of a gold-format need record."""
    return _need_query(record, organisation_id=organisation_id, need_id=None, external_id=record.id)


def _need_query(
    source: NeedFields, *, organisation_id: int | None, need_id: int | None, external_id: str | None
) -> NeedQuery:
    """A stored need and a need record share the fields the ranker reads."""
    return NeedQuery(
        title=source.title,
        description=source.description,
        targets=tuple(source.targets),
        assistance_types=tuple(source.assistance_types),
        language=source.language,
        party=source.party,
        organisation_id=organisation_id,
        need_id=need_id,
        external_id=external_id,
    )

"""Ranking quality on a gold set, through the same ``MatchService.match_batch`` path the API and CLI use.

:func:`evaluate` loads a gold set into a throwaway SQLite database, starts one ``MatchService`` per distinct
engine configuration (the embeddings are cached in the database, so each text is embedded once however many
configurations there are), ranks every need under every configuration and scores the rankings with
ir-measures.

Configurations (:func:`default_configs`) are variations of the *configured* ranking settings, so the harness
measures the ranker as deployed:

- baselines: ``bm25`` (lexical only), ``dense`` (embedding cosine only: no language centring, no feedback),
  ``dense+targets`` (dense plus the target-overlap boost);
- ``hybrid``: the default ranker; ``hybrid+region``: the same with the need's UN M49 sub-region as a hard filter;
- ablations ``hybrid-<part>``: the default ranker with one part removed (each weighted signal, the
  pseudo-relevance feedback, the language centring).

Statistics: a bias-corrected and accelerated (BCa) bootstrap confidence interval (scipy) for every
configuration's mean nDCG@10, and for the paired difference between the default ranker and each other
configuration (resampling needs, so the pairing is kept), with a Wilcoxon signed-rank p-value.

Fit verdicts: the default ranker's top 20 per need, with their score components, calibrate the probability
behind the verdicts and measure it on held-out needs (``evaluation.calibration``, ``Evaluation.calibration``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ir_measures
import numpy as np
from ir_measures import AP, RR, P, R, nDCG
from numpy.typing import NDArray
from scipy import stats

from embeddings import Embedder
from evaluation.calibration import FIT_DEPTH, CalibrationStudy, pairs_of, study_calibration
from evaluation.dataset import GoldSet
from matcher.engine.fusion import Weights
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.service import MatchResult, MatchService, need_from_record, weights_from
from matcher.engine.verdicts import SHIPPED, load_calibration
from matcher.records.bulk import ImportReport, RecordWriter
from matcher.settings import RankingSettings
from models import migrate
from models.db import Database, sqlite_url
from models.repositories import OrganisationRepository

__all__ = [
    "DEFAULT_CONFIG",
    "MEASURES",
    "Config",
    "ConfigRun",
    "Evaluation",
    "Interval",
    "default_configs",
    "evaluate",
    "load_gold",
    "score_rankings",
]

# Metric name (as written in metrics.json) -> ir-measures measure. A judgement of grade >= 1 counts as relevant
# for the binary measures (MRR, recall, precision, MAP); nDCG uses the grades as gains.
MEASURES: dict[str, Any] = {
    "nDCG@10": nDCG @ 10,
    "nDCG@5": nDCG @ 5,
    "MRR@10": RR @ 10,
    "R@10": R @ 10,
    "R@50": R @ 50,
    "P@5": P @ 5,
    "MAP": AP,
}
HEADLINE = "nDCG@10"
DEFAULT_CONFIG = "hybrid"
DEPTH = 100  # results ranked per need (MAP is computed over them)

# Ranking settings that are fusion weights; every other ranking setting changes the engine itself.
_WEIGHT_FIELDS = tuple(Weights.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Config:
    """One way of ranking: ranking settings, plus whether the need's region is a hard filter."""

    name: str
    description: str
    ranking: RankingSettings
    region_filter: bool = False

    @property
    def weights(self) -> Weights:
        return weights_from(self.ranking)

    @property
    def engine_key(self) -> str:
        """Configurations with the same key share one MatchService (they differ only in weights)."""
        return self.ranking.model_dump_json(exclude=set(_WEIGHT_FIELDS))


def default_configs(base: RankingSettings) -> list[Config]:
    """Baselines, the default ranker, the region filter and one ablation per part of the default ranker."""

    def variant(**changes: Any) -> RankingSettings:
        return base.model_copy(update=changes)

    def only(*signals: str, **changes: Any) -> RankingSettings:
        kept = {name: (getattr(base, name) if name in signals else 0.0) for name in _WEIGHT_FIELDS}
        return variant(**kept, **changes)

    pure = {"language_centering": 0.0, "feedback_weight": 0.0}
    configs = [
        Config("bm25", "BM25 alone (lexical signal only)", only("lexical", feedback_weight=0.0)),
        Config("dense", "embedding cosine alone (no language centring, no feedback)", only("semantic", **pure)),
        Config("dense+targets", "dense plus the KMGBF target-overlap boost", only("semantic", "targets", **pure)),
        Config(DEFAULT_CONFIG, "the default ranker, as configured", base),
        Config("hybrid+region", "the default ranker, offers must serve the need's M49 sub-region", base, True),
    ]
    for name in _WEIGHT_FIELDS:
        if getattr(base, name) > 0:
            configs.append(
                Config(f"hybrid-{name}", f"the default ranker without the {name} signal", variant(**{name: 0.0}))
            )
    if base.feedback_weight > 0:
        configs.append(
            Config(
                "hybrid-feedback",
                "the default ranker without pseudo-relevance feedback",
                variant(feedback_weight=0.0),
            )
        )
    if base.language_centering > 0:
        configs.append(
            Config(
                "hybrid-centering", "the default ranker without language centring", variant(language_centering=0.0)
            )
        )
    return configs


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its 95% confidence interval (and a p-value for differences)."""

    estimate: float
    low: float
    high: float
    p_value: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "p_value": self.p_value}


@dataclass(slots=True)
class ConfigRun:
    """The rankings of one configuration and their scores.

    Attributes:
        config: the configuration.
        metrics: every measure, averaged over the scored needs.
        per_need: ``need id -> measure -> value`` for the scored needs.
        rankings: ``need id -> [(offer id, score)]``, best first (every need, scored or not).
        components: ``need id -> [score components]``, in the order of ``rankings`` (what the fit verdicts
            are calibrated on: ``evaluation.calibration``).
        by_language: ``need language -> measure -> mean``.
        needles: measures averaged over the needle needs (empty when the gold set has none).
        seconds: wall time spent ranking.
    """

    config: Config
    metrics: dict[str, float]
    per_need: dict[str, dict[str, float]]
    rankings: dict[str, list[tuple[str, float]]]
    by_language: dict[str, dict[str, float]]
    needles: dict[str, float]
    seconds: float
    components: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    ci: Interval | None = None
    versus_default: Interval | None = None


@dataclass(slots=True)
class Evaluation:
    """Everything an evaluation measured (written out by :mod:`evaluation.report`)."""

    gold: GoldSet
    model: str
    default: str
    runs: dict[str, ConfigRun]
    depth: int
    bootstrap_resamples: int
    seconds: dict[str, float] = field(default_factory=dict)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    calibration: CalibrationStudy | None = None
    calibration_problem: str | None = None  # why there is no calibration study

    def metrics_json(self) -> dict[str, Any]:
        """``metrics.json``, exactly in the documented shape."""
        return {
            "dataset": self.gold.name,
            "n_needs": len(self.gold.needs),
            "n_offers": len(self.gold.offers),
            "model": self.model,
            "configs": {name: {m: run.metrics[m] for m in MEASURES} for name, run in self.runs.items()},
            "default": self.default,
        }

    def best_rank(self, config: str, need_id: str) -> int | None:
        """1-based rank of the need's best-graded offer in a configuration's ranking (None: not in it)."""
        grades = self.gold.grades.get(need_id, {})
        if not grades or max(grades.values()) <= 0:
            return None
        top = max(grades.values())
        for rank, (offer_id, _) in enumerate(self.runs[config].rankings[need_id], start=1):
            if grades.get(offer_id) == top:
                return rank
        return None


Progress = Callable[[str], None]


def evaluate(
    gold: GoldSet,
    embedder: Embedder,
    *,
    model: str,
    ranking: RankingSettings | None = None,
    configs: Sequence[str] | None = None,
    index_kind: str = "auto",
    bootstrap_resamples: int = 10_000,
    seed: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """Rank every need of ``gold`` under each configuration and score the rankings.

    Args:
        gold: a validated gold set.
        embedder: the embedder (the configured one for the CLI).
        model: the model name to report.
        ranking: the ranking settings the configurations vary (the defaults when ``None``).
        configs: names of the configurations to run (all of :func:`default_configs` when ``None``); the
            default ranker is always run, as every difference is measured against it.
        index_kind: vector index kind of the services.
        bootstrap_resamples: bootstrap resamples for the confidence intervals (0: no intervals).
        seed: seed of the bootstrap.
        progress: called with a short message as each step starts.

    Raises:
        ValueError: for an unknown configuration name (the message lists the known ones).
    """
    say = progress or (lambda _message: None)
    chosen = _choose(default_configs(ranking or RankingSettings()), configs)
    timings: dict[str, float] = {}
    runs: dict[str, ConfigRun] = {}
    with tempfile.TemporaryDirectory(prefix="pollinate-eval-") as tmp:
        db = Database(sqlite_url(Path(tmp) / "gold.db"))
        try:
            started = time.perf_counter()
            say(f"loading {len(gold.offers)} offers and {len(gold.needs)} needs into a throwaway database")
            migrate.upgrade(db)
            needs = load_gold(db, gold)
            timings["load_s"] = time.perf_counter() - started
            services: dict[str, MatchService] = {}
            for config in chosen:
                if config.engine_key not in services:
                    started = time.perf_counter()
                    say(f"indexing the offers for {config.name} (embeddings are computed once and cached)")
                    services[config.engine_key] = MatchService(
                        db, embedder, ranking=config.ranking, index_kind=index_kind
                    )
                    services[config.engine_key].start()
                    timings[f"index_{config.name}_s"] = time.perf_counter() - started
                say(f"ranking {len(needs)} needs: {config.name}")
                runs[config.name] = _run(services[config.engine_key], config, gold, needs)
        finally:
            db.dispose()
    if bootstrap_resamples:
        say(f"bootstrap confidence intervals ({bootstrap_resamples:,} resamples)")
        _intervals(runs, gold, bootstrap_resamples, seed)
    evaluation = Evaluation(
        gold=gold,
        model=model,
        default=DEFAULT_CONFIG,
        runs=runs,
        depth=DEPTH,
        bootstrap_resamples=bootstrap_resamples,
        seconds=timings,
    )
    say(f"calibrating the fit verdicts on the top {FIT_DEPTH} of {DEFAULT_CONFIG} (cross-validated by need)")
    try:
        evaluation.calibration = _calibrate(evaluation)
    except ValueError as exc:  # e.g. no relevant pair in anyone's top 20: nothing to calibrate
        evaluation.calibration_problem = str(exc)
    return evaluation


def _calibrate(evaluation: Evaluation) -> CalibrationStudy:
    """The calibration study of the default ranker's rankings (``evaluation.calibration``)."""
    run = evaluation.runs[evaluation.default]
    weights = run.config.weights
    pairs = pairs_of(run.rankings, run.components, evaluation.gold.grades)
    # The shipped calibration is measured too (on another gold set than the one it was fitted on, a true test).
    shipped = load_calibration() if SHIPPED.is_file() else None
    study = study_calibration(pairs, {name: weights.signed(name) for name in _WEIGHT_FIELDS}, shipped=shipped)
    errors = study.errors()
    study.fitted = replace(
        study.fitted,
        info={
            "dataset": evaluation.gold.name,
            "model": evaluation.model,
            "created": evaluation.created,
            "ranking": run.config.ranking.model_dump(),
            "pairs": len(pairs),
            "needs": len(set(pairs.needs.tolist())),
            "relevant": int(pairs.relevant.sum()),
            "fit_depth": FIT_DEPTH,
            "folds": study.folds,
            "held_out": {name: errors[name] for name in study.held_out},
        },
    )
    return study


def _choose(available: list[Config], names: Sequence[str] | None) -> list[Config]:
    by_name = {c.name: c for c in available}
    if names is None:
        return available
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    wanted = [DEFAULT_CONFIG, *(n for n in names if n != DEFAULT_CONFIG)]
    return [by_name[n] for n in dict.fromkeys(wanted)]


def load_gold(db: Database, gold: GoldSet) -> list[NeedQuery]:
    """Write the gold set's records (already validated) and return its needs as the ranker sees them."""
    with db.transaction() as session:
        writer = RecordWriter(session)
        writer.upsert("offers", gold.offers, ImportReport(kind="offers"))
        writer.upsert("needs", gold.needs, ImportReport(kind="needs"))
    with db.transaction(read_only=True) as session:
        orgs = OrganisationRepository(session)
        needs = []
        for record in gold.needs:
            org = orgs.find(record.requesting_organisation, record.party)
            needs.append(need_from_record(record, organisation_id=org.id if org else None))
    return needs


def _run(service: MatchService, config: Config, gold: GoldSet, needs: list[NeedQuery]) -> ConfigRun:
    started = time.perf_counter()
    results: dict[str, MatchResult] = {}
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, record in enumerate(gold.needs):
        groups[record.region if config.region_filter else None].append(i)
    for region, members in groups.items():
        filters = MatchFilters(serves=frozenset({region})) if region else None
        batch = service.match_batch(
            [needs[i] for i in members], k=DEPTH, filters=filters, weights=config.weights, explain_matches=False
        )
        for i, result in zip(members, batch, strict=True):
            results[gold.needs[i].id] = result
    seconds = time.perf_counter() - started
    rankings = {
        need_id: [(m.external_id or str(m.offer_id), m.score) for m in result.matches]
        for need_id, result in results.items()
    }
    per_need = score_rankings(gold, rankings)
    language = {n.id: n.language for n in gold.needs}
    by_language: dict[str, list[str]] = defaultdict(list)
    for need_id in per_need:
        by_language[language[need_id]].append(need_id)
    return ConfigRun(
        config=config,
        metrics=_mean(per_need, list(per_need)),
        per_need=per_need,
        rankings=rankings,
        by_language={lang: _mean(per_need, ids) for lang, ids in sorted(by_language.items())},
        needles=_mean(per_need, sorted(gold.needle_needs)) if gold.needle_needs else {},
        seconds=seconds,
        components={need_id: [m.components for m in result.matches] for need_id, result in results.items()},
    )


def score_rankings(gold: GoldSet, rankings: dict[str, list[tuple[str, float]]]) -> dict[str, dict[str, float]]:
    """Per-need values of every measure, for the needs with at least one positive judgement."""
    scored = set(gold.judged_needs)
    qrels = [ir_measures.Qrel(j.need_id, j.offer_id, j.grade) for j in gold.judgements if j.need_id in scored]
    # Scores from ranks, so that ir-measures sorts exactly as the service ranked (ties included).
    run = [
        ir_measures.ScoredDoc(need_id, offer_id, float(len(ranked) - rank))
        for need_id, ranked in rankings.items()
        for rank, (offer_id, _) in enumerate(ranked)
    ]
    names = {measure: name for name, measure in MEASURES.items()}
    per_need: dict[str, dict[str, float]] = {
        need_id: dict.fromkeys(MEASURES, 0.0) for need_id in gold.judged_needs
    }
    for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, run):
        per_need[metric.query_id][names[metric.measure]] = float(metric.value)
    return per_need


def _mean(per_need: dict[str, dict[str, float]], ids: list[str]) -> dict[str, float]:
    return {m: float(np.mean([per_need[i][m] for i in ids])) for m in MEASURES}


def _intervals(runs: dict[str, ConfigRun], gold: GoldSet, resamples: int, seed: int) -> None:
    ids = gold.judged_needs
    default = np.asarray([runs[DEFAULT_CONFIG].per_need[i][HEADLINE] for i in ids])
    for name, run in runs.items():
        values = np.asarray([run.per_need[i][HEADLINE] for i in ids])
        run.ci = _bootstrap_mean(values, resamples, seed)
        if name != DEFAULT_CONFIG:
            differences = default - values
            interval = _bootstrap_mean(differences, resamples, seed)
            run.versus_default = Interval(interval.estimate, interval.low, interval.high, _wilcoxon(differences))


def _bootstrap_mean(values: NDArray[np.float64], resamples: int, seed: int) -> Interval:
    """Mean and BCa 95% interval (resampling needs); a constant sample has a zero-width interval."""
    estimate = float(np.mean(values))
    if len(values) < 2 or np.ptp(values) == 0:
        return Interval(estimate, estimate, estimate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (values,), np.mean, n_resamples=resamples, method="BCa", rng=np.random.default_rng(seed)
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa undefined (e.g. a lone outlier): percentile
        result = stats.bootstrap(
            (values,), np.mean, n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed)
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(estimate, low, high)


def _wilcoxon(differences: NDArray[np.float64]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1.0 when they are all zero)."""
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="zsplit").pvalue)

"""Cross-lingual consistency: the same needs written in several languages, ranked by the default ranker.

A parallel set is a directory of ``needs_<language>.jsonl`` files, each holding the needs of a gold set
translated into one language (same ids, same structured fields). Every version is ranked against the gold set's
offers with the same service and settings, and judged with the gold set's qrels. Two measures per language:

- **nDCG@10** (and the harness's other measures), over the gold set's judged needs;
- **top-5 overlap** with the reference version (English by default): ``|top5(ref) ∩ top5(xx)| / 5`` averaged
  over the needs. A need should get the same providers whatever language it is written in; because the texts
  are parallel, a difference comes from the language alone.

Each translated need keeps the organisation of the original need, so that every version excludes the same
organisation's own offers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings import Embedder
from evaluation.dataset import GoldSet
from evaluation.harness import HEADLINE, MEASURES, load_gold, score_rankings
from matcher.engine.service import MatchService, need_from_record
from matcher.records.interchange import NeedRecord
from matcher.settings import RankingSettings
from models import migrate
from models.db import Database, sqlite_url

__all__ = ["OVERLAP_DEPTH", "LanguageRun", "ParallelEvaluation", "evaluate_parallel", "top_overlap"]

OVERLAP_DEPTH = 5
_DEPTH = 100  # results ranked per need, as in the harness


@dataclass(slots=True)
class LanguageRun:
    """One language version's rankings and scores.

    Attributes:
        language: the version's language code (from the file name).
        metrics: the harness's measures averaged over the judged needs.
        per_need: ``need id -> measure -> value``.
        rankings: ``need id -> offer ids`` best first.
        overlap: mean top-5 overlap with the reference version (1.0 for the reference itself).
    """

    language: str
    metrics: dict[str, float]
    per_need: dict[str, dict[str, float]]
    rankings: dict[str, list[str]]
    overlap: float


@dataclass(slots=True)
class ParallelEvaluation:
    """Every language version of a parallel set, ranked and scored."""

    gold: GoldSet
    model: str
    reference: str
    runs: dict[str, LanguageRun]

    def as_json(self) -> dict[str, Any]:
        """Per language: every measure and the top-5 overlap with the reference version."""
        return {
            "dataset": self.gold.name,
            "model": self.model,
            "reference": self.reference,
            "languages": {
                lang: {**run.metrics, f"overlap@{OVERLAP_DEPTH}": run.overlap} for lang, run in self.runs.items()
            },
        }


def top_overlap(a: list[str], b: list[str], depth: int = OVERLAP_DEPTH) -> float:
    """``|top(a) ∩ top(b)| / depth``."""
    return len(set(a[:depth]) & set(b[:depth])) / depth


def evaluate_parallel(
    gold: GoldSet,
    versions: dict[str, list[NeedRecord]],
    embedder: Embedder,
    *,
    model: str,
    ranking: RankingSettings | None = None,
    index_kind: str = "auto",
    reference: str = "en",
    progress: Callable[[str], None] | None = None,
) -> ParallelEvaluation:
    """Rank each language version of ``gold``'s needs with the configured ranker and compare them.

    Args:
        gold: the gold set (offers and qrels; its needs give each version's organisation).
        versions: language -> the needs in that language, in ``gold.needs`` order
            (:func:`evaluation.dataset.load_parallel_needs`).
        embedder: the embedder.
        model: the model name to report.
        ranking: the ranking settings (the defaults when ``None``).
        index_kind: vector index kind.
        reference: the version the others' top 5 are compared with (the first version when it is absent).
        progress: called with a short message as each step starts.
    """
    say = progress or (lambda _message: None)
    reference = reference if reference in versions else next(iter(versions))
    runs: dict[str, LanguageRun] = {}
    with tempfile.TemporaryDirectory(prefix="pollinate-parallel-") as tmp:
        db = Database(sqlite_url(Path(tmp) / "gold.db"))
        try:
            migrate.upgrade(db)
            originals = load_gold(db, gold)
            say(f"indexing {len(gold.offers)} offers")
            service = MatchService(db, embedder, ranking=ranking, index_kind=index_kind)
            service.start()
            for language, records in versions.items():
                say(f"ranking {len(records)} needs in {language}")
                needs = [
                    need_from_record(record, organisation_id=original.organisation_id)
                    for record, original in zip(records, originals, strict=True)
                ]
                results = service.match_batch(needs, k=_DEPTH, explain_matches=False)
                rankings = {
                    record.id: [m.external_id or str(m.offer_id) for m in result.matches]
                    for record, result in zip(records, results, strict=True)
                }
                per_need = score_rankings(gold, {i: [(o, 0.0) for o in r] for i, r in rankings.items()})
                metrics = {m: sum(v[m] for v in per_need.values()) / len(per_need) for m in MEASURES}
                runs[language] = LanguageRun(language, metrics, per_need, rankings, 0.0)
        finally:
            db.dispose()
    base = runs[reference].rankings
    for run in runs.values():
        run.overlap = sum(top_overlap(base[i], run.rankings[i]) for i in base) / len(base)
    ordered = {reference: runs[reference], **{k: v for k, v in runs.items() if k != reference}}
    return ParallelEvaluation(gold=gold, model=model, reference=reference, runs=ordered)


def headline(evaluation: ParallelEvaluation) -> dict[str, tuple[float, float]]:
    """``language -> (nDCG@10, top-5 overlap)``: the figures the cross-lingual tests hold."""
    return {lang: (run.metrics[HEADLINE], run.overlap) for lang, run in evaluation.runs.items()}

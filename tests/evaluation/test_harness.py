"""The evaluation harness: every configuration through MatchService, scored correctly, written out in shape.

A hashing embedder keeps these fast; the real model's figures are checked in test_quality.py.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evaluation.evaluate_cli
from embeddings import FakeEmbedder
from evaluation.dataset import GoldSet, load_gold_set
from evaluation.harness import DEFAULT_CONFIG, MEASURES, Evaluation, default_configs, evaluate
from evaluation.report import CALIBRATION_FILES, OUTPUT_FILES, write_outputs
from matcher.cli.main import app
from matcher.data import DEMO_DIR
from matcher.settings import RankingSettings
from models import vocabularies as vocab
from tests.factories import replace_line

CONFIGS = ["bm25", "dense", "hybrid+region", "hybrid-penalty", "hybrid-targets"]


@pytest.fixture(scope="module")
def gold() -> GoldSet:
    return load_gold_set(DEMO_DIR)


@pytest.fixture(scope="module")
def evaluated(gold: GoldSet) -> Evaluation:
    return evaluate(gold, FakeEmbedder(dim=64), model="fake", configs=CONFIGS, bootstrap_resamples=500)


def ndcg_at_10(ranked: list[str], grades: dict[str, int]) -> float:
    """Textbook nDCG@10 with linear gains (trec_eval's), written independently of ir-measures."""

    def dcg(gains: list[int]) -> float:
        return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(offer, 0) for offer in ranked]) / ideal


def test_the_default_configurations_cover_baselines_the_filter_and_each_part() -> None:
    names = [c.name for c in default_configs(RankingSettings())]
    assert names[:5] == ["bm25", "dense", "dense+targets", "hybrid", "hybrid+region"]
    ablated = {n.removeprefix("hybrid-") for n in names[5:]}
    # Only weighted signals are ablated: the language weight is 0 by default (docs/evaluation.md).
    assert ablated == {
        "semantic", "lexical", "targets", "geography", "assistance", "penalty", "feedback", "centering"
    }  # fmt: skip
    assert "hybrid-language" in [c.name for c in default_configs(RankingSettings(language=0.05))]
    # A part switched off in the settings has no ablation (removing it would change nothing).
    assert "hybrid-lexical" not in [c.name for c in default_configs(RankingSettings(lexical=0))]


def test_the_default_ranker_always_runs_first(evaluated: Evaluation) -> None:
    assert list(evaluated.runs) == [DEFAULT_CONFIG, *CONFIGS]


def test_unknown_configurations_are_refused_with_the_known_ones(gold: GoldSet) -> None:
    with pytest.raises(ValueError, match=r"unknown configuration\(s\) hybird; known: bm25, dense"):
        evaluate(gold, FakeEmbedder(), model="fake", configs=["hybird"])


def test_metrics_agree_with_a_hand_computation(evaluated: Evaluation, gold: GoldSet) -> None:
    for name, run in evaluated.runs.items():
        assert set(run.per_need) == set(gold.judged_needs)
        for need_id, values in run.per_need.items():
            ranked = [offer for offer, _ in run.rankings[need_id]]
            assert values["nDCG@10"] == pytest.approx(ndcg_at_10(ranked, gold.grades[need_id]), abs=1e-9), name
            relevant = {o for o, g in gold.grades[need_id].items() if g > 0}
            hits = [rank for rank, offer in enumerate(ranked[:10], start=1) if offer in relevant]
            assert values["MRR@10"] == pytest.approx(1 / hits[0] if hits else 0.0)
            assert values["R@10"] == pytest.approx(len(hits) / len(relevant))
        for measure in MEASURES:
            mean = sum(v[measure] for v in run.per_need.values()) / len(run.per_need)
            assert run.metrics[measure] == pytest.approx(mean)


def test_rankings_come_from_the_service_with_each_configuration(evaluated: Evaluation, gold: GoldSet) -> None:
    hybrid, bm25 = evaluated.runs["hybrid"], evaluated.runs["bm25"]
    assert all(len(r) == evaluated.depth or len(r) == len(gold.offers) for r in hybrid.rankings.values())
    assert hybrid.rankings != bm25.rankings
    # Removing the eligibility penalty changes nothing when every offer is active and has capacity.
    assert evaluated.runs["hybrid-penalty"].rankings == hybrid.rankings
    penalty = evaluated.runs["hybrid-penalty"].versus_default
    assert penalty is not None and (penalty.estimate, penalty.low, penalty.high, penalty.p_value) == (0, 0, 0, 1)


def test_the_region_filter_keeps_only_offers_serving_the_need_region(evaluated: Evaluation, gold: GoldSet) -> None:
    offers = {o.id: o for o in gold.offers}
    for need in gold.needs:
        assert need.region is not None
        region = vocab.sub_regions()[need.region]
        ranked = evaluated.runs["hybrid+region"].rankings[need.id]
        assert len(ranked) < len(evaluated.runs["hybrid"].rankings[need.id]) or len(ranked) < len(offers)
        for offer_id, _ in ranked:
            offer = offers[offer_id]
            inside = {c for c in offer.countries_served if vocab.countries()[c].sub_region == need.region}
            assert {"Global", need.region, region} & set(offer.regions_served) or inside, (need.id, offer_id)


def test_confidence_intervals_bracket_the_estimates(evaluated: Evaluation) -> None:
    for name, run in evaluated.runs.items():
        assert run.ci is not None and run.ci.low <= run.metrics["nDCG@10"] <= run.ci.high, name
        if name == DEFAULT_CONFIG:
            assert run.versus_default is None
            continue
        diff = run.versus_default
        assert diff is not None and diff.low <= diff.estimate <= diff.high and 0 <= (diff.p_value or 0) <= 1
        default = evaluated.runs[DEFAULT_CONFIG].metrics["nDCG@10"]
        assert diff.estimate == pytest.approx(default - run.metrics["nDCG@10"])


def test_best_rank_is_the_rank_of_the_best_graded_offer(evaluated: Evaluation, gold: GoldSet) -> None:
    for need_id in gold.judged_needs:
        ranked = [offer for offer, _ in evaluated.runs["bm25"].rankings[need_id]]
        grades = gold.grades[need_id]
        best = [r for r, o in enumerate(ranked, start=1) if grades.get(o) == max(grades.values())]
        assert evaluated.best_rank("bm25", need_id) == (best[0] if best else None)


def test_outputs_are_written_in_the_documented_shape(evaluated: Evaluation, gold: GoldSet, tmp_path: Path) -> None:
    paths = write_outputs(evaluated, tmp_path / "out")
    assert evaluated.calibration is not None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_FILES + CALIBRATION_FILES)
    metrics = json.loads(paths["metrics.json"].read_text())
    assert set(metrics) == {"dataset", "n_needs", "n_offers", "model", "configs", "default"}
    assert (metrics["dataset"], metrics["n_needs"], metrics["n_offers"], metrics["model"]) == (
        "demo",
        42,
        172,
        "fake",
    )
    assert metrics["default"] == "hybrid" and list(metrics["configs"]) == list(evaluated.runs)
    for values in metrics["configs"].values():
        assert list(values) == ["nDCG@10", "nDCG@5", "MRR@10", "R@10", "R@50", "P@5", "MAP"]
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in values.values())
    with paths["per_need.csv"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(gold.judged_needs) * len(evaluated.runs)
    assert {(r["need_id"], r["config"]) for r in rows} == {
        (n, c) for n in gold.judged_needs for c in evaluated.runs
    }
    row = next(r for r in rows if r["config"] == "bm25")
    assert float(row["nDCG@10"]) == pytest.approx(
        evaluated.runs["bm25"].per_need[row["need_id"]]["nDCG@10"], abs=1e-6
    )
    report = paths["report.md"].read_text(encoding="utf-8")
    ci = evaluated.runs["hybrid"].ci
    assert ci is not None
    assert (
        f"nDCG@10 = {evaluated.runs['hybrid'].metrics['nDCG@10']:.3f}** (95% CI [{ci.low:.3f}, {ci.high:.3f}]"
        in report
    )
    assert "## The 10 worst needs for `hybrid`" in report and report.count("Should have found:") == 10
    assert "## Ablation" in report and "| penalty |" in report
    for png in ("metrics_by_config.png", "per_need_ndcg.png"):
        assert paths[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    details = json.loads(paths["details.json"].read_text())
    assert details["configs"]["bm25"]["nDCG@10 default minus this"]["p_value"] is not None


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch, settings: object) -> None:
    monkeypatch.setattr(evaluation.evaluate_cli, "create_embedder", lambda _settings: FakeEmbedder(dim=64))


@pytest.mark.usefixtures("fake_model")
def test_pollinate_evaluate_writes_the_outputs(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    args = ["evaluate", "--dataset", str(DEMO_DIR), "--out", str(out), "--configs", "bm25", "--bootstrap", "200"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["configs"]) == ["hybrid", "bm25"]
    assert "default ranker (hybrid) nDCG@10" in result.output and "95% CI [" in result.output

    as_json = CliRunner().invoke(
        app, [*args[:2], str(DEMO_DIR), "--configs", "bm25", "--bootstrap", "0", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["configs"] == metrics["configs"]


@pytest.mark.usefixtures("fake_model")
def test_pollinate_evaluate_names_the_broken_qrels_line(tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    gold.mkdir()
    for name in ("needs.jsonl", "offers.jsonl", "qrels.tsv"):
        (gold / name).write_bytes((DEMO_DIR / name).read_bytes())
    replace_line(gold / "qrels.tsv", 7, "demo-n002\tdemo-o003\tx")
    result = CliRunner().invoke(app, ["evaluate", "--dataset", str(gold), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 1
    assert "qrels.tsv:7: grade 'x' is not an integer" in result.output
    assert not (tmp_path / "ev").exists()


@pytest.mark.usefixtures("fake_model")
def test_pollinate_evaluate_refuses_unknown_configurations() -> None:
    result = CliRunner().invoke(app, ["evaluate", "--dataset", str(DEMO_DIR), "--configs", "bm25,hybird"])
    assert result.exit_code == 2
    assert "unknown configuration(s) hybird" in result.output

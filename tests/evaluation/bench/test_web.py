"""The web benchmark serves a synthetic catalogue from a real uvicorn process and reports the server time of the
offers page; timings are never asserted. The hashing embedder stands in for the model (a run takes seconds)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from embeddings import FakeEmbedder
from evaluation.bench.web import browse_queries, run_web_benchmark, web_cmd
from matcher.settings import Settings

RESULT_FIELDS = {
    "scenario",
    "requests",
    "ok",
    "errors",
    "error_samples",
    "server_median_ms",
    "server_p95_ms",
    "server_max_ms",
    "client_median_ms",
    "client_p95_ms",
}


def test_queries_are_reproducible_and_searches_are_unique() -> None:
    first = browse_queries(50, rng=random.Random(3), search=True)
    assert first == browse_queries(50, rng=random.Random(3), search=True)
    texts = [q["q"] for q in first]
    assert len(set(texts)) == len(texts)
    browsing = browse_queries(50, rng=random.Random(3), search=False)
    assert (
        not any("q" in q for q in browsing) and any(not q for q in browsing) and any("page" in q for q in browsing)
    )


def test_the_report_times_every_page_load_on_the_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding={"model": "hashing"})
    report = run_web_benchmark(settings, FakeEmbedder(dim=384), size=60, n_requests=6, warmup=1, seed=1)
    assert report["offers_indexed"] == 60
    assert [row["scenario"] for row in report["results"]] == ["browse", "search"]
    for row in report["results"]:
        assert set(row) == RESULT_FIELDS
        assert row["ok"] == row["requests"] == 6 and row["errors"] == 0, row["error_samples"]
        assert 0 < row["server_median_ms"] <= row["server_p95_ms"] <= row["server_max_ms"]


def test_the_command_prints_the_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    bench = typer.Typer()

    @bench.callback()
    def _bench() -> None:
        """Benchmarks."""

    bench.command("web")(web_cmd)
    out = tmp_path / "web.json"
    args = ["web", "--size", "40", "--requests", "3", "--warmup", "0", "--json", "--out", str(out)]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["size"] == 40 and report["model_id"] == "fake-hashing-384"
    assert json.loads(out.read_text(encoding="utf-8")) == report

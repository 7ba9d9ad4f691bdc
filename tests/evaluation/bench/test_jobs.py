"""The jobs benchmark re-ranks a tiny synthetic corpus in process and on a two-worker local Dask cluster; timings
are never asserted. The hashing embedder stands in for the model, so a run takes a few seconds plus the cluster's
start."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from evaluation.bench.jobs import _table
from evaluation.cli import bench_app
from matcher.settings import Settings
from models.db import Database, sqlite_url
from models.repositories import CatalogRepository

pytest.importorskip("distributed")

RUN_FIELDS = {
    "needs",
    "total",
    "run_s",
    "needs_per_s",
    "median_chunk_needs_per_s",
    "chunks",
    "chunk_s",
    "rank_s",
    "rank_share",
    "rank_ms_per_need",
    "chunk_load_average",
    "load_average",
    "setup_s",
    "setup",
    "model_calls",
}


@pytest.fixture
def hashing(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings selecting the model-free hashing embedder; temporary directories go under ``tmp_path``.

    The configured database is out of reach: the bench must use its own throwaway SQLite databases.
    """
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    monkeypatch.setenv("POLLINATE_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return Settings()


@pytest.mark.timeout(300)
def test_both_runs_rerank_every_need_and_store_identical_suggestions(hashing: Settings, tmp_path: Path) -> None:
    keep, out = tmp_path / "kept", tmp_path / "report.json"
    args = ["jobs", "--needs", "60", "--offers", "300", "--chunk", "25", "--keep", str(keep)]
    result = CliRunner().invoke(bench_app, [*args, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == report
    assert (report["needs"], report["offers"], report["chunk_size"], report["dask_workers"]) == (60, 300, 25, 2)
    assert report["model_id"] == "fake-hashing-384"
    assert set(report["runs"]) == {"in_process", "dask"}
    for run in report["runs"].values():
        assert set(run) >= RUN_FIELDS
        assert run["needs"] == run["total"] == 60
        assert run["chunks"] == len(run["chunk_s"]) == len(run["chunk_load_average"]) == 3  # 25 + 25 + 10
        assert run["needs_per_s"] > 0 and run["median_chunk_needs_per_s"] > 0
        assert 0 < run["rank_s"] < run["run_s"]
        assert run["setup_s"] > 0
        # Every text the services look up was cached by the bench: the runs never call the model.
        assert run["model_calls"] == 0
    local, dask = report["runs"]["in_process"], report["runs"]["dask"]
    assert local["offers_indexed"] == 300
    assert dask["workers"] == 2 and len(dask["worker_peak_rss_mb"]) == 2
    # The ranking ran on the workers (Dask's task stream saw them compute).
    assert dask["worker_compute_s"] > 0 and dask["worker_utilisation"] > 0
    assert dask["worker_cpu_s"] > 0 and local["cpu_s"] > 0
    assert dask["worker_threads"]["OMP_NUM_THREADS"] == ["1"]
    assert report["speedup"] == pytest.approx(dask["needs_per_s"] / local["needs_per_s"], rel=1e-2)
    # k = 10 suggestions for each of the 60 needs, the same in both runs.
    assert report["suggestions"] == [600, 600]
    assert report["identical"] is True and report["differing"] == 0
    assert "Dask: re-ranking" in result.stderr

    # --keep leaves the base database and one copy per run, each with the whole catalogue.
    assert report["directory"] == str(keep)
    for name in ("base", "in-process", "dask"):
        db = Database(sqlite_url(keep / name / "pollinate.db"))
        try:
            with db.transaction(read_only=True) as session:
                assert len(CatalogRepository(session).versions()) == 300
        finally:
            db.dispose()

    console = Console(width=200, record=True)
    console.print(_table(report))
    text = console.export_text()
    assert "in process" in text and "Dask, 2 workers" in text
    assert "600 yes" in text and "not model embedding" in text


def test_keep_refuses_a_directory_in_use(hashing: Settings, tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "precious.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(bench_app, ["jobs", "--keep", str(tmp_path / "used")], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "used" / "precious.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("option", ["--needs", "--offers", "--dask-workers", "--chunk"])
def test_counts_must_be_positive(option: str) -> None:
    result = CliRunner().invoke(bench_app, ["jobs", option, "0"])
    assert result.exit_code == 2
    assert option in result.output

"""The index benchmark reports every (size, selectivity, kind) with exact recall; timings are never asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evaluation.bench_index import run_index_benchmark
from evaluation.cli import bench_app

RESULT_FIELDS = {
    "size",
    "selectivity",
    "allowed",
    "kind",
    "median_ms",
    "p99_ms",
    "recall_at_k",
    "build_s",
    "memory_mb",
}


def assert_complete(report: dict[str, Any], sizes: list[int], selectivities: list[float]) -> None:
    """Both kinds for every (size, selectivity), exact recall, and a speedup for each pair."""
    pairs = {(size, selectivity) for size in sizes for selectivity in selectivities}
    assert {(r["size"], r["selectivity"], r["kind"]) for r in report["results"]} == {
        (size, selectivity, kind) for size, selectivity in pairs for kind in ("flat", "exact")
    }
    assert len(report["results"]) == 2 * len(pairs)
    for row in report["results"]:
        assert set(row) == RESULT_FIELDS
        assert row["recall_at_k"] == 1.0, row  # both kinds are exact
        assert 0 <= row["median_ms"] <= row["p99_ms"]
        assert 1 <= row["allowed"] <= row["size"]
        assert row["memory_mb"] > 0 and row["build_s"] >= 0
    assert {(s["size"], s["selectivity"]) for s in report["speedups"]} == pairs
    assert all(s["speedup"] > 0 for s in report["speedups"])


def test_benchmark_reports_both_kinds_with_exact_recall() -> None:
    messages: list[str] = []
    report = run_index_benchmark(
        sizes=(500, 64), selectivities=(1.0, 0.1, 0.001), dim=16, k=10, n_queries=5, progress=messages.append
    )
    assert report["dim"] == 16 and report["k"] == 10 and report["n_queries"] == 5
    assert_complete(report, [500, 64], [1.0, 0.1, 0.001])
    allowed = {(r["size"], r["selectivity"]): r["allowed"] for r in report["results"]}
    assert allowed[(500, 1.0)] == 500 and allowed[(500, 0.1)] == 50 and allowed[(500, 0.001)] == 1
    assert json.loads(json.dumps(report)) == report  # JSON-serialisable as is
    assert any("building flat" in message for message in messages)


def test_benchmark_of_one_kind_still_measures_recall() -> None:
    report = run_index_benchmark(sizes=(200,), selectivities=(0.5,), dim=8, n_queries=3, kinds=("flat",))
    assert [r["kind"] for r in report["results"]] == ["flat"]
    assert report["results"][0]["recall_at_k"] == 1.0
    assert report["speedups"] == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sizes": ()}, "sizes"),
        ({"selectivities": (0.0,)}, "selectivities"),
        ({"selectivities": (1.5,)}, "selectivities"),
        ({"k": 0}, "k and n_queries"),
    ],
)
def test_benchmark_refuses_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_index_benchmark(**arguments)


ARGS = ["index", "--sizes", "300,40", "--selectivities", "1,0.05", "--queries", "4", "--k", "5", "--dim", "16"]


def test_cli_prints_the_json_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_app, [*ARGS, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["k"] == 5 and report["n_queries"] == 4
    assert_complete(report, [300, 40], [1.0, 0.05])
    assert json.loads(out.read_text(encoding="utf-8")) == report


def test_cli_prints_a_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_app, [*ARGS, "--out", str(out)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "median ms" in result.stdout and "exact" in result.stdout and "flat" in result.stdout
    assert "JSON report written to" in result.stdout
    assert_complete(json.loads(out.read_text(encoding="utf-8")), [300, 40], [1.0, 0.05])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--sizes", "10k"], "--sizes"), (["--selectivities", "0"], "selectivities must be in")],
)
def test_cli_refuses_bad_options(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(bench_app, ["index", *arguments, "--queries", "1"])
    assert result.exit_code == 2
    assert message in result.output

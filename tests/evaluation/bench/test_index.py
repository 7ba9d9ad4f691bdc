"""The index benchmark reports every (size, selectivity, kind) with exact recall; timings are never asserted."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from evaluation.bench.index import _recall, index_kinds, run_index_benchmark
from evaluation.cli import bench_app
from matcher.engine.index import ExactIndex, IndexKind

RESULT_FIELDS = {
    "size",
    "selectivity",
    "allowed",
    "kind",
    "median_ms",
    "p99_ms",
    "recall_at_k",
    "plan",
    "build_s",
    "memory_mb",
    "rss_mb",
}


def assert_complete(
    report: dict[str, Any],
    sizes: list[int],
    selectivities: list[float],
    kinds: tuple[str, ...] = index_kinds(),
) -> None:
    """Every kind for every (size, selectivity), exact recall, and a speedup for each pair and non-exact kind."""
    pairs = {(size, selectivity) for size in sizes for selectivity in selectivities}
    assert report["kinds"] == list(kinds)
    assert {(r["size"], r["selectivity"], r["kind"]) for r in report["results"]} == {
        (size, selectivity, kind) for size, selectivity in pairs for kind in kinds
    }
    assert len(report["results"]) == len(kinds) * len(pairs)
    for row in report["results"]:
        assert set(row) == RESULT_FIELDS
        if row["kind"] == "hnsw":  # approximate by design: the comparison the planner improves on
            assert 0 <= row["recall_at_k"] <= 1 and row["plan"] == "graph"
        else:  # exact kinds, and the planner on indexes this small (below its exact threshold)
            assert row["recall_at_k"] == 1.0, row
            assert row["plan"] == ("exact" if row["kind"] == "auto" else None)
        assert 0 <= row["median_ms"] <= row["p99_ms"]
        assert 1 <= row["allowed"] <= row["size"]
        assert row["memory_mb"] > 0 and row["build_s"] >= 0
        assert row["rss_mb"] is None or row["rss_mb"] >= 0
    others = [kind for kind in kinds if kind != "exact"] if "exact" in kinds else []
    assert {(s["size"], s["selectivity"], s["kind"]) for s in report["speedups"]} == {
        (size, selectivity, kind) for size, selectivity in pairs for kind in others
    }
    assert all(s["speedup"] > 0 for s in report["speedups"])
    assert report["wall_s"] >= 0
    assert report["peak_rss_mb"] is None or report["peak_rss_mb"] > 0


def test_every_kind_the_engine_offers_is_benchmarked_by_default() -> None:
    assert index_kinds() == typing.get_args(IndexKind)
    report = run_index_benchmark(sizes=(50,), selectivities=(1.0,), dim=8, n_queries=2)
    assert report["kinds"] == list(typing.get_args(IndexKind))
    assert_complete(report, [50], [1.0], index_kinds())


def test_benchmark_reports_every_kind_with_recall() -> None:
    messages: list[str] = []
    report = run_index_benchmark(
        sizes=(500, 64), selectivities=(1.0, 0.1, 0.001), dim=16, k=10, n_queries=5, progress=messages.append
    )
    assert report["dim"] == 16 and report["k"] == 10 and report["n_queries"] == 5
    assert report["sizes"] == [500, 64] and report["selectivities"] == [1.0, 0.1, 0.001]
    assert report["recall_tolerance"] == pytest.approx(2 * 16 * 2**-24)
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


def test_kinds_are_deduplicated_in_engine_order() -> None:
    report = run_index_benchmark(
        sizes=(30,), selectivities=(1.0,), dim=4, n_queries=1, kinds=("exact", "flat", "exact")
    )
    assert report["kinds"] == [kind for kind in index_kinds() if kind in {"exact", "flat"}]


def test_recall_tolerates_ties_but_not_disallowed_or_repeated_positions() -> None:
    vectors = np.eye(4, dtype=np.float32)
    vectors[3] = vectors[2]  # positions 2 and 3 tie for every query
    reference = ExactIndex(4)
    reference.add(np.arange(1, 5), vectors)
    query = np.array([[0.6, 0.0, 0.8, 0.0]], np.float32)  # scores 0.6, 0, 0.8, 0.8

    def recall(found: list[int], k: int, allowed: list[int] | None = None) -> float:
        positions = None if allowed is None else np.array(allowed, np.int64)
        return _recall(
            np.array([found], np.int64),
            reference.search(query, k, allowed=positions)[1],
            queries=query,
            reference=reference,
            allowed=positions,
            tolerance=1e-6,
        )

    assert recall([2], k=1) == 1.0
    assert recall([3], k=1) == 1.0  # exact search returns 2; the tied position is as good
    assert recall([3, 2], k=2) == 1.0
    assert recall([2, 0], k=2) == 0.5  # position 0 scores 0.6, below the 2nd best (0.8)
    assert recall([2, 2], k=2) == 0.5  # a repeated position counts once
    assert recall([2, -1], k=2) == 0.5  # padding is a miss
    assert recall([2, 0], k=2, allowed=[0, 2]) == 1.0
    assert recall([3, 0], k=2, allowed=[0, 2]) == 0.5  # a position the filter excludes is a miss


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sizes": ()}, "sizes"),
        ({"selectivities": (0.0,)}, "selectivities"),
        ({"selectivities": (1.5,)}, "selectivities"),
        ({"k": 0}, "k and n_queries"),
        ({"kinds": ("ivf",)}, "unknown index kinds"),
        ({"kinds": ()}, "unknown index kinds"),
    ],
)
def test_benchmark_refuses_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_index_benchmark(**arguments)


ARGS = [
    "index",
    *("--sizes", "300,40", "--selectivities", "1,0.05", "--queries", "4", "--k", "5", "--dim", "16"),
    *("--vectors", "random"),
]


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


def test_cli_benchmarks_the_kinds_asked_for() -> None:
    result = CliRunner().invoke(bench_app, [*ARGS, "--kinds", "flat", "--json"])
    assert result.exit_code == 0, result.output
    assert_complete(json.loads(result.stdout), [300, 40], [1.0, 0.05], ("flat",))


def test_cli_synthesises_offer_like_vectors_from_the_embedded_sentence_pool() -> None:
    arguments = ["index", "--sizes", "400", "--selectivities", "1,0.5", "--queries", "3", "--json"]
    result = CliRunner().invoke(bench_app, arguments, env={"POLLINATE_EMBEDDING__MODEL": "hashing"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["vectors"] == "minilm-sentences" and report["dim"] == 384  # the embedder's, not --dim's
    assert report["planner"]["exact_max"] == 10_000
    assert_complete(report, [400], [1.0, 0.5], index_kinds())


def test_the_planner_kinds_share_one_graph_and_report_their_plan() -> None:
    from matcher.engine.index import PlannerConfig

    planner = PlannerConfig(exact_max=50, flat_max=100, scan_per_ef=0)
    report = run_index_benchmark(
        sizes=(600,), selectivities=(1.0, 0.05), dim=16, n_queries=4, kinds=("auto", "hnsw"), planner=planner
    )
    plans = {(r["selectivity"], r["kind"]): r["plan"] for r in report["results"]}
    assert plans == {
        (1.0, "auto"): "graph",
        (0.05, "auto"): "exact",
        (1.0, "hnsw"): "graph",
        (0.05, "hnsw"): "graph",
    }
    builds = {r["build_s"] for r in report["results"]}
    assert len(builds) == 1  # hnsw searched the graph auto built
    assert report["planner"]["background"] is False  # graphs are built before timing


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sizes", "10k"], "--sizes"),
        (["--selectivities", "0"], "selectivities must be in"),
        (["--kinds", "ivf"], "unknown index kinds"),
        (["--vectors", "glove"], "choose minilm or random"),
    ],
)
def test_cli_refuses_bad_options(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(bench_app, ["index", *arguments, "--queries", "1"])
    assert result.exit_code == 2
    assert message in result.output

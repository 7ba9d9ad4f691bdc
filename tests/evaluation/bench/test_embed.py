"""The embedding benchmark times every (corpus, batch size) over the demo texts; timings are never asserted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

import evaluation.cli
from embeddings import FakeEmbedder
from embeddings.composite import CompositeEmbedder
from evaluation.bench.corpus import demo_texts
from evaluation.bench.embed import run_embed_benchmark
from evaluation.cli import bench_app
from matcher.data import DEMO_NEEDS, DEMO_OFFERS
from matcher.engine.texts import record_text
from matcher.records.bulk import iter_rows, validate_row
from matcher.settings import Settings

RESULT_FIELDS = {
    "corpus",
    "batch_size",
    "texts",
    "calls",
    "texts_per_s",
    "min_texts_per_s",
    "max_texts_per_s",
    "spread",
    "ms_per_call",
}


class RecordingEmbedder(FakeEmbedder):
    """The fake embedder, counting word tokens and recording the size of every call."""

    def __init__(self) -> None:
        super().__init__(dim=16)
        self.calls: list[int] = []

    def token_count(self, text: str) -> int:
        return len(text.split()) + 2

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(len(texts))
        return super().embed(texts)


def assert_complete(report: dict[str, Any], corpora: list[str], batch_sizes: list[int], n_texts: int) -> None:
    """One row per (corpus, batch size), whole batches of at least ``n_texts`` texts, positive rates."""
    assert [(r["corpus"], r["batch_size"]) for r in report["results"]] == [
        (corpus, size) for corpus in corpora for size in batch_sizes
    ]
    assert report["batch_sizes"] == batch_sizes and report["n_texts"] == n_texts
    for row in report["results"]:
        assert set(row) == RESULT_FIELDS
        size = row["batch_size"]
        assert row["texts"] == row["calls"] * size and n_texts <= row["texts"] < n_texts + size
        assert 0 < row["min_texts_per_s"] <= row["texts_per_s"] <= row["max_texts_per_s"]
        assert row["spread"] >= 0 and row["ms_per_call"] > 0


def test_demo_texts_are_what_the_service_embeds() -> None:
    texts = demo_texts()
    for name, path in (("needs", DEMO_NEEDS), ("offers", DEMO_OFFERS)):
        rows = [row for _, row in iter_rows(path, "jsonl")]
        records = [validate_row(name, row) for row in rows if isinstance(row, dict)]
        assert texts[name] == [record_text(r.title, r.description, r.targets) for r in records]
        assert len(texts[name]) == len(rows) > 0


def test_benchmark_times_every_corpus_and_batch_size() -> None:
    embedder = RecordingEmbedder()
    messages: list[str] = []
    report = run_embed_benchmark(embedder, batch_sizes=(1, 8, 32), n_texts=20, repeats=2, progress=messages.append)
    assert_complete(report, ["needs", "offers"], [1, 8, 32], 20)
    assert report["model_id"] == embedder.model_id and report["dim"] == 16
    assert report["embedder"] == "RecordingEmbedder" and report["repeats"] == 2
    demo = demo_texts()
    for name in ("needs", "offers"):
        corpus = report["corpora"][name]
        assert corpus["texts"] == len(demo[name])
        assert corpus["mean_tokens"] == pytest.approx(
            sum(len(text.split()) + 2 for text in demo[name]) / len(demo[name]), abs=0.05
        )
    # One warm-up call of the largest batch per corpus, then every timed call holds exactly one batch.
    timed = [size for size in (1, 8, 32) for _ in range(2) for _ in range(-(-20 // size))]
    assert embedder.calls == [32, 32, *timed, *timed]
    assert json.loads(json.dumps(report)) == report  # JSON-serialisable as is
    assert any("warming up" in message for message in messages)


def test_benchmark_cycles_a_short_corpus_and_reports_no_tokens_when_not_counted() -> None:
    report = run_embed_benchmark(FakeEmbedder(), texts={"notes": ["a short note", "another"]}, batch_sizes=(4,))
    assert_complete(report, ["notes"], [4], 64)
    assert report["corpora"] == {"notes": {"texts": 2, "mean_chars": 9.5, "mean_tokens": None}}
    assert report["embedder_batch_size"] is None and report["max_tokens"] is None
    assert report["torch_threads"] is None or report["torch_threads"] >= 1  # torch may be loaded by other tests


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"texts": {}}, "at least one text"),
        ({"texts": {"needs": []}}, "at least one text"),
        ({"batch_sizes": ()}, "batch sizes"),
        ({"batch_sizes": (8, 0)}, "batch sizes"),
        ({"n_texts": 0}, "n_texts and repeats"),
        ({"repeats": 0}, "n_texts and repeats"),
    ],
)
def test_benchmark_refuses_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_embed_benchmark(FakeEmbedder(), **arguments)


@pytest.fixture
def built_from(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The CLI builds the fake embedder instead of the model; the list receives the settings it was given."""
    seen: list[Settings] = []

    def fake_factory(given: Settings) -> FakeEmbedder:
        seen.append(given)
        return FakeEmbedder(dim=8)

    monkeypatch.setattr(evaluation.cli, "create_embedder", fake_factory)
    monkeypatch.setenv("POLLINATE_EMBEDDING__BATCH_SIZE", "16")
    return seen


def test_cli_benchmarks_the_configured_embedder(built_from: list[Settings], tmp_path: Path) -> None:
    out = tmp_path / "embed.json"
    args = ["embed", "--batch-sizes", "1,8", "--repeats", "2", "--texts", "10", "--json", "--out", str(out)]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert_complete(report, ["needs", "offers"], [1, 8], 10)
    assert report["model_id"] == "fake-hashing-8" and report["repeats"] == 2
    assert json.loads(out.read_text(encoding="utf-8")) == report
    # Settings come from the environment (POLLINATE_*), as under the main `pollinate` command.
    assert [given.embedding.batch_size for given in built_from] == [16]


def test_cli_prints_a_table(built_from: list[Settings]) -> None:
    result = CliRunner().invoke(bench_app, ["embed", "--texts", "4", "--repeats", "1"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "texts/s" in result.stdout and "needs" in result.stdout and "offers" in result.stdout
    assert "loading the embedder" in result.stderr


@pytest.mark.parametrize("batch_sizes", ["0", "8,x", ""])
def test_cli_refuses_bad_batch_sizes(built_from: list[Settings], batch_sizes: str) -> None:
    result = CliRunner().invoke(bench_app, ["embed", "--batch-sizes", batch_sizes])
    assert result.exit_code == 2
    assert "--batch-sizes" in result.output
    assert built_from == []  # refused before loading the model


def test_cli_compares_each_encoder_and_the_fused_pair(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    composite = CompositeEmbedder([FakeEmbedder(dim=8), FakeEmbedder(dim=16)])
    monkeypatch.setattr(evaluation.cli, "create_embedder", lambda _given: composite)
    args = ["embed", "--batch-sizes", "4", "--repeats", "1", "--texts", "4", "--compare-texts", "4"]
    result = CliRunner().invoke(bench_app, [*args, "--latency-queries", "3", "--backends", "none", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["comparison"]["backends"]
    assert [(r["backend"], r["model_id"]) for r in rows] == [
        ("use-m3", "fake-hashing-16"),
        ("fused", "fake-hashing-8+fake-hashing-16"),
    ]
    assert all(r["single_p50_ms"] > 0 and r["short_texts_per_s"] > 0 for r in rows)

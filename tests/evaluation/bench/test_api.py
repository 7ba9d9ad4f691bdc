"""The API benchmark serves a synthetic corpus from a real uvicorn process and reports every request; timings are
never asserted. The hashing embedder stands in for the model, so a run takes a few seconds."""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from numpy.typing import NDArray
from typer.testing import CliRunner

from embeddings import FakeEmbedder
from embeddings.composite import CompositeEmbedder
from evaluation.bench.api import (
    _Needs,
    _Outcome,
    _print_failures,
    _summary,
    api_cmd,
    api_encoder_names,
    run_api_benchmark,
    setup_settings,
)
from evaluation.bench.corpus import (
    _TitleOrder,
    cache_layout,
    pool_sentences,
    prepare,
    put_cached,
    reference_vectors,
    synthetic_offers,
)
from evaluation.bench.server import read_server_log, server_env
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchService, create_embedder, offer_text
from matcher.engine.store import text_hash
from matcher.engine.texts import sentences
from matcher.settings import IndexSettings, Settings
from models import migrate
from models.db import Database, sqlite_url
from models.repositories import CatalogRepository, EmbeddingRepository

RESULT_FIELDS = {
    "size",
    "encoder",
    "micro_batching",
    "concurrency",
    "requests",
    "ok",
    "errors",
    "error_samples",
    "median_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "max_ms",
    "requests_per_s",
    "wall_s",
    "matches_min",
    "server_median_ms",
    "server_p99_ms",
    "server_tracebacks",
}


@pytest.fixture
def hashing(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings selecting the model-free hashing embedder; temporary directories go under ``tmp_path``.

    The configured database is out of reach: the bench must use its own throwaway SQLite database.
    """
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    monkeypatch.setenv("POLLINATE_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return Settings()


def assert_complete(
    report: dict[str, Any],
    sizes: list[int],
    concurrency: list[int],
    n_requests: int,
    modes: tuple[bool, ...] = (True,),
    encoders: tuple[str, ...] = ("minilm",),
) -> None:
    """One row per (size, encoder, micro-batching, concurrency), every request answered with k providers,
    ordered latencies."""
    assert [(r["size"], r["encoder"], r["micro_batching"], r["concurrency"]) for r in report["results"]] == [
        (size, name, mode, clients)
        for size in sizes
        for name in encoders
        for mode in modes
        for clients in concurrency
    ]
    assert [(s["size"], s["encoder"], s["micro_batching"], s["offers_indexed"]) for s in report["setups"]] == [
        (size, name, mode, size) for size in sizes for name in encoders for mode in modes
    ]
    assert [e["encoder"] for e in report["encoders"]] == list(encoders)
    for setup in report["setups"]:
        assert setup["write_s"] >= 0 and setup["server_start_s"] > 0
    for row in report["results"]:
        assert set(row) == RESULT_FIELDS
        assert row["requests"] == row["ok"] == n_requests, row["error_samples"]
        assert row["errors"] == 0 and row["error_samples"] == [] and row["server_tracebacks"] == []
        assert 0 < row["median_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert 0 < row["mean_ms"] <= row["max_ms"]
        assert row["requests_per_s"] > 0 and row["wall_s"] > 0
        assert row["matches_min"] == min(report["k"], row["size"])
        # The server's access log has a duration for each timed request.
        assert 0 < row["server_median_ms"] <= row["server_p99_ms"]
    assert json.loads(json.dumps(report)) == report  # JSON-serialisable as is


# ------------------------------------------------------------------------------------------ the corpus


def test_synthetic_offers_are_valid_unique_and_reproducible() -> None:
    offers = list(synthetic_offers(600, seed=3))
    assert len(offers) == 600
    assert len({o.record.title for o in offers}) == 600
    assert len({o.record.id for o in offers}) == 600
    assert [o.record for o in synthetic_offers(600, seed=3)] == [o.record for o in offers]
    assert [o.record for o in synthetic_offers(50, seed=4)] != [o.record for o in offers[:50]]
    languages = Counter(o.language for o in offers)
    assert set(languages) == {"en", "fr", "es"} and languages["en"] > languages["fr"]
    assert len({o.record.organisation for o in offers}) > 50
    for offer in offers:
        assert offer.language in offer.record.languages
        assert offer.record.regions_served or offer.record.countries_served


def test_descriptions_split_into_pool_sentences() -> None:
    """The evidence splitter finds exactly the sentences the corpus was built from, so all are cached."""
    pool = pool_sentences()
    assert 300 <= len(pool) <= 1000
    for offer in synthetic_offers(2000):
        assert tuple(sentences(offer.record.description)) == offer.sentences
        assert all(pool[sentence] == offer.language for sentence in offer.sentences)


def test_title_combinations_are_used_once_per_pass() -> None:
    """Titles stay unique beyond every (activity, topic, country, qualifier): later passes are numbered."""
    order = _TitleOrder("fr", 2, random.Random(0))
    space = 6 * 30 * 2 * 4
    drawn = [order.next() for _ in range(2 * space + 10)]
    assert len(set(drawn)) == len(drawn)
    assert {d[:4] for d in drawn[:space]} == {d[:4] for d in drawn[space : 2 * space]}
    assert [d[4] for d in drawn] == [0] * space + [1] * space + [2] * 10


def test_the_cache_holds_every_text_the_service_looks_up(hashing: Settings, tmp_path: Path) -> None:
    embedder = create_embedder(hashing)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = prepare(
        data_dir,
        150,
        embedder=embedder,
        reference=reference_vectors(embedder, print),
        seed=0,
    )
    assert key.startswith("pk_")
    db = Database(sqlite_url(data_dir / "pollinate.db"))
    try:
        with db.transaction(read_only=True) as session:
            snapshots = CatalogRepository(session).snapshots()
            texts = [offer_text(s) for s in snapshots] + [t for s in snapshots for t in sentences(s.description)]
            cached = EmbeddingRepository(session).get_many(embedder.model_id, [text_hash(t) for t in texts])
            models = EmbeddingRepository(session).models()
    finally:
        db.dispose()
    assert len(snapshots) == 150
    assert {text_hash(t) for t in texts} <= set(cached)
    assert list(models) == ["fake-hashing-384"]  # the configured embedder's model id


class CountingEmbedder(FakeEmbedder):
    """A fake encoder that counts the texts it is asked to embed."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += len(texts)
        return super().embed(texts)


def test_a_fused_service_started_on_a_prepared_database_embeds_nothing(tmp_path: Path) -> None:
    """The fused service reads each encoder's own cache entries: the bench caches every text under each part.

    Cached under the composite's model id only, the service embedded all 150 offers with both encoders at start.
    """
    parts = [CountingEmbedder(384), CountingEmbedder(96)]
    fused = CompositeEmbedder(parts)
    prepare(tmp_path, 150, embedder=fused, reference=reference_vectors(fused, print), seed=0)
    for part in parts:
        part.texts = 0
    db = Database(sqlite_url(tmp_path / "pollinate.db"))
    try:
        service = MatchService(db, fused, index_kind="exact")
        service.start()
        assert [part.texts for part in parts] == [0, 0]
        assert int(service.index.live_mask().sum()) == 150
        # A match embeds the need's text and nothing else: the evidence sentences it quotes are cached too.
        result = service.match(NeedQuery(title="Mangroves", description="We need help to restore mangroves."))
        assert len(result.matches) == 10
        assert [part.texts for part in parts] == [1, 1]
        with db.transaction(read_only=True) as session:
            models = EmbeddingRepository(session).models()
    finally:
        db.dispose()
    assert set(models) == {"fake-hashing-384", "fake-hashing-96"}  # each part's own entries, no composite's


def test_each_part_caches_its_own_embedding(tmp_path: Path) -> None:
    """A composite vector's slices, normalised, are the parts' own embeddings of the text."""
    parts = [FakeEmbedder(64), FakeEmbedder(32)]
    fused = CompositeEmbedder(parts)
    texts = ["Mangrove restoration in Senegal.", "Restauration des mangroves au Sénégal."]
    db = Database(sqlite_url(tmp_path / "cache.db"))
    try:
        migrate.upgrade(db)
        with db.transaction() as session:
            put_cached(
                EmbeddingRepository(session), cache_layout(fused), (["a", "b"], fused.embed(texts), ["en", "fr"])
            )
        with db.transaction(read_only=True) as session:
            for part in parts:
                cached = EmbeddingRepository(session).get_many(part.model_id, ["a", "b"])
                stored = np.stack([np.frombuffer(cached[h][0], dtype="<f4") for h in ("a", "b")])
                np.testing.assert_allclose(stored, part.embed(texts), atol=1e-6)
                assert (cached["a"][1], cached["b"][1]) == ("en", "fr")
        with pytest.raises(ValueError, match="do not fit"), db.transaction() as session:
            put_cached(
                EmbeddingRepository(session), cache_layout(parts[0]), (["c"], fused.embed(texts[:1]), ["en"])
            )
    finally:
        db.dispose()


def test_server_environment_carries_the_engine_settings_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POLLINATE_DATABASE__URL", "postgresql+psycopg://elsewhere/db")
    monkeypatch.setenv("POLLINATE_API__MATCH_RATE", "1/minute")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    settings = Settings(embedding={"model": "hashing", "threads": None}, ranking={"candidates": 50})
    env = server_env(settings, tmp_path)
    assert env["POLLINATE_DATA_DIR"] == str(tmp_path)
    assert env["POLLINATE_DATABASE__URL"] == sqlite_url(tmp_path / "pollinate.db")  # the throwaway database
    assert env["POLLINATE_EMBEDDING__MODEL"] == "hashing"
    assert "POLLINATE_EMBEDDING__THREADS" not in env
    assert env["POLLINATE_RANKING__CANDIDATES"] == "50"
    assert env["POLLINATE_API__MATCH_RATE"] != "1/minute"
    assert env["OMP_NUM_THREADS"] == "1"
    # The server's Settings() reads back the same engine configuration.
    for name in [name for name in os.environ if name.startswith("POLLINATE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("POLLINATE_"):
            monkeypatch.setenv(name, value)
    served = Settings()
    assert (served.embedding, served.index, served.ranking) == (
        settings.embedding,
        settings.index,
        settings.ranking,
    )
    assert served.data_dir == tmp_path


def test_server_log_is_read_by_request_and_keeps_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "server.log"
    earlier = '{"event": "request", "request_id": "bench-1", "path": "/v1/match", "duration_ms": 9.0}\n'
    log.write_text(
        earlier
        + "INFO:     Application startup complete.\n"
        + '{"event": "request", "request_id": "bench-2", "path": "/v1/match", "duration_ms": 12.5}\n'
        + '{"event": "unexpected error", "request_id": "bench-3", "exc_info": "KeyError(7)", "level": "error"}\n'
        + '{"event": "request", "request_id": "bench-3", "path": "/v1/match", "duration_ms": 3.0}\n'
        + "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n  ...\nKeyError: 7\n"
        + "INFO:     127.0.0.1:5000 - other\n",
        encoding="utf-8",
    )
    read = read_server_log(log, offset=len(earlier))
    assert set(read.entries) == {"bench-2", "bench-3"}
    assert [e["event"] for e in read.entries["bench-3"]] == ["unexpected error", "request"]
    assert read.tracebacks == [
        "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n  ...\nKeyError: 7"
    ]
    outcomes = [
        _Outcome("bench-2", 0.0125, 200, 10, None),
        _Outcome("bench-3", 0.003, 500, 0, '{"error":"internal_error"}'),
    ]
    row = _summary(outcomes, 0.5, read, size=100, concurrency=2)
    assert (row["ok"], row["errors"], row["median_ms"], row["server_median_ms"]) == (1, 1, 12.5, 12.5)
    assert row["error_samples"] == [
        {
            "request_id": "bench-3",
            "status": 500,
            "error": '{"error":"internal_error"}',
            "server_log": [read.entries["bench-3"][0]],
        }
    ]
    assert row["server_tracebacks"] == read.tracebacks
    _print_failures({"results": [{"encoder": "fused", **row}]})
    printed = capsys.readouterr().err
    assert "100 offers, fused, 2 clients: 1 requests failed" in printed
    assert "bench-3: status 500" in printed and "server: KeyError: 7" in printed


# ------------------------------------------------------------------------------------------ the benchmark


def test_benchmark_serves_each_size_and_answers_every_request(hashing: Settings, tmp_path: Path) -> None:
    messages: list[str] = []
    report = run_api_benchmark(
        hashing,
        create_embedder(hashing),
        sizes=(300,),
        concurrency=(1, 2),
        n_requests=12,
        warmup=2,
        progress=messages.append,
    )
    assert_complete(report, [300], [1, 2], 12)
    assert report["model_id"] == "fake-hashing-384" and report["dim"] == 384
    assert report["omp_num_threads"] == "1" and report["workers"] == 1 and report["k"] == 10
    assert any("starting the server" in message for message in messages)
    assert list((tmp_path / "scratch").iterdir()) == []  # the throwaway data directories are gone


def test_benchmark_serves_each_encoder_setup_on_the_same_corpus(hashing: Settings, tmp_path: Path) -> None:
    """One server per setup; with the hashing stand-in both run the same fake encoder, so only shape is checked."""
    messages: list[str] = []
    report = run_api_benchmark(
        hashing,
        create_embedder(hashing),
        sizes=(120,),
        concurrency=(1,),
        n_requests=4,
        warmup=1,
        encoders=("minilm", "fused"),
        progress=messages.append,
    )
    assert_complete(report, [120], [1], 4, encoders=("minilm", "fused"))
    assert report["encoders"] == [
        {"encoder": "minilm", "model_id": "fake-hashing-384", "dim": 384},
        {"encoder": "fused", "model_id": "fake-hashing-384", "dim": 384},
    ]
    assert sum("writing the offers" in message for message in messages) == 1  # the corpus is written once
    assert any("120 offers, fused, micro-batching on: starting the server" in message for message in messages)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_encoder_names_default_to_both_setups_for_the_fused_embedder() -> None:
    fused = CompositeEmbedder([FakeEmbedder(32), FakeEmbedder(16)])
    assert api_encoder_names("auto", fused) == ["minilm", "fused"]
    assert api_encoder_names("auto", FakeEmbedder(32)) == ["minilm"]
    assert api_encoder_names("fused, minilm,fused", FakeEmbedder(32)) == ["fused", "minilm"]
    with pytest.raises(ValueError, match="use-m3"):  # bench embed's other names are not served setups
        api_encoder_names("minilm,use-m3", fused)


def test_setups_select_the_multilingual_encoder(settings: Settings) -> None:
    assert setup_settings(settings, "minilm").embedding.multilingual == "none"
    assert setup_settings(settings, "fused").embedding.multilingual == "use-m3"
    assert setup_settings(settings, "minilm").embedding.model == settings.embedding.model


def test_every_setup_gets_the_same_needs_with_texts_of_its_own() -> None:
    """The servers share the cache: a text one embedded would be free for the next one."""
    first, second = _Needs(k=5, tag=" (a)").take(30), _Needs(k=5, tag=" (b)").take(30)
    bodies = [(json.loads(a.body), json.loads(b.body)) for a, b in zip(first, second, strict=True)]
    assert all(a["text"] != b["text"] for a, b in bodies)
    assert all({**a, "text": ""} == {**b, "text": ""} for a, b in bodies)
    assert all(a["text"].removesuffix(" (a).") == b["text"].removesuffix(" (b).") for a, b in bodies)


def test_a_server_that_cannot_start_is_reported_with_its_log(hashing: Settings, tmp_path: Path) -> None:
    # An index kind the server's settings refuse: it exits at start-up.
    invalid = IndexSettings.model_construct(kind="nope", compact_ratio=0.2)  # type: ignore[arg-type]
    broken = hashing.model_copy(update={"index": invalid})
    with pytest.raises(RuntimeError, match="exited") as raised:
        run_api_benchmark(broken, FakeEmbedder(dim=384), sizes=(20,), concurrency=(1,), n_requests=1)
    assert "index.kind" in str(raised.value)  # the end of the server's log: why it stopped
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sizes": ()}, "sizes"),
        ({"sizes": (0,)}, "sizes"),
        ({"concurrency": (0,)}, "concurrency"),
        ({"n_requests": 0}, "requests"),
        ({"workers": 0}, "workers"),
        ({"k": 101}, "k"),
        ({"micro_batching": ()}, "micro_batching"),
        ({"encoders": ()}, "encoders"),
        ({"encoders": ("minilm", "e5")}, "encoders"),
    ],
)
def test_benchmark_refuses_bad_arguments(hashing: Settings, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_api_benchmark(hashing, FakeEmbedder(dim=384), **arguments)


# ------------------------------------------------------------------------------------------ the command


@pytest.fixture
def app() -> typer.Typer:
    """The command on an app of its own, as ``pollinate bench`` registers it."""
    bench = typer.Typer()

    @bench.callback()
    def _bench() -> None:
        """Benchmarks."""

    bench.command("api")(api_cmd)
    return bench


def test_cli_prints_the_report_as_json(app: typer.Typer, hashing: Settings, tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    args = ["api", "--sizes", "200", "--concurrency", "2", "--requests", "6", "--warmup", "1"]
    result = CliRunner().invoke(app, [*args, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert_complete(report, [200], [2], 6, modes=(True, False))  # by default, micro-batching on and off
    assert report["model_id"] == "fake-hashing-384"
    assert json.loads(out.read_text(encoding="utf-8")) == report
    assert "starting the server" in result.stderr


def test_fused_setup_needs_the_fused_embedder(settings: Settings) -> None:
    """Given MiniLM alone, a fused server would find no USE-m3 entry in the cache and embed every offer."""
    real = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"model": "all-MiniLM-L6-v2"})}
    )
    with pytest.raises(ValueError, match="fused embedder"):
        run_api_benchmark(real, FakeEmbedder(dim=384), sizes=(10,), encoders=("minilm", "fused"))


def test_cli_prints_the_setups_side_by_side(app: typer.Typer, hashing: Settings) -> None:
    args = ["api", "--sizes", "100", "--concurrency", "1", "--requests", "3", "--warmup", "0"]
    result = CliRunner().invoke(
        app, [*args, "--micro-batching", "on", "--encoders", "minilm,fused"], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith("100 ")]
    assert len(rows) == 2
    assert "minilm" in rows[0] and "fused" in rows[1]
    assert "100 fused (batching on): 100 indexed" in result.stdout


def test_cli_prints_a_table(app: typer.Typer, hashing: Settings) -> None:
    args = ["api", "--sizes", "100", "--concurrency", "1", "--requests", "3", "--warmup", "0"]
    result = CliRunner().invoke(app, [*args, "--micro-batching", "off"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "median" in result.stdout and "req/s" in result.stdout and "100 indexed" in result.stdout
    assert "batching off" in result.stdout and "batching on" not in result.stdout


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--sizes", "0"),
        ("--sizes", "1e4"),
        ("--concurrency", ""),
        ("--micro-batching", "maybe"),
        ("--encoders", "minilm,e5"),
    ],
)
def test_cli_refuses_bad_lists(app: typer.Typer, hashing: Settings, option: str, value: str) -> None:
    result = CliRunner().invoke(app, ["api", option, value])
    assert result.exit_code == 2
    assert option in result.output

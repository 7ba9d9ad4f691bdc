"""Embedding benchmark: texts per second of the configured embedder on realistic need and offer texts.

The texts are those the service embeds for the bundled demo corpus (``matcher.data``): title, description and
the titles of the KMGBF targets (:func:`matcher.engine.texts.record_text`). Needs and offers are reported apart, as
they differ in length and long texts cost more (the packaged model splits texts beyond its 256-word-piece
window into chunks). The embedder is called directly, one call per batch, so the figures are the model's own:
the service's embedding cache in the database is bypassed.

A call of more texts than the embedder's own batch size (``POLLINATE_EMBEDDING__BATCH_SIZE`` for the
sentence-transformers backend, reported as ``embedder_batch_size``) is split by the embedder into forward
passes of that size; set it to the largest batch size to time true forward passes of every size.

:func:`run_backend_comparison` times several embedders of one model side by side (torch, ONNX fp32, ONNX int8):
texts per second at batch 32 on short texts (the demo titles) and on the need and offer texts, and the latency
of single-text calls (a query), next to the reference figures of issue 8. Backends take turns run by run and
query by query, so that a change in the load of a shared machine falls on all of them alike.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embeddings import Embedder
from evaluation.bench.corpus import demo_texts, short_texts

__all__ = ["run_backend_comparison", "run_embed_benchmark"]


# Issue 8's reference figures (2 cores, short texts, batch 32) and targets, printed next to the measured ones.
REFERENCE_TEXTS_PER_S: dict[str, float] = {"torch": 340.0, "onnx-fp32": 820.0, "onnx-int8": 1450.0}
TARGET_INT8_TEXTS_PER_S = 1200.0
TARGET_SINGLE_P50_MS = 2.0
SHORT_CORPUS = "short"


@runtime_checkable
class _CountsTokens(Protocol):
    """An embedder that can tell how many word pieces its model reads (the sentence-transformers backend)."""

    def token_count(self, text: str) -> int: ...


def run_embed_benchmark(
    embedder: Embedder,
    *,
    texts: Mapping[str, Sequence[str]] | None = None,
    batch_sizes: Sequence[int] = (1, 8, 32, 128),
    n_texts: int = 64,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time ``embedder.embed`` over each corpus at each batch size, ``repeats`` times.

    A run embeds ``n_texts`` texts of one corpus (cycling through it when it is shorter), rounded up to a
    whole number of batches so that every call holds exactly ``batch_size`` texts, and the same texts at
    every repeat. One untimed call of the largest batch per corpus comes first: first calls pay for lazy
    initialisation and memory allocation.

    Args:
        embedder: The embedder to time (the CLI passes the configured one).
        texts: Corpora by name; None for the demo needs and offers (:func:`demo_texts`).
        batch_sizes: Texts per ``embed`` call.
        n_texts: Texts per run (at least).
        repeats: Timed runs per (corpus, batch size).
        progress: Called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: ``model_id``, ``dim``, ``embedder`` (class name), ``embedder_batch_size``
        and ``max_tokens`` (None when the embedder has none), ``torch_threads`` (None when torch is not
        loaded), ``cpu_count``, ``batch_sizes``, ``n_texts``, ``repeats``; ``corpora``, per corpus its
        ``texts``, ``mean_chars`` and ``mean_tokens`` (None unless the embedder counts tokens); ``results``,
        one entry per (corpus, batch size) with ``texts`` and ``calls`` per run, ``texts_per_s`` (median of
        the runs), ``min_texts_per_s``, ``max_texts_per_s``, ``spread`` ((max - min) / median) and
        ``ms_per_call`` (median); ``wall_s``.

    Raises:
        ValueError: An empty corpus, or a batch size, text count or repeat count below 1.
    """
    corpora = {name: list(values) for name, values in (demo_texts() if texts is None else texts).items()}
    if not corpora or not all(corpora.values()):
        raise ValueError(f"every corpus needs at least one text; got sizes {[len(v) for v in corpora.values()]}")
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be positive integers; got {list(batch_sizes)}")
    if n_texts < 1 or repeats < 1:
        raise ValueError(f"n_texts and repeats must be at least 1; got n_texts={n_texts}, repeats={repeats}")
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    for name, corpus in corpora.items():
        say(f"{name}: warming up")
        embedder.embed(_cycled(corpus, max(batch_sizes)))
    results = [
        _time_runs(embedder, name, corpus, batch_size=batch_size, n_texts=n_texts, repeats=repeats, say=say)
        for name, corpus in corpora.items()
        for batch_size in batch_sizes
    ]
    torch = sys.modules.get("torch")
    return {
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "embedder": type(embedder).__name__,
        "embedder_batch_size": getattr(embedder, "batch_size", None),
        "max_tokens": getattr(embedder, "max_tokens", None),
        "torch_threads": None if torch is None else int(torch.get_num_threads()),
        "cpu_count": os.cpu_count(),
        "batch_sizes": list(batch_sizes),
        "n_texts": n_texts,
        "repeats": repeats,
        "corpora": {name: _describe(embedder, corpus) for name, corpus in corpora.items()},
        "results": results,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def _cycled(corpus: Sequence[str], count: int) -> list[str]:
    """The first ``count`` texts of the corpus repeated end to end."""
    return list(itertools.islice(itertools.cycle(corpus), count))


def _batches(corpus: Sequence[str], *, batch_size: int, n_texts: int) -> list[list[str]]:
    """At least ``n_texts`` texts of the corpus (cycled) in whole batches of ``batch_size``."""
    texts = _cycled(corpus, -(-n_texts // batch_size) * batch_size)
    return [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]


def _timed(embedder: Embedder, batches: Sequence[Sequence[str]]) -> float:
    """Seconds ``embedder`` takes to embed every batch, one call each."""
    started = time.perf_counter()
    for batch in batches:
        embedder.embed(batch)
    return time.perf_counter() - started


def _time_runs(
    embedder: Embedder,
    name: str,
    corpus: Sequence[str],
    *,
    batch_size: int,
    n_texts: int,
    repeats: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    batches = _batches(corpus, batch_size=batch_size, n_texts=n_texts)
    seconds: list[float] = []
    for run in range(1, repeats + 1):
        say(f"{name}, batch size {batch_size}: run {run}/{repeats} ({len(batches) * batch_size} texts)")
        seconds.append(_timed(embedder, batches))
    return _rates(name, batch_size, len(batches), seconds)


def _rates(name: str, batch_size: int, calls: int, seconds: Sequence[float]) -> dict[str, Any]:
    """One result row: texts per second of the runs (median, min, max, spread) and ms per call."""
    texts = calls * batch_size
    rates = [texts / max(elapsed, 1e-9) for elapsed in seconds]
    median = statistics.median(rates)
    return {
        "corpus": name,
        "batch_size": batch_size,
        "texts": texts,
        "calls": calls,
        "texts_per_s": round(median, 2),
        "min_texts_per_s": round(min(rates), 2),
        "max_texts_per_s": round(max(rates), 2),
        "spread": round((max(rates) - min(rates)) / median, 4),
        "ms_per_call": round(statistics.median(seconds) / calls * 1e3, 3),
    }


def _describe(embedder: object, corpus: Sequence[str]) -> dict[str, Any]:
    tokens = [embedder.token_count(text) for text in corpus] if isinstance(embedder, _CountsTokens) else None
    return {
        "texts": len(corpus),
        "mean_chars": round(statistics.fmean(len(text) for text in corpus), 1),
        "mean_tokens": None if tokens is None else round(statistics.fmean(tokens), 1),
    }


def run_backend_comparison(
    embedders: Mapping[str, Embedder],
    *,
    texts: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 32,
    n_texts: int = 128,
    repeats: int = 3,
    latency_queries: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time several embedders side by side: throughput on each corpus at one batch size, and single-text latency.

    Backends take turns: each run times every backend on every corpus before the next run starts, and each
    timed query goes to every backend before the next query. One untimed batch per corpus and a few untimed
    single calls per backend come first.

    Args:
        embedders: The embedders by backend name (``torch``, ``onnx-fp32``, ``onnx-int8``: the reference
            figures are looked up by these names).
        texts: Corpora by name; None for the demo titles (``short``, :func:`short_texts`) then the demo needs
            and offers. Single-text latency is measured on the first corpus.
        batch_size: Texts per ``embed`` call for throughput.
        n_texts: Texts per run and corpus (at least; whole batches).
        repeats: Timed runs per backend and corpus.
        latency_queries: Timed single-text calls per backend.
        progress: Called with a short message as each step starts.

    Returns:
        A JSON-serialisable report: ``batch_size``, ``n_texts``, ``repeats``, ``latency_queries``,
        ``cpu_count``, ``omp_num_threads`` (the environment variable, None when unset); ``corpora`` (per corpus
        ``texts``, ``mean_chars``, ``mean_tokens``); ``reference`` (issue 8's texts/s per backend on short texts
        and the int8 targets); ``backends``, one entry per embedder with ``backend``, ``model_id``,
        ``embedder``, ``threads``, ``recipe`` (the ONNX export recipe, None for other embedders), ``results``
        (one row per corpus, as in :func:`run_embed_benchmark`),
        ``short_texts_per_s`` (the first corpus), ``single_p50_ms``, ``single_p99_ms``,
        ``reference_texts_per_s`` and ``speedup`` (short texts/s over the first backend's); ``wall_s``.

    Raises:
        ValueError: No embedder, an empty corpus, or a batch size, text count, repeat or query count below 1.
    """
    corpora = {
        name: list(values)
        for name, values in ({SHORT_CORPUS: short_texts(), **demo_texts()} if texts is None else texts).items()
    }
    if not embedders:
        raise ValueError("no embedder to compare")
    if not corpora or not all(corpora.values()):
        raise ValueError(f"every corpus needs at least one text; got sizes {[len(v) for v in corpora.values()]}")
    if min(batch_size, n_texts, repeats, latency_queries) < 1:
        raise ValueError(
            "batch_size, n_texts, repeats and latency_queries must be at least 1; got "
            f"{batch_size}, {n_texts}, {repeats}, {latency_queries}"
        )
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    batches = {name: _batches(corpus, batch_size=batch_size, n_texts=n_texts) for name, corpus in corpora.items()}
    queries = _cycled(next(iter(corpora.values())), latency_queries)
    for backend, embedder in embedders.items():
        say(f"{backend}: warming up")
        for corpus_batches in batches.values():
            embedder.embed(corpus_batches[0])
        for query in queries[:5]:
            embedder.embed([query])
    seconds: dict[tuple[str, str], list[float]] = {(b, c): [] for b in embedders for c in corpora}
    for run in range(1, repeats + 1):
        for backend, embedder in embedders.items():
            for name, corpus_batches in batches.items():
                say(f"run {run}/{repeats}: {backend}, {name} ({len(corpus_batches) * batch_size} texts)")
                seconds[backend, name].append(_timed(embedder, corpus_batches))
    say(f"single-text latency: {latency_queries} queries per backend")
    latencies: dict[str, list[float]] = {backend: [] for backend in embedders}
    for query in queries:
        for backend, embedder in embedders.items():
            latencies[backend].append(_timed(embedder, [[query]]) * 1e3)
    rows: list[dict[str, Any]] = []
    first_corpus = next(iter(corpora))
    for backend, embedder in embedders.items():
        results = [_rates(name, batch_size, len(batches[name]), seconds[backend, name]) for name in corpora]
        p50, p99 = np.percentile(latencies[backend], [50, 99])
        rows.append(
            {
                "backend": backend,
                "model_id": embedder.model_id,
                "embedder": type(embedder).__name__,
                "threads": _threads(embedder),
                "recipe": getattr(embedder, "recipe", None),
                "results": results,
                "short_texts_per_s": results[0]["texts_per_s"],
                "single_p50_ms": round(float(p50), 3),
                "single_p99_ms": round(float(p99), 3),
                "reference_texts_per_s": REFERENCE_TEXTS_PER_S.get(backend),
            }
        )
    for row in rows:
        row["speedup"] = round(row["short_texts_per_s"] / rows[0]["short_texts_per_s"], 2)
    counter = next((e for e in embedders.values() if isinstance(e, _CountsTokens)), None)
    omp = os.environ.get("OMP_NUM_THREADS")
    return {
        "batch_size": batch_size,
        "n_texts": n_texts,
        "repeats": repeats,
        "latency_queries": latency_queries,
        "latency_corpus": first_corpus,
        "cpu_count": os.cpu_count(),
        "omp_num_threads": None if omp is None else omp,
        "corpora": {name: _describe(counter, corpus) for name, corpus in corpora.items()},
        "reference": {
            "texts_per_s": REFERENCE_TEXTS_PER_S,
            "target_int8_texts_per_s": TARGET_INT8_TEXTS_PER_S,
            "target_single_p50_ms": TARGET_SINGLE_P50_MS,
            "conditions": "2 cores, short texts, batch 32",
        },
        "backends": rows,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def _threads(embedder: Embedder) -> int | None:
    """Threads the embedder computes with: its own setting (ONNX), else torch's when torch is loaded."""
    own = getattr(embedder, "threads", None)
    if isinstance(own, int):
        return own
    torch = sys.modules.get("torch")
    return None if torch is None or not hasattr(embedder, "max_tokens") else int(torch.get_num_threads())

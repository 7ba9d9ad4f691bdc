"""Embedding benchmark: texts per second of the configured embedder on realistic need and offer texts.

The texts are those the service embeds for the bundled demo corpus (``matcher.seed``): title, description and
the titles of the KMGBF targets (:func:`matcher.texts.record_text`). Needs and offers are reported apart, as
they differ in length and long texts cost more (the packaged model splits texts beyond its 256-word-piece
window into chunks). The embedder is called directly, one call per batch, so the figures are the model's own:
the service's embedding cache in the database is bypassed.

A call of more texts than the embedder's own batch size (``POLLINATE_EMBEDDING__BATCH_SIZE`` for the
sentence-transformers backend, reported as ``embedder_batch_size``) is split by the embedder into forward
passes of that size; set it to the largest batch size to time true forward passes of every size.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from embeddings import Embedder
from matcher.bulk import Kind, iter_rows, validate_row
from matcher.seed import DEMO_NEEDS, DEMO_OFFERS
from matcher.texts import record_text

__all__ = ["demo_texts", "run_embed_benchmark"]


@runtime_checkable
class _CountsTokens(Protocol):
    """An embedder that can tell how many word pieces its model reads (the sentence-transformers backend)."""

    def token_count(self, text: str) -> int: ...


def demo_texts() -> dict[str, list[str]]:
    """The texts the service embeds for the bundled demo needs and offers, by corpus (``needs``, ``offers``).

    Raises:
        RuntimeError: A packaged demo line is not a JSON object (a broken installation).
        pydantic.ValidationError: A packaged demo record does not validate (likewise).
    """
    sources: tuple[tuple[Kind, Path], ...] = (("needs", DEMO_NEEDS), ("offers", DEMO_OFFERS))
    corpora: dict[str, list[str]] = {}
    for name, path in sources:
        texts: list[str] = []
        for _line, row in iter_rows(path, "jsonl"):
            if not isinstance(row, dict):
                raise RuntimeError(f"{path}: {row}")
            record = validate_row(name, row)
            texts.append(record_text(record.title, record.description, record.targets))
        corpora[name] = texts
    return corpora


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
    calls = -(-n_texts // batch_size)
    texts = _cycled(corpus, calls * batch_size)
    batches = [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]
    seconds: list[float] = []
    for run in range(1, repeats + 1):
        say(f"{name}, batch size {batch_size}: run {run}/{repeats} ({len(texts)} texts)")
        started = time.perf_counter()
        for batch in batches:
            embedder.embed(batch)
        seconds.append(time.perf_counter() - started)
    rates = [len(texts) / max(elapsed, 1e-9) for elapsed in seconds]
    median = statistics.median(rates)
    return {
        "corpus": name,
        "batch_size": batch_size,
        "texts": len(texts),
        "calls": calls,
        "texts_per_s": round(median, 2),
        "min_texts_per_s": round(min(rates), 2),
        "max_texts_per_s": round(max(rates), 2),
        "spread": round((max(rates) - min(rates)) / median, 4),
        "ms_per_call": round(statistics.median(seconds) / calls * 1e3, 3),
    }


def _describe(embedder: Embedder, corpus: Sequence[str]) -> dict[str, Any]:
    tokens = [embedder.token_count(text) for text in corpus] if isinstance(embedder, _CountsTokens) else None
    return {
        "texts": len(corpus),
        "mean_chars": round(statistics.fmean(len(text) for text in corpus), 1),
        "mean_tokens": None if tokens is None else round(statistics.fmean(tokens), 1),
    }

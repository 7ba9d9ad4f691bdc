"""API benchmark: latency and throughput of ``POST /v1/match`` over loopback, embedding included.

For each corpus size the benchmark builds a throwaway SQLite data directory holding that many synthetic offers,
starts the real service in its own uvicorn process on 127.0.0.1 (``OMP_NUM_THREADS=1``, as ``pollinate serve``
does; the module path is given as a string, so nothing here imports the web layer) and has concurrent clients
post ad-hoc matching requests: the figures are what a caller on the same machine sees — request parsing and
authentication, embedding the need with the configured model, filtering, retrieval, exact re-scoring,
feedback, explanations and serialisation, plus loopback HTTP. The clients share the machine's cores with the
server, as they would in any single-host measurement. The corpus and its embeddings are described in
:mod:`evaluation.bench.corpus`, the server process in :mod:`evaluation.bench.server`.
Every request's text is unique (a demo need and a request number), so the service embeds it with the model in
every request, as it would a new need.

What is reported
    Per size and number of concurrent clients (closed loop: each client sends its next request when the
    previous one has been answered): median, p90, p99, mean and maximum client-side latency, requests per
    second over the wall time, the server's own durations (from its access log, by request id), and every
    failed request with the server's log entries for it and the tracebacks it logged. Per size: the time to
    write the offers and fill the cache, the server's start time (until ``GET /ready`` answers 200: model load
    and index build from the cache) and the offers it indexed. The clients are threads of the bench process
    using the standard library's ``http.client`` (httpx is only a development dependency), one keep-alive
    connection each.

Cost
    The default run (10k and 100k offers, 1 and 4 clients, 200 requests each) took just under 5 minutes on
    this 2-core machine, half of it writing 100,000 offers through the ORM (about 140 s); the server was ready
    14 s after it started at 100k.

Encoders side by side
    ``encoders`` names the setups to serve, as ``pollinate bench embed`` names them: ``minilm`` (the English
    model alone, ``embedding.multilingual=none``) and ``fused`` (MiniLM + USE-m3, the default service). The
    corpus of a size is written once, with the cache entries of every encoder of the fused setup, and one
    server per setup (and micro-batching mode) serves it in turn: the same requests, the same corpus, and each
    server finds every offer in its own encoders' cache. The setups run one after the other, so each setup's
    entry records the machine's load average when its server started.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from embeddings import Embedder
from embeddings.composite import parts_of
from evaluation.bench.corpus import ProgressFn, prepare, reference_vectors
from evaluation.bench.server import ServerLog, read_server_log, server_env, serving, wait_ready
from evaluation.options import benchmark_errors, command_settings, emit_report, number_list, progress
from matcher.data import DEMO_NEEDS
from matcher.engine.service import HASHING_MODEL, create_embedder
from matcher.records.bulk import iter_rows, validate_row
from matcher.records.interchange import NeedRecord
from matcher.settings import Settings

__all__ = ["API_ENCODERS", "api_cmd", "api_encoder_names", "run_api_benchmark", "setup_settings"]

MATCH_PATH = "/v1/match"
# How long a request may take before it counts as failed.
_REQUEST_TIMEOUT_S = 120.0
# Failed requests kept in the report (all are counted).
_ERROR_SAMPLES = 5
# The setups a server can run, named as `bench embed` names them (evaluation.bench.encoders.ENCODERS), with the
# `embedding.multilingual` setting of each.
API_ENCODERS = {"minilm": "none", "fused": "use-m3"}


def api_encoder_names(text: str, embedder: Embedder) -> list[str]:
    """``--encoders`` as setup names; ``auto``: ``minilm`` and ``fused`` when ``embedder`` (the configured one) is
    the fused setup, else ``minilm`` alone.

    Raises:
        ValueError: an unknown name.
    """
    if text.strip() in ("", "auto"):
        return ["minilm", "fused"] if len(parts_of(embedder)) > 1 else ["minilm"]
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in API_ENCODERS]
    if unknown:
        raise ValueError(f"unknown encoder(s) {', '.join(unknown)}; known: {', '.join(API_ENCODERS)}, or auto")
    return names


def setup_settings(settings: Settings, encoder: str) -> Settings:
    """``settings`` with the embedding section of the setup ``encoder`` (one of :data:`API_ENCODERS`)."""
    embedding = settings.embedding.model_copy(update={"multilingual": API_ENCODERS[encoder]})
    return settings.model_copy(update={"embedding": embedding})


# ------------------------------------------------------------------------------------------ the clients


@dataclass(frozen=True, slots=True)
class _Request:
    """One matching request: its id (also its ``X-Request-ID``) and its JSON body."""

    request_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a client saw: latency, HTTP status (0: no answer), matches returned, or what went wrong."""

    request_id: str
    latency_s: float
    status: int
    matches: int
    error: str | None


class _Needs:
    """Matching requests built from the demo needs, each with a text no earlier request had.

    Every server gets its own sequence, marked with ``tag`` (its setup): the same needs in the same order, with
    texts that no other server embedded into the shared cache.
    """

    def __init__(self, *, k: int, tag: str = "") -> None:
        self.k = k
        self.tag = tag
        self.count = 0
        self.needs: list[NeedRecord] = []
        for number, row in iter_rows(DEMO_NEEDS, "jsonl"):
            if not isinstance(row, dict):
                raise RuntimeError(f"{DEMO_NEEDS}:{number}: {row.message}")
            record = validate_row("needs", row)
            assert isinstance(record, NeedRecord)
            self.needs.append(record)

    def take(self, n: int) -> list[_Request]:
        """The next ``n`` requests."""
        requests = []
        for number in range(self.count, self.count + n):
            need = self.needs[number % len(self.needs)]
            body = {
                # A unique text: the service embeds it with the model, as it would a new need.
                "text": f"{need.title}. {need.description} Request {number + 1}{self.tag}.",
                "k": self.k,
                "targets": list(need.targets),
                "country": need.party,
                "assistance_types": list(need.assistance_types),
            }
            requests.append(_Request(f"bench-{number + 1}", json.dumps(body).encode("utf-8")))
        self.count += n
        return requests


def _post_all(
    port: int, key: str, requests: Sequence[_Request], *, concurrency: int
) -> tuple[list[_Outcome], float]:
    """Send the requests from ``concurrency`` clients in a closed loop; returns their outcomes and the wall time.

    Each client holds one keep-alive connection and sends its next request when the previous one is answered.
    """
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(requests)):
        todo.put(i)
    outcomes: list[_Outcome | None] = [None] * len(requests)
    stop = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_REQUEST_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            while not stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                outcomes[i] = _post(connection, requests[i], headers)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, name=f"bench-client-{c}", daemon=True) for c in range(concurrency)]
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
    wall = time.perf_counter() - started
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(requests), "every request was sent"
    return done, wall


def _post(connection: http.client.HTTPConnection, request: _Request, headers: Mapping[str, str]) -> _Outcome:
    started = time.perf_counter()
    try:
        connection.request(
            "POST", MATCH_PATH, body=request.body, headers={**headers, "X-Request-ID": request.request_id}
        )
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()  # the next request reconnects
        return _Outcome(request.request_id, time.perf_counter() - started, 0, 0, f"{type(exc).__name__}: {exc}")
    latency = time.perf_counter() - started
    if response.status != 200:
        return _Outcome(
            request.request_id, latency, response.status, 0, payload[:300].decode("utf-8", errors="replace")
        )
    try:
        matches = len(json.loads(payload)["matches"])
    except (ValueError, KeyError, TypeError):
        return _Outcome(request.request_id, latency, 200, 0, f"unreadable answer: {payload[:300]!r}")
    return _Outcome(request.request_id, latency, 200, matches, None)


def _summary(
    outcomes: Sequence[_Outcome], wall: float, log: ServerLog, *, size: int, concurrency: int
) -> dict[str, Any]:
    """One report row: latency percentiles over the answered requests, throughput, failures.

    A failure's sample holds what the client saw and the server's log entries of that request; the row also
    keeps the first tracebacks the server logged.
    """
    ok = [o for o in outcomes if o.status == 200 and o.error is None]
    failed = [o for o in outcomes if o.status != 200 or o.error is not None]
    latencies = np.asarray([o.latency_s * 1e3 for o in ok], dtype=np.float64)
    server_ms = [
        float(entry["duration_ms"])
        for o in ok
        for entry in log.entries.get(o.request_id, [])
        if entry.get("event") == "request" and entry.get("path") == MATCH_PATH
    ]

    def percentile(values: NDArray[np.float64] | Sequence[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if len(values) else None

    return {
        "size": size,
        "concurrency": concurrency,
        "requests": len(outcomes),
        "ok": len(ok),
        "errors": len(failed),
        "error_samples": [
            {
                "request_id": o.request_id,
                "status": o.status,
                "error": o.error,
                "server_log": [
                    entry for entry in log.entries.get(o.request_id, []) if entry.get("event") != "request"
                ],
            }
            for o in failed[:_ERROR_SAMPLES]
        ],
        "median_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": round(float(latencies.mean()), 2) if len(latencies) else None,
        "max_ms": round(float(latencies.max()), 2) if len(latencies) else None,
        "requests_per_s": round(len(ok) / wall, 2),
        "wall_s": round(wall, 2),
        "matches_min": min((o.matches for o in ok), default=None),
        "server_median_ms": percentile(server_ms, 50),
        "server_p99_ms": percentile(server_ms, 99),
        "server_tracebacks": log.tracebacks[:_ERROR_SAMPLES],
    }


# ------------------------------------------------------------------------------------------ the benchmark


def run_api_benchmark(
    settings: Settings,
    embedder: Embedder,
    *,
    sizes: Sequence[int] = (10_000, 100_000),
    concurrency: Sequence[int] = (1, 4),
    n_requests: int = 200,
    warmup: int = 8,
    workers: int = 1,
    k: int = 10,
    seed: int = 0,
    micro_batching: Sequence[bool] = (True,),
    encoders: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measure ``POST /v1/match`` on a served corpus of each size, at each number of concurrent clients.

    Args:
        settings: the engine configuration to serve (embedding, index and ranking sections; the database, data
            directory and rate limits are the bench's own).
        embedder: the embedder of the largest setup (``create_embedder(setup_settings(settings, "fused"))`` when
            ``fused`` is served): it embeds the pool sentences and demo texts, and the cache entries are written
            under each of its encoders' model ids.
        sizes: corpus sizes (offers).
        concurrency: numbers of concurrent clients; each level sends ``n_requests`` requests.
        n_requests: timed requests per (size, concurrency).
        warmup: untimed requests per size before the timed ones, from the largest number of clients.
        workers: uvicorn worker processes.
        k: providers per answer.
        seed: seed of the corpus and of the offer vectors.
        micro_batching: serve each size once per value: True with the configured micro-batching wait, False
            with it off (``micro_batch_wait_ms=0``), so that both are measured side by side.
        encoders: the setups to serve, among :data:`API_ENCODERS`, one server each on the same corpus; None
            for the embedder's own (``fused`` when it is a composite, else ``minilm``).
        progress: called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: ``model_id``, ``dim``, ``embedder``, ``k``, ``n_requests``, ``warmup``,
        ``concurrency``, ``workers``, ``seed``, ``cpu_count``, ``load_average`` (1-minute, at the start; None
        where unknown), ``omp_num_threads`` (the server's), ``client``, ``note`` (what the corpus is),
        ``reference_s`` (embedding the pool and demo texts); ``encoders``, one entry per setup with
        ``encoder``, ``model_id`` and ``dim``; ``setups``, one entry per (size, encoder, micro-batching) with
        ``size``, ``encoder``, ``micro_batching``, ``offers_indexed``, ``write_s`` (offers and cache, once per
        size), ``server_start_s`` (until ready) and ``load_average`` (when the server started); ``results``, one
        entry per (size, encoder, micro-batching, concurrency) with ``encoder``, ``micro_batching``,
        ``requests``, ``ok``, ``errors``, ``error_samples`` (request id,
        status, what the client saw, the server's log entries), ``median_ms``, ``p90_ms``, ``p99_ms``,
        ``mean_ms``, ``max_ms`` (client side, over the answered requests; None when none was),
        ``requests_per_s``, ``wall_s``, ``matches_min``, the server's own ``server_median_ms`` and
        ``server_p99_ms``, and ``server_tracebacks``; ``wall_s``.

    Raises:
        ValueError: a size, concurrency, request count, worker count or k out of range; an unknown encoder, or
            ``fused`` asked of an embedder that is not a composite (its server would embed every offer).
        RuntimeError: a server did not start.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers; got {list(sizes)}")
    if not concurrency or min(concurrency) < 1:
        raise ValueError(f"concurrency levels must be positive integers; got {list(concurrency)}")
    if not micro_batching:
        raise ValueError("micro_batching needs at least one value (True, False or both)")
    if n_requests < 1 or warmup < 0 or workers < 1 or not 1 <= k <= 100:
        raise ValueError(
            f"need requests >= 1, warmup >= 0, workers >= 1 and 1 <= k <= 100; "
            f"got {n_requests}, {warmup}, {workers}, {k}"
        )
    names = list(dict.fromkeys(encoders)) if encoders is not None else api_encoder_names("auto", embedder)[-1:]
    if not names or any(name not in API_ENCODERS for name in names):
        raise ValueError(f"encoders must be among {', '.join(API_ENCODERS)}; got {list(names)}")
    parts = parts_of(embedder)
    # The hashing stand-in has no multilingual encoder: its `fused` server runs it alone, as the cache has it.
    if "fused" in names and len(parts) < 2 and settings.embedding.model != HASHING_MODEL:
        raise ValueError(f"the fused setup needs the fused embedder; got {embedder.model_id}")
    served = {
        "minilm": parts[0],
        "fused": embedder,
    }
    say = progress or (lambda _message: None)
    # Other processes competing for the cores change every figure: say how busy the machine was.
    load = _load_average()
    started = time.perf_counter()
    reference = reference_vectors(embedder, say)
    reference_s = time.perf_counter() - started
    setups: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    omp = "1"
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"pollinate-bench-api-{size}-") as tmp:
            data_dir = Path(tmp)
            say(f"{size:,} offers: writing the offers and filling the embedding cache")
            began = time.perf_counter()
            key = prepare(data_dir, size, embedder=embedder, reference=reference, seed=seed)
            write_s = time.perf_counter() - began
            for name, batching in ((name, b) for name in names for b in dict.fromkeys(micro_batching)):
                env = server_env(setup_settings(settings, name), data_dir)
                if not batching:
                    env["POLLINATE_EMBEDDING__MICRO_BATCH_WAIT_MS"] = "0"
                omp = env["OMP_NUM_THREADS"]
                mode = f"{name}, micro-batching {'on' if batching else 'off'}"
                say(f"{size:,} offers, {mode}: starting the server ({workers} worker{'s' if workers > 1 else ''})")
                needs = _Needs(k=k, tag=f" ({size}, {mode})")
                setup_load = _load_average()
                began = time.perf_counter()
                # The index file records its encoders: each setup rebuilds it from the cache, as a fresh start.
                with serving(
                    env, workers=workers, log_path=data_dir / f"server-{name}-{mode[-3:].strip()}.log"
                ) as server:
                    indexed = wait_ready(server, workers=workers)
                    start_s = time.perf_counter() - began
                    setups.append(
                        {
                            "size": size,
                            "encoder": name,
                            "micro_batching": batching,
                            "offers_indexed": indexed,
                            "write_s": round(write_s, 2),
                            "server_start_s": round(start_s, 2),
                            "load_average": setup_load,
                        }
                    )
                    if warmup:
                        say(f"{size:,} offers, {mode}: {warmup} warm-up requests")
                        _post_all(server.port, key, needs.take(warmup), concurrency=max(concurrency))
                    for clients in concurrency:
                        say(
                            f"{size:,} offers, {mode}: {n_requests} requests from {clients} "
                            f"client{'s' if clients > 1 else ''}"
                        )
                        offset = server.log_path.stat().st_size
                        outcomes, wall = _post_all(server.port, key, needs.take(n_requests), concurrency=clients)
                        log = read_server_log(server.log_path, offset=offset)
                        row = _summary(outcomes, wall, log, size=size, concurrency=clients)
                        results.append({"encoder": name, "micro_batching": batching, **row})
    return {
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "embedder": type(embedder).__name__,
        "k": k,
        "n_requests": n_requests,
        "warmup": warmup,
        "concurrency": list(concurrency),
        "workers": workers,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "omp_num_threads": omp,
        "client": "http.client, one keep-alive connection per client thread, in the bench process",
        "note": (
            "synthetic offers; offer vectors are synthesised from real embeddings of their sentences, the need "
            "of every request is embedded by the model: speed figures, not ranking quality"
        ),
        "reference_s": round(reference_s, 2),
        "encoders": [
            {"encoder": name, "model_id": served[name].model_id, "dim": served[name].dim} for name in names
        ],
        "setups": setups,
        "results": results,
        "wall_s": round(time.perf_counter() - started, 2),
    }


# ------------------------------------------------------------------------------------------ the command

_err = Console(stderr=True)


def _load_average() -> float | None:
    """The 1-minute load average (None where unknown)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def api_cmd(
    ctx: typer.Context,
    sizes: Annotated[str, typer.Option(help="Corpus sizes (offers), comma-separated.")] = "10000,100000",
    concurrency: Annotated[
        str, typer.Option(help="Numbers of concurrent clients, comma-separated; each sends --requests requests.")
    ] = "1,4",
    requests: Annotated[int, typer.Option(min=1, help="Timed requests per size and concurrency.")] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed requests per size before the timed ones.")] = 8,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes of the server.")] = 1,
    k: Annotated[int, typer.Option(min=1, max=100, help="Providers per answer.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus and its vectors.")] = 0,
    micro_batching: Annotated[
        str,
        typer.Option(
            help="Serve each size with micro-batching `on`, `off`, or both side by side (`on,off`: a second "
            "server per size)."
        ),
    ] = "on,off",
    encoders: Annotated[
        str,
        typer.Option(
            help="Setups to serve side by side, one server each, named as in `bench embed`: `minilm` (MiniLM "
            "alone), `fused` (MiniLM + USE-m3); `auto`: both when the configured embedder is the fused one, "
            "else minilm."
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Latency (median, p99) and requests/s of POST /v1/match over loopback, embedding included.

    For each size: a throwaway SQLite database of synthetic offers, the service in its own uvicorn process on
    127.0.0.1 (OMP_NUM_THREADS=1), then concurrent clients posting needs whose text is new at every request,
    so the model embeds each one. Offer embeddings are synthesised from real embeddings of their sentences
    (embedding 100,000 offers would take 40 minutes): speed figures, not ranking quality. With the fused
    default, MiniLM alone and the fused setup are served side by side on the same corpus (--encoders).
    Exits with 1 when a request failed (the JSON report says why).
    """
    size_list = number_list(sizes, "--sizes", positive=True)
    level_list = number_list(concurrency, "--concurrency", positive=True)
    modes = [part.strip() for part in micro_batching.split(",") if part.strip()]
    if not modes or any(mode not in {"on", "off"} for mode in modes):
        raise typer.BadParameter("a comma-separated list of on and off", param_hint="--micro-batching")
    settings = command_settings(ctx)
    progress(f"loading the embedder {settings.embedding.model}")
    embedder = create_embedder(settings)
    try:
        names = api_encoder_names(encoders, embedder)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--encoders") from None
    # The corpus is cached for the largest setup served; MiniLM alone needs no multilingual encoder.
    if "fused" in names and len(parts_of(embedder)) < 2:
        progress("loading the fused embedder (MiniLM + USE-m3)")
        embedder = create_embedder(setup_settings(settings, "fused"))
    elif "fused" not in names:
        embedder = parts_of(embedder)[0]
    with benchmark_errors():
        report = run_api_benchmark(
            settings,
            embedder,
            sizes=size_list,
            concurrency=level_list,
            n_requests=requests,
            warmup=warmup,
            workers=workers,
            k=k,
            seed=seed,
            micro_batching=[mode == "on" for mode in modes],
            encoders=names,
            progress=progress,
        )
    emit_report(report, _table(report), as_json=as_json, out_file=out_file)
    if any(row["errors"] for row in report["results"]):
        _print_failures(report)
        raise typer.Exit(1)


def _print_failures(report: dict[str, Any]) -> None:
    """What failed, on stderr: each failed request's answer and the exception of each server traceback."""
    for row in report["results"]:
        if not row["errors"]:
            continue
        _err.print(
            f"[red]{row['size']:,} offers, {row['encoder']}, {row['concurrency']} clients: "
            f"{row['errors']} requests failed[/red]"
        )
        for sample in row["error_samples"]:
            _err.print(f"  {sample['request_id']}: status {sample['status']}: {sample['error']}", markup=False)
        for traceback in row["server_tracebacks"]:
            _err.print(f"  server: {traceback.strip().splitlines()[-1]}", markup=False)
    _err.print("the JSON report (--json, --out) has the server's log entries and full tracebacks")


def _table(report: dict[str, Any]) -> Table:
    """The results side by side: each (size, batching, clients) row of every setup next to the others."""
    starts = ", ".join(
        f"{s['size']:,} {s['encoder']} (batching {'on' if s['micro_batching'] else 'off'}): "
        f"{s['offers_indexed']:,} indexed, ready in {s['server_start_s']:.1f} s"
        for s in report["setups"]
    )
    models = ", ".join(f"{e['encoder']} = {e['model_id']} ({e['dim']}-d)" for e in report["encoders"])
    load = "" if report["load_average"] is None else f", load average {report['load_average']:.2f} at the start"
    table = Table(
        title=f"POST /v1/match over loopback, k={report['k']}, {report['workers']} "
        f"worker{'s' if report['workers'] > 1 else ''}, OMP_NUM_THREADS={report['omp_num_threads']}",
        caption=f"latencies in ms, client side (server: from its access log); {report['n_requests']} timed "
        f"requests per row after {report['warmup']} warm-up\nencoders: {models}\nserver start: {starts}"
        f"\n{report['note']}\nwall {report['wall_s']:.0f} s on {report['cpu_count']} cores{load}"
        "\ntarget (2 cores, <= 2 clients, 100k offers): median <= 15 ms, p99 <= 50 ms, >= 300 req/s",
    )
    table.add_column("offers", justify="right")
    table.add_column("batching")
    table.add_column("clients", justify="right")
    table.add_column("encoders")
    for numeric in ("median", "p90", "p99", "mean", "max", "req/s", "server median", "server p99", "errors"):
        table.add_column(numeric, justify="right")
    order = {e["encoder"]: i for i, e in enumerate(report["encoders"])}
    rows = sorted(
        report["results"],
        key=lambda r: (r["size"], not r["micro_batching"], r["concurrency"], order.get(r["encoder"], 0)),
    )
    for row in rows:
        table.add_row(
            f"{row['size']:,}",
            "on" if row["micro_batching"] else "off",
            str(row["concurrency"]),
            row["encoder"],
            *(_ms(row[name]) for name in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")),
            f"{row['requests_per_s']:.1f}",
            _ms(row["server_median_ms"]),
            _ms(row["server_p99_ms"]),
            str(row["errors"]) if not row["errors"] else f"[red]{row['errors']}[/red]",
        )
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"

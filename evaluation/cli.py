"""``pollinate bench``: benchmarks, as speed figures for people to read (tests never assert timings), and
``pollinate embed``: the ONNX export of the embedding model and its quality gate.

``bench_app`` and ``embed_app`` are mounted on the main command line through plugin entry points, so this
module only defines them. Progress goes to stderr, so that ``--json`` output on stdout can be piped. Commands
that need the configuration take the :class:`Settings` the main ``pollinate`` callback built (or build them
from the environment when an app runs on its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from embeddings import Embedder
from embeddings.composite import parts_of
from embeddings.onnx import Backend
from evaluation.bench.api import api_cmd
from evaluation.bench.assist import assist_cmd
from evaluation.bench.corpus import pool_sentences
from evaluation.bench.embed import run_backend_comparison, run_embed_benchmark
from evaluation.bench.encoders import encoder_names, run_encoder_benchmark
from evaluation.bench.index import check_arguments, index_kinds, run_index_benchmark
from evaluation.bench.jobs import jobs_cmd
from evaluation.bench.web import web_cmd
from evaluation.onnx_gate import export_cmd, gate_cmd
from evaluation.options import command_settings, emit_report, number_list, progress
from evaluation.use_gate import use_gate_cmd
from matcher.engine.service import create_embedder
from matcher.settings import Settings

__all__ = ["bench_app", "embed_app"]

bench_app = typer.Typer(help="Benchmarks (speed figures, never test assertions).", no_args_is_help=True)
embed_app = typer.Typer(
    help="The embedding model's ONNX export (fp32, int8) and its quality gate against torch.", no_args_is_help=True
)
embed_app.command("export")(export_cmd)
embed_app.command("gate")(gate_cmd)
embed_app.command("use-gate")(use_gate_cmd)


@bench_app.callback()
def _bench() -> None:
    """Benchmarks (speed figures, never test assertions)."""
    # A callback keeps every command a subcommand, whatever their number.


# ------------------------------------------------------------------------------------------------ index


@bench_app.command("index")
def index_cmd(
    ctx: typer.Context,
    sizes: Annotated[str, typer.Option(help="Corpus sizes, comma-separated.")] = "10000,100000,1000000",
    selectivities: Annotated[
        str, typer.Option(help="Fractions of the corpus the filter allows, comma-separated (1 = no filter).")
    ] = "1,0.1,0.01,0.001",
    kinds: Annotated[
        str, typer.Option(help="Index kinds, comma-separated (default: every kind the engine offers).")
    ] = ",".join(index_kinds()),
    queries: Annotated[
        int, typer.Option(min=1, help="Timed single queries per size, selectivity and kind.")
    ] = 200,
    k: Annotated[int, typer.Option(min=1, help="Results per query.")] = 10,
    dim: Annotated[int, typer.Option(min=1, help="Vector dimension (384 for the packaged model).")] = 384,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic vectors, queries and filters.")] = 0,
    vectors: Annotated[
        str,
        typer.Option(
            help="`minilm`: offer-like vectors synthesised from real embeddings of the benchmark's sentence "
            "pool (the configured model embeds 840 sentences first); `random`: random unit vectors."
        ),
    ] = "minilm",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Search latency, recall, build time and memory of each index kind, by corpus size and filter selectivity.

    Single queries, one thread: median and p99 latency, recall@k against exact search, build time (with the
    HNSW graph), memory; the planner (`auto`) next to exact scans (`flat`, `exact`) and plain HNSW + selector
    (`hnsw`), with the issue's targets in the caption. The planner uses the `index` settings. The default run
    (up to 1M vectors) takes about 15 minutes on 2 cores, most of it building the 1M graph and exact scans.
    """
    size_list = number_list(sizes, "--sizes", int)
    selectivity_list = number_list(selectivities, "--selectivities", float)
    kind_list = [part.strip() for part in kinds.split(",") if part.strip()]
    if vectors not in {"minilm", "random"}:
        raise typer.BadParameter("choose minilm or random", param_hint="--vectors")
    try:  # before loading the model
        check_arguments(sizes=size_list, selectivities=selectivity_list, k=k, n_queries=queries, kinds=kind_list)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = command_settings(ctx)
    sentence_vectors = None
    if vectors == "minilm":
        progress(f"embedding the sentence pool with {settings.embedding.model}")
        pool = list(pool_sentences())
        sentence_vectors = dict(zip(pool, create_embedder(settings).embed(pool), strict=True))
        dim = len(next(iter(sentence_vectors.values())))
    try:
        report = run_index_benchmark(
            sizes=size_list,
            selectivities=selectivity_list,
            dim=dim,
            k=k,
            n_queries=queries,
            seed=seed,
            kinds=kind_list,
            sentence_vectors=sentence_vectors,
            planner=settings.index.planner(),
            progress=progress,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    emit_report(report, _index_table(report), as_json=as_json, out_file=out_file)


def _index_table(report: dict[str, Any]) -> Table:
    speedups = {(s["size"], s["selectivity"], s["kind"]): s["speedup"] for s in report["speedups"]}
    peak = report["peak_rss_mb"]
    table = Table(
        title=f"Single-query search, dim {report['dim']}, {report['n_queries']} queries, 1 thread",
        caption="filter: selectivity (1 = none); plan: the planner's path; speedup: exact median / this kind's "
        "median; MB: approximate memory (vectors); RSS MB: resident memory the build added"
        f"\nvectors: {report['vectors']}; targets (2 cores): 100k filtered <= 20 %: p50 <= 1 ms, p99 <= 2 ms, "
        "recall 1.0; 1M, every filter: p50 <= 3 ms, p99 <= 10 ms, recall >= 0.95; HNSW build of 1M <= 180 s"
        f"\nwall {report['wall_s']:.0f} s" + ("" if peak is None else f", peak RSS {peak:,.0f} MB"),
    )
    table.add_column("size", justify="right")
    table.add_column("filter", justify="right")
    table.add_column("allowed", justify="right")
    table.add_column("kind")
    table.add_column("plan")
    for numeric in ("median ms", "p99 ms", f"recall@{report['k']}", "build s", "MB", "RSS MB", "speedup"):
        table.add_column(numeric, justify="right")
    for row in report["results"]:
        speedup = speedups.get((row["size"], row["selectivity"], row["kind"]))
        table.add_row(
            f"{row['size']:,}",
            f"{row['selectivity']:g}",
            f"{row['allowed']:,}",
            row["kind"],
            row["plan"] or "",
            f"{row['median_ms']:.3f}",
            f"{row['p99_ms']:.3f}",
            f"{row['recall_at_k']:.3f}",
            f"{row['build_s']:.2f}",
            f"{row['memory_mb']:.1f}",
            "" if row["rss_mb"] is None else f"{row['rss_mb']:.1f}",
            "" if speedup is None else f"{speedup:.1f}x",
        )
    return table


# ------------------------------------------------------------------------------------------------ embed


# Backends compared by default when the configured embedder is a real model.
_COMPARED: tuple[Backend, ...] = ("torch", "torch-bf16", "onnx-fp32", "onnx-int8")


@bench_app.command("embed")
def embed_cmd(
    ctx: typer.Context,
    batch_sizes: Annotated[str, typer.Option(help="Texts per embed call, comma-separated.")] = "1,8,32,128",
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per corpus and batch size.")] = 3,
    texts: Annotated[
        int, typer.Option(min=1, help="Texts per run, rounded up to whole batches (the corpus is cycled).")
    ] = 64,
    backends: Annotated[
        str,
        typer.Option(
            help="Backends compared side by side, comma-separated (torch, torch-bf16, onnx-fp32, onnx-int8); "
            "`auto`: all four when the configured embedder is a real model; `none`: only the configured embedder."
        ),
    ] = "auto",
    compare_texts: Annotated[
        int, typer.Option(min=1, help="Texts per run and corpus in the side-by-side comparison (batch 32).")
    ] = 128,
    latency_queries: Annotated[
        int, typer.Option(min=1, help="Timed single-text calls per backend in the comparison.")
    ] = 200,
    encoders: Annotated[
        str,
        typer.Option(
            help="Encoders whose one-thread cost is measured against issue 16's budget, each in its own process, "
            "comma-separated (minilm, use-m3, use-m3-onnx, fused, fused-onnx); `auto`: all when the configured "
            "embedder is a real model (the ONNX ones when pollinate[use-onnx] is installed); `none`: skip."
        ),
    ] = "auto",
    need_queries: Annotated[
        int, typer.Option(min=1, help="Timed single-need calls per encoder in the cost table.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Texts per second of the configured embedder by batch size, then torch vs ONNX fp32 vs ONNX int8.

    The embedder is called directly (no embedding cache), after one warm-up call; each corpus and batch size
    is timed --repeats times. Then, unless --backends none, the backends run side by side at batch 32 on short
    texts (the demo titles) and on the demo needs and offers, and single-text calls are timed (p50, p99); the
    ONNX models are exported first if missing. Last, unless --encoders none, each encoder and the fused setups
    run side by side, each in its own one-thread process: offers/s when indexing, one need's latency (p50,
    p99), memory added by loading and peak while encoding, and whether issue 16's budget is met (one need <= 60
    ms median, >= 40 offers/s). The default run takes 6 to 9 minutes on 2 shared cores, plus about 3 for the
    encoders.
    """
    batch_size_list = number_list(batch_sizes, "--batch-sizes", int)
    if min(batch_size_list) < 1:
        raise typer.BadParameter("batch sizes must be at least 1", param_hint="--batch-sizes")
    requested = _backend_list(backends)
    cost_encoders = _encoder_list(encoders)
    settings = command_settings(ctx)
    progress(f"loading the embedder {settings.embedding.model}")
    embedder = create_embedder(settings)
    report = run_embed_benchmark(
        embedder, batch_sizes=batch_size_list, n_texts=texts, repeats=repeats, progress=progress
    )
    # With the multilingual encoder the configured embedder is a composite: MiniLM's backends are compared,
    # then the multilingual encoder alone and the fused pair as configured.
    parts = parts_of(embedder)
    english = parts[0]
    compared = _compared_backends(requested, english)
    report["comparison"] = None
    if compared or len(parts) > 1:
        embedders: dict[str, Embedder] = {}
        for backend in compared:
            if _backend_of(english) == backend:
                embedders[backend] = english
            else:
                progress(f"loading the {backend} embedder")
                embedders[backend] = parts_of(create_embedder(_with_backend(settings, backend)))[0]
        if len(parts) > 1:
            embedders[settings.embedding.multilingual] = parts[1]
            embedders["fused"] = embedder
        report["comparison"] = run_backend_comparison(
            embedders, n_texts=compare_texts, repeats=repeats, latency_queries=latency_queries, progress=progress
        )
    report["encoders"] = None
    # As for the backends, `auto` measures the encoders only when the configured embedder is a real model.
    if encoders.strip() in ("", "auto") and _backend_of(english) is None:
        cost_encoders = []
    if cost_encoders:
        report["encoders"] = run_encoder_benchmark(
            settings,
            cost_encoders,
            batch_size=32,
            repeats=repeats,
            latency_queries=need_queries,
            progress=progress,
        )
    tables: list[RenderableType] = [_embed_table(report)]
    if report["comparison"] is not None:
        tables.append(_comparison_table(report["comparison"]))
    if report["encoders"] is not None:
        tables.append(_encoders_table(report["encoders"]))
    emit_report(report, Group(*tables), as_json=as_json, out_file=out_file)


def _backend_list(text: str) -> list[Backend] | None:
    """``--backends`` as backend names; None for `auto`, an empty list for `none`."""
    if text.strip() in ("auto", ""):
        return None
    if text.strip() == "none":
        return []
    names = [part.strip() for part in text.split(",") if part.strip()]
    known: tuple[str, ...] = get_args(Backend)[1:]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(known)}, or auto, none",
            param_hint="--backends",
        )
    return [backend for backend in _COMPARED if backend in names]


def _encoder_list(text: str) -> list[str]:
    """``--encoders`` as encoder names (empty for `none`), checked before any model is loaded."""
    if text.strip() == "none":
        return []
    from embeddings.universal_onnx import available

    try:
        return encoder_names(text, onnx_available=available())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--encoders") from exc


def _encoders_table(report: dict[str, Any]) -> Table:
    budget = report["budget"]
    load = report["load_average"]
    table = Table(
        title="Encoders side by side, one thread each, against the budget",
        caption=f"offers/s: {report['offers']['texts']} demo offers at batch {report['batch_size']}, median of "
        f"{report['repeats']} runs; one need: {report['latency_queries']} single-text calls on the demo needs "
        f"({report['needs']['mean_chars']:.0f} characters on average)\nload MB: resident memory added by loading "
        "(libraries included, a fresh process each); peak MB: the process's peak while encoding"
        f"\nbudget (issue 16): one need <= {budget['need_p50_ms']:.0f} ms median, >= "
        f"{budget['offers_per_s']:.0f} offers/s\n{report['threads_how']}"
        f"\n{report['cpu_count']} CPUs" + ("" if load is None else f", load average {load[0]:.2f} at the start"),
    )
    table.add_column("encoder")
    for numeric in ("dim", "offers/s", "need p50 ms", "need p99 ms", "load MB", "peak MB", "load s"):
        table.add_column(numeric, justify="right")
    table.add_column("budget")
    for row in report["encoders"]:
        misses = [
            label
            for label, met in (("offers/s", row["meets_offers"]), ("latency", row["meets_latency"]))
            if not met
        ]
        table.add_row(
            row["encoder"],
            str(row["dim"]),
            f"{row['offers_per_s']:,.1f}",
            f"{row['need_p50_ms']:.1f}",
            f"{row['need_p99_ms']:.1f}",
            "" if row["load_mb"] is None else f"{row['load_mb']:,.0f}",
            "" if row["peak_mb"] is None else f"{row['peak_mb']:,.0f}",
            f"{row['load_s']:.1f}",
            "meets" if row["meets_budget"] else f"misses {' and '.join(misses)}",
        )
    return table


def _backend_of(embedder: Embedder) -> str | None:
    """The backend name of a model embedder (None for anything else, e.g. the hashing embedder)."""
    from embeddings.onnx import OnnxEmbedder
    from embeddings.transformer import SentenceTransformerEmbedder

    if isinstance(embedder, OnnxEmbedder):
        return embedder.variant
    if isinstance(embedder, SentenceTransformerEmbedder):
        return "torch-bf16" if embedder.precision == "bf16" else "torch"
    return None


def _compared_backends(requested: list[Backend] | None, embedder: Embedder) -> list[Backend]:
    """`auto` compares all three backends only when the configured embedder is one of them (a real model)."""
    if requested is None:
        return list(_COMPARED) if _backend_of(embedder) is not None else []
    return requested


def _with_backend(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"backend": backend})})


def _embed_table(report: dict[str, Any]) -> Table:
    corpora = report["corpora"]
    forward = report["embedder_batch_size"]
    details = [f"{report['repeats']} runs each", f"torch threads {report['torch_threads'] or '-'}"]
    if forward is not None:
        details.append(f"forward passes of at most {forward} texts")
    table = Table(
        title=f"Embedding throughput, {report['model_id']} (dim {report['dim']})",
        caption=f"texts/s: median of the runs; spread: (max - min) / median; {', '.join(details)}",
    )
    table.add_column("corpus")
    table.add_column("mean tokens", justify="right")
    table.add_column("batch", justify="right")
    for numeric in ("texts", "texts/s", "min", "max", "spread", "ms/call"):
        table.add_column(numeric, justify="right")
    for row in report["results"]:
        tokens = corpora[row["corpus"]]["mean_tokens"]
        table.add_row(
            row["corpus"],
            "" if tokens is None else f"{tokens:.0f}",
            str(row["batch_size"]),
            str(row["texts"]),
            f"{row['texts_per_s']:.1f}",
            f"{row['min_texts_per_s']:.1f}",
            f"{row['max_texts_per_s']:.1f}",
            f"{row['spread']:.1%}",
            f"{row['ms_per_call']:.1f}",
        )
    return table


def _comparison_table(comparison: dict[str, Any]) -> Table:
    reference = comparison["reference"]
    corpora = list(comparison["corpora"])
    omp = comparison["omp_num_threads"]
    table = Table(
        title=f"Backends side by side, batch {comparison['batch_size']}",
        caption=f"texts/s: median of {comparison['repeats']} runs (spread in brackets); single text: "
        f"{comparison['latency_queries']} calls on `{comparison['latency_corpus']}` texts; reference: issue 8 "
        f"({reference['conditions']}), target int8 >= {reference['target_int8_texts_per_s']:,.0f}/s and "
        f"p50 <= {reference['target_single_p50_ms']} ms; {comparison['cpu_count']} CPUs, "
        f"OMP_NUM_THREADS={omp or 'unset'}",
    )
    table.add_column("backend")
    table.add_column("threads", justify="right")
    for name in corpora:
        tokens = comparison["corpora"][name]["mean_tokens"]
        header = f"{name} texts/s" + ("" if tokens is None else f"\n({tokens:.0f} tokens)")
        table.add_column(header, justify="right")
    for numeric in ("reference", "speedup", "single p50 ms", "single p99 ms"):
        table.add_column(numeric, justify="right")
    for row in comparison["backends"]:
        reference_rate = row["reference_texts_per_s"]
        table.add_row(
            row["backend"],
            "" if row["threads"] is None else str(row["threads"]),
            *(f"{r['texts_per_s']:,.0f} ({r['spread']:.0%})" for r in row["results"]),
            "" if reference_rate is None else f"{reference_rate:,.0f}",
            f"{row['speedup']:.2f}x",
            f"{row['single_p50_ms']:.2f}",
            f"{row['single_p99_ms']:.2f}",
        )
    return table


bench_app.command("api")(api_cmd)
bench_app.command("assist")(assist_cmd)
bench_app.command("jobs")(jobs_cmd)
bench_app.command("web")(web_cmd)

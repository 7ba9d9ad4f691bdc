"""``pollinate bench``: benchmarks, as speed figures for people to read (tests never assert timings).

``bench_app`` is mounted on the main command line through a plugin entry point, so this module only
defines it. Progress goes to stderr, so that ``--json`` output on stdout can be piped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from evaluation.bench_index import run_index_benchmark

__all__ = ["bench_app"]

bench_app = typer.Typer(help="Benchmarks (speed figures, never test assertions).", no_args_is_help=True)

err = Console(stderr=True)
out = Console()


@bench_app.callback()
def _bench() -> None:
    """Benchmarks (speed figures, never test assertions)."""
    # A callback keeps `index` a subcommand even while it is the only one.


def _numbers(text: str, option: str, kind: type[int] | type[float]) -> list[Any]:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers; got {text!r}", param_hint=option) from None
    if not values:
        raise typer.BadParameter("expected at least one number", param_hint=option)
    return values


@bench_app.command("index")
def index_cmd(
    sizes: Annotated[str, typer.Option(help="Corpus sizes, comma-separated.")] = "10000,100000",
    selectivities: Annotated[
        str, typer.Option(help="Fractions of the corpus the filter allows, comma-separated (1 = no filter).")
    ] = "1,0.1,0.01,0.001",
    queries: Annotated[
        int, typer.Option(min=1, help="Timed single queries per size, selectivity and kind.")
    ] = 200,
    k: Annotated[int, typer.Option(min=1, help="Results per query.")] = 10,
    dim: Annotated[int, typer.Option(min=1, help="Vector dimension (384 for the packaged model).")] = 384,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic vectors, queries and filters.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Single-query latency (median, p99) and recall of the FAISS flat index against NumPy brute force."""
    size_list = _numbers(sizes, "--sizes", int)
    selectivity_list = _numbers(selectivities, "--selectivities", float)
    try:
        report = run_index_benchmark(
            sizes=size_list,
            selectivities=selectivity_list,
            dim=dim,
            k=k,
            n_queries=queries,
            seed=seed,
            progress=lambda message: err.print(f"[dim]{message}[/dim]"),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    text = json.dumps(report, indent=2)
    if out_file is not None:
        out_file.write_text(text + "\n", encoding="utf-8")
    if as_json:
        # Plain stdout: a rich console would highlight and wrap the JSON.
        typer.echo(text)
        return
    out.print(_table(report))
    if out_file is not None:
        out.print(f"JSON report written to {out_file}")


def _table(report: dict[str, Any]) -> Table:
    speedups = {(s["size"], s["selectivity"]): s["speedup"] for s in report["speedups"]}
    table = Table(
        title=f"Single-query search, dim {report['dim']}, {report['n_queries']} queries, 1 thread",
        caption="filter: selectivity (1 = none); speedup: exact median / flat median; MB: approximate memory",
    )
    table.add_column("size", justify="right")
    table.add_column("filter", justify="right")
    table.add_column("allowed", justify="right")
    table.add_column("kind")
    for numeric in ("median ms", "p99 ms", f"recall@{report['k']}", "build s", "MB", "speedup"):
        table.add_column(numeric, justify="right")
    for row in report["results"]:
        speedup = speedups.get((row["size"], row["selectivity"])) if row["kind"] == "flat" else None
        table.add_row(
            f"{row['size']:,}",
            f"{row['selectivity']:g}",
            f"{row['allowed']:,}",
            row["kind"],
            f"{row['median_ms']:.3f}",
            f"{row['p99_ms']:.3f}",
            f"{row['recall_at_k']:.3f}",
            f"{row['build_s']:.2f}",
            f"{row['memory_mb']:.1f}",
            "" if speedup is None else f"{speedup:.1f}x",
        )
    return table

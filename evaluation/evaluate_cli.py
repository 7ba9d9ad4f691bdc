"""``pollinate evaluate``: ranking quality of the configured ranker on a gold set (a plugin command).

Progress goes to stderr; ``--json`` prints ``metrics.json`` on stdout so that it can be piped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from embeddings import Embedder
from evaluation.calibration import BINS, FIT_DEPTH, SHOWN
from evaluation.dataset import GoldSet, GoldSetError, load_gold_set, load_parallel_needs
from evaluation.harness import DEFAULT_CONFIG, HEADLINE, MEASURES, Evaluation, default_configs, evaluate
from evaluation.options import command_settings
from evaluation.parallel import OVERLAP_DEPTH, evaluate_parallel
from evaluation.report import write_outputs
from matcher.engine.service import create_embedder
from matcher.settings import Settings

__all__ = ["evaluate_cmd"]

err = Console(stderr=True)
out = Console()


def evaluate_cmd(
    ctx: typer.Context,
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset", help="Gold-set directory: needs.jsonl, offers.jsonl, qrels.tsv (the dev set's format)."
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write metrics.json, details.json, per_need.csv, report.md and the PNG plots here "
            "(default: print the summary only).",
        ),
    ] = None,
    configs: Annotated[
        str | None,
        typer.Option(
            help="Configurations to run, comma-separated (default: all; the default ranker always runs). "
            "Known: bm25, dense, dense+targets, hybrid, hybrid+region, and hybrid-<part> ablations."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Embedding model (default: POLLINATE_EMBEDDING__MODEL, the packaged model).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples for the confidence intervals (0: none).")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    write_calibration: Annotated[
        Path | None,
        typer.Option(
            "--write-calibration",
            help="Write the fit-verdict calibration fitted on this gold set to this JSON file (the shipped one "
            "is matcher/data/fit_calibration.json).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json on stdout.")] = False,
    parallel: Annotated[
        Path | None,
        typer.Option(
            "--parallel",
            help="A parallel set (needs_<language>.jsonl, the gold set's needs in each language): rank every "
            "version with the default ranker and report nDCG@10 per language and the top-5 overlap with English, "
            "instead of the configurations.",
        ),
    ] = None,
) -> None:
    """Ranking quality on a gold set: BM25, dense, the default ranker, a region filter and ablations."""
    settings = command_settings(ctx)
    if model is not None:
        settings = settings.model_copy(
            update={"embedding": settings.embedding.model_copy(update={"model": model})}
        )
    known = [c.name for c in default_configs(settings.ranking)]
    names = None
    if configs is not None:
        names = [name.strip() for name in configs.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise typer.BadParameter(
                f"unknown configuration(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}",
                param_hint="--configs",
            )
    try:
        gold = load_gold_set(dataset)
    except GoldSetError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    for warning in gold.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    with err.status(f"loading the model {settings.embedding.model}..."):
        try:
            embedder = create_embedder(settings)
        except Exception as exc:  # any loading failure: say which model and why, no traceback
            err.print(f"[red]cannot load the embedding model {settings.embedding.model!r}: {exc}[/red]")
            raise typer.Exit(2) from exc
    if parallel is not None:
        _parallel(gold, parallel, embedder, settings=settings, out_dir=out_dir, as_json=as_json)
        return
    evaluation = evaluate(
        gold,
        embedder,
        model=settings.embedding.model,
        ranking=settings.ranking,
        configs=names,
        index_kind=settings.index.kind,
        bootstrap_resamples=bootstrap,
        seed=seed,
        progress=lambda message: err.print(f"[dim]{message}[/dim]"),
    )
    if write_calibration is not None:
        if evaluation.calibration is None:
            err.print(f"[red]cannot fit a calibration: {evaluation.calibration_problem}[/red]")
            raise typer.Exit(1)
        text = json.dumps(evaluation.calibration.fitted.as_json(), indent=2) + "\n"
        write_calibration.parent.mkdir(parents=True, exist_ok=True)
        write_calibration.write_text(text, encoding="utf-8")
        err.print(f"wrote the fit-verdict calibration to {write_calibration}")
    if out_dir is not None:
        paths = write_outputs(evaluation, out_dir)
        err.print(f"wrote {', '.join(p.name for p in paths.values())} to {out_dir}")
    if as_json:
        typer.echo(json.dumps(evaluation.metrics_json(), indent=2))
        return
    out.print(_summary(evaluation))
    if evaluation.calibration is not None:
        out.print(_calibration_summary(evaluation))
    default = evaluation.runs[DEFAULT_CONFIG]
    if default.ci is not None:
        out.print(
            f"default ranker ({DEFAULT_CONFIG}) {HEADLINE} {default.metrics[HEADLINE]:.3f}, "
            f"95% CI [{default.ci.low:.3f}, {default.ci.high:.3f}] over {len(gold.judged_needs)} needs"
        )


def _parallel(
    gold: GoldSet, path: Path, embedder: Embedder, *, settings: Settings, out_dir: Path | None, as_json: bool
) -> None:
    """``--parallel``: every language version ranked and scored, and its overlap with English."""
    try:
        versions = load_parallel_needs(path, gold)
    except GoldSetError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    result = evaluate_parallel(
        gold,
        versions,
        embedder,
        model=settings.embedding.model,
        ranking=settings.ranking,
        index_kind=settings.index.kind,
        progress=lambda message: err.print(f"[dim]{message}[/dim]"),
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "parallel.json").write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
        err.print(f"wrote parallel.json to {out_dir}")
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
        return
    table = Table(
        title=f"{path.name}: {len(gold.judged_needs)} needs in {len(result.runs)} languages, {result.model}",
        caption=f"overlap@{OVERLAP_DEPTH}: mean share of the top {OVERLAP_DEPTH} shared with the "
        f"{result.reference} version",
    )
    table.add_column("language")
    for name in (HEADLINE, "nDCG@5", "MRR@10", "R@10"):
        table.add_column(name, justify="right")
    table.add_column(f"overlap@{OVERLAP_DEPTH}", justify="right")
    for language, run in result.runs.items():
        table.add_row(
            language,
            *(f"{run.metrics[m]:.3f}" for m in (HEADLINE, "nDCG@5", "MRR@10", "R@10")),
            f"{run.overlap:.2f}",
        )
    out.print(table)


def _summary(evaluation: Evaluation) -> Table:
    gold = evaluation.gold
    table = Table(
        title=f"{gold.name}: {len(gold.judged_needs)} needs scored, {len(gold.offers)} offers, {evaluation.model}",
        caption="diff: default minus config, with its 95% CI (paired bootstrap over needs)",
    )
    table.add_column("config")
    for name in MEASURES:
        table.add_column(name, justify="right")
    table.add_column("diff", justify="right")
    for name, run in evaluation.runs.items():
        diff = run.versus_default
        table.add_row(
            f"[bold]{name}[/bold]" if name == DEFAULT_CONFIG else name,
            *(f"{run.metrics[m]:.3f}" for m in MEASURES),
            "" if diff is None else f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]",
        )
    return table


def _calibration_summary(evaluation: Evaluation) -> Table:
    study = evaluation.calibration
    assert study is not None
    table = Table(
        title=f"Fit verdicts: probability of grade >= 2, held out by need ({study.folds} folds)",
        caption=f"ECE over {BINS} equal-width bins on the top {SHOWN} and top {FIT_DEPTH} of each need; "
        "shipped: matcher/data/fit_calibration.json as is",
    )
    table.add_column("method")
    errors = study.errors()
    names = list(next(iter(errors.values())))
    for name in names:
        table.add_column(name, justify="right")
    for method, values in errors.items():
        table.add_row(method, *(f"{values[n]:.3f}" for n in names))
    return table

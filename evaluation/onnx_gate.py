"""``pollinate embed export`` and ``pollinate embed gate``: the ONNX models and their quality gate.

The gate compares each ONNX variant with the torch model on the need and offer texts of a gold set (the texts
the service embeds: :func:`matcher.engine.texts.record_text`): the mean cosine between the two vectors of each
text, and, for each need, the overlap of its top-10 offers ranked by cosine with either embedder. A variant passes
with a mean cosine of at least 0.99 and a mean top-10 overlap of at least 0.95. The result is recorded with
the export (``gate.json``), where ``POLLINATE_EMBEDDING__BACKEND=auto`` reads it
(:func:`embeddings.onnx.choose_backend`).

The default gold set is the hand-written dev set beside the repository (``../shared/eval/dev``) when it is
there, else the demo corpus shipped with Pollinate (as the evaluation notebook does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from embeddings import Embedder
from embeddings.composite import parts_of
from embeddings.onnx import (
    GATE_MIN_COSINE,
    GATE_MIN_OVERLAP,
    VARIANTS,
    Backend,
    ExportManifest,
    GatedBackend,
    GateRecord,
    GateResult,
    choose_backend,
    export_dir,
    export_model,
    library_versions,
    write_gate,
)
from evaluation.dataset import GoldSet, GoldSetError, load_gold_set
from evaluation.options import command_settings, progress
from matcher.data import DEMO_DIR
from matcher.engine.service import create_embedder
from matcher.engine.texts import record_text
from matcher.settings import Settings

__all__ = ["default_gate_dataset", "evaluate_gate", "export_cmd", "gate_cmd", "gate_texts", "run_gate"]

# The dev gold set beside the repository (``<repo>/../shared/eval/dev``); absent from an installed package.
SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"
GATE_K = 10

_err = Console(stderr=True)
_out = Console()


def evaluate_gate(
    reference_needs: NDArray[np.float32],
    reference_offers: NDArray[np.float32],
    candidate_needs: NDArray[np.float32],
    candidate_offers: NDArray[np.float32],
    *,
    k: int = GATE_K,
    min_cosine: float = GATE_MIN_COSINE,
    min_overlap: float = GATE_MIN_OVERLAP,
) -> GateResult:
    """Judge a candidate embedder's vectors against the reference's, text by text and ranking by ranking.

    Vectors are unit rows (inner product == cosine), one per need or offer, in the same order on both sides.

    Args:
        reference_needs: the reference (torch) vectors of the need texts; reference_offers of the offer texts.
        candidate_needs: the candidate's vectors of the same need texts; candidate_offers of the offer texts.
        k: ranking depth of the overlap (capped at the number of offers).
        min_cosine: the lowest mean cosine that passes.
        min_overlap: the lowest mean top-k overlap that passes.

    Returns:
        The mean and lowest cosine over all texts, the mean top-k overlap over needs, and the verdict.

    Raises:
        ValueError: Shapes that differ between reference and candidate, or no needs or offers.
    """
    if reference_needs.shape != candidate_needs.shape or reference_offers.shape != candidate_offers.shape:
        raise ValueError(
            f"reference and candidate shapes differ: needs {reference_needs.shape} vs {candidate_needs.shape}, "
            f"offers {reference_offers.shape} vs {candidate_offers.shape}"
        )
    if not len(reference_needs) or not len(reference_offers):
        raise ValueError("the gate needs at least one need and one offer")
    reference = np.vstack([reference_needs, reference_offers])
    candidate = np.vstack([candidate_needs, candidate_offers])
    cosines = np.einsum("ij,ij->i", reference, candidate)
    depth = min(k, len(reference_offers))
    # Stable sorts: offers tied on score keep file order on both sides, so ties cannot fake a difference.
    reference_top = np.argsort(-(reference_needs @ reference_offers.T), axis=1, kind="stable")[:, :depth]
    candidate_top = np.argsort(-(candidate_needs @ candidate_offers.T), axis=1, kind="stable")[:, :depth]
    overlaps = [
        len(set(a.tolist()) & set(b.tolist())) / depth for a, b in zip(reference_top, candidate_top, strict=True)
    ]
    # Rounded before comparing: a mean of exact shares (0.95) must not fail on its float sum (0.9499...).
    mean_cosine = round(float(cosines.mean()), 6)
    overlap = round(float(np.mean(overlaps)), 6)
    return GateResult(
        mean_cosine=mean_cosine,
        min_cosine=round(float(cosines.min()), 6),
        overlap=overlap,
        k=depth,
        texts=len(reference),
        needs=len(reference_needs),
        min_mean_cosine=min_cosine,
        min_overlap=min_overlap,
        passed=mean_cosine >= min_cosine and overlap >= min_overlap,
    )


def default_gate_dataset() -> Path:
    """The dev gold set beside the repository if present, else the demo corpus shipped with Pollinate."""
    return SHARED_DEV if (SHARED_DEV / "qrels.tsv").is_file() else DEMO_DIR


def gate_texts(gold: GoldSet) -> tuple[list[str], list[str]]:
    """The need texts and the offer texts the service would embed for a gold set."""
    needs = [record_text(n.title, n.description, n.targets) for n in gold.needs]
    offers = [record_text(o.title, o.description, o.targets) for o in gold.offers]
    return needs, offers


def run_gate(
    reference: Embedder,
    candidates: Mapping[GatedBackend, Embedder],
    gold: GoldSet,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[GatedBackend, GateResult]:
    """Embed the gold set's texts with the reference and each candidate, and judge each candidate."""
    say = progress or (lambda _message: None)
    needs, offers = gate_texts(gold)
    say(f"embedding {len(needs)} needs and {len(offers)} offers with {reference.model_id}")
    reference_needs, reference_offers = reference.embed(needs), reference.embed(offers)
    results: dict[GatedBackend, GateResult] = {}
    for variant, candidate in candidates.items():
        say(f"embedding them with {candidate.model_id}")
        results[variant] = evaluate_gate(
            reference_needs, reference_offers, candidate.embed(needs), candidate.embed(offers)
        )
    return results


def _with_backend(settings: Settings, backend: Backend) -> Settings:
    embedding = settings.embedding.model_copy(update={"backend": backend})
    return settings.model_copy(update={"embedding": embedding})


def _minilm(settings: Settings, backend: Backend) -> Embedder:
    """MiniLM alone on ``backend``: with the multilingual encoder configured, ``create_embedder`` returns the
    fused pair, whose identical USE-m3 half would lift every cosine the gate compares."""
    return parts_of(create_embedder(_with_backend(settings, backend)))[0]


def _ensure_export(settings: Settings, *, force: bool = False) -> tuple[Path, ExportManifest]:
    directory = export_dir(settings.cache_dir, settings.embedding.model)
    try:
        manifest = export_model(settings.embedding.model, directory, force=force, progress=progress)
    except ValueError as exc:
        _err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    return directory, manifest


def export_cmd(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Export again even if the export is complete.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export manifest as JSON on stdout.")] = False,
) -> None:
    """Export the configured model to ONNX (fp32, and int8 by dynamic quantisation) into the cache.

    Done once per model version (about 10 s for the packaged model, 150 MB on disk); an existing complete
    export is kept unless --force. A new export voids the recorded gate: run `pollinate embed gate` next.
    """
    settings = command_settings(ctx)
    started = time.perf_counter()
    directory, manifest = _ensure_export(settings, force=force)
    report = {"directory": str(directory), "wall_s": round(time.perf_counter() - started, 2), **asdict(manifest)}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"ONNX export of {manifest.model_id}", caption=str(directory))
    table.add_column("variant")
    table.add_column("file")
    table.add_column("MB", justify="right")
    table.add_column("sha256")
    for variant in VARIANTS:
        entry = manifest.files[variant]
        table.add_row(variant, entry["file"], f"{entry['bytes'] / 1e6:.1f}", str(entry["sha256"])[:16])
    _out.print(table)
    _out.print(
        f"exported {manifest.exported_at}: fp32 export {manifest.export_s:.1f} s, int8 quantisation "
        f"{manifest.quantise_s:.1f} s (this run: {report['wall_s']:.1f} s, model load included)"
    )
    _out.print(
        f"recipe {manifest.recipe}: int8 keeps {len(manifest.int8_fp32_nodes)} MatMuls in fp32", highlight=False
    )


def gate_cmd(
    ctx: typer.Context,
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
    """Quality gate of the ONNX models and of torch bf16 against torch; records it for backend auto.

    For ONNX fp32 and int8, and torch bf16 where the CPU computes it natively: mean cosine to the torch fp32
    vectors over the gold set's need and offer texts (pass at 0.99 or more) and mean top-10 overlap of each
    need's offer ranking (pass at 0.95 or more). Exports first if needed. Exits with 1 when no variant passes.
    """
    settings = command_settings(ctx)
    source = dataset if dataset is not None else default_gate_dataset()
    try:
        gold = load_gold_set(source)
    except GoldSetError as exc:
        _err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    started = time.perf_counter()
    directory, manifest = _ensure_export(settings)
    progress("loading the torch model in fp32 and bf16, and both ONNX models")
    reference = _minilm(settings, "torch")
    candidates: dict[GatedBackend, Embedder] = {variant: _minilm(settings, variant) for variant in VARIANTS}
    bf16 = _minilm(settings, "torch-bf16")
    # Without native bf16 the embedder falls back to fp32 (its model id says so): nothing to gate.
    if bf16.model_id != reference.model_id:
        candidates["torch-bf16"] = bf16
    else:
        progress("torch-bf16: this CPU has no native bf16, so it is not gated (auto never serves it here)")
    results = run_gate(reference, candidates, gold, progress=progress)
    record = GateRecord(
        model_id=manifest.model_id,
        results={str(variant): result for variant, result in results.items()},
        files={variant: str(manifest.files[variant]["sha256"]) for variant in VARIANTS},
        dataset=str(source.resolve()),
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=library_versions(),
        recipe=manifest.recipe,
    )
    path = write_gate(directory, record)
    choice = choose_backend("auto", directory)
    report: dict[str, Any] = {
        **record.to_json(),
        "gate_file": str(path),
        "auto_backend": choice.backend,
        "auto_reason": choice.reason,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _out.print(_gate_table(record, gold))
        _out.print(f"recorded in {path}; POLLINATE_EMBEDDING__BACKEND=auto now uses {choice.backend}")
    if not any(result.passed for result in results.values()):
        raise typer.Exit(1)


def _gate_table(record: GateRecord, gold: GoldSet) -> Table:
    first = next(iter(record.results.values()))
    table = Table(
        title=f"Quality gate vs torch fp32: {gold.name} ({len(gold.needs)} needs, {len(gold.offers)} offers)",
        caption=f"pass: mean cosine >= {first.min_mean_cosine} and top-{first.k} overlap >= {first.min_overlap}; "
        f"{record.model_id}; export recipe {record.recipe}",
    )
    table.add_column("variant")
    table.add_column("mean cosine", justify="right")
    table.add_column("min cosine", justify="right")
    table.add_column(f"top-{first.k} overlap", justify="right")
    table.add_column("gate")
    for variant, result in record.results.items():
        table.add_row(
            variant,
            f"{result.mean_cosine:.4f}",
            f"{result.min_cosine:.4f}",
            f"{result.overlap:.3f}",
            "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]",
        )
    return table

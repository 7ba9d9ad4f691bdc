"""``pollinate suggest`` (the need-writing assistant on a draft in a file) and ``pollinate assist train``
(refit the suggestion models on the bundled examples and the catalogue)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from embeddings import l2_normalise
from matcher.access.rules import Principal
from matcher.assist import measure
from matcher.assist.examples import bundled_examples, draft_text
from matcher.assist.prompts import render
from matcher.assist.service import Assistance, AssistService, Draft, saved_models_path
from matcher.assist.suggest import TARGET_LABELS, TYPE_LABELS
from matcher.engine.service import create_embedder
from matcher.engine.store import EmbeddingStore
from matcher.engine.texts import detect_language
from matcher.errors import PollinateError
from matcher.records.interchange import (
    AssistanceType,
    CountryCode,
    Description,
    LanguageCode,
    TargetNumber,
    Title,
)
from matcher.settings import Settings
from models import migrate

assist_app = typer.Typer(help="The need-writing assistant's models.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()
# The operator reads every need (like `pollinate export`): the command line is not a Party's session.
OPERATOR = Principal(role="admin")


class DraftFile(BaseModel):
    """A draft need as a JSON object (the gold-set need fields; unknown fields are an error)."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description
    party: CountryCode | None = None
    targets: list[TargetNumber] = Field(default_factory=list, max_length=23)
    assistance_types: list[AssistanceType] = Field(default_factory=list, max_length=9)
    language: LanguageCode | None = None


def assistance_json(assistance: Assistance) -> dict[str, object]:
    """The JSON shape of the assistant's answer (issue 17): targets, assistance types, missing information and
    duplicates, plus the places the text names."""
    lang = assistance.language
    return {
        "targets": [
            {"target": int(s.label), "probability": s.probability} for s in assistance.suggestions.shown_targets
        ],
        "assistance_types": [
            {"type": s.label, "probability": s.probability} for s in assistance.suggestions.shown_types
        ],
        "missing": [{"field": g.field, "code": g.code, "prompt": render(g, lang)} for g in assistance.missing],
        "duplicates": [
            {"need_id": d.record.external_id or str(d.record.id), "similarity": d.similarity}
            for d in assistance.duplicates
        ],
        "places": [{"kind": p.kind, "code": p.code, "region": p.region} for p in assistance.places],
    }


def _read_draft(source: str) -> Draft:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        parsed = DraftFile.model_validate_json(text)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--need") from exc
    return Draft(
        title=parsed.title,
        description=parsed.description,
        party=parsed.party,
        targets=tuple(parsed.targets),
        assistance_types=tuple(parsed.assistance_types),
        language=parsed.language,
    )


def _service(settings: Settings) -> AssistService:
    db = settings.open_database()
    migrate.upgrade(db)
    store = EmbeddingStore(db, create_embedder(settings))
    return AssistService(store, model_path=saved_models_path(settings))


def suggest_cmd(
    ctx: typer.Context,
    need: Annotated[str, typer.Option("--need", help="A draft need as one JSON object (- for stdin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Suggest targets and assistance types for a draft need, say what it is missing and show similar needs."""
    settings = ctx.obj
    assert isinstance(settings, Settings)
    draft = _read_draft(need)
    service = _service(settings)
    try:
        with err.status("loading the model..."), service.store.db.transaction(read_only=True) as session:
            assistance = service.assist_need(session, OPERATOR, draft)
    except PollinateError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        service.store.db.dispose()
    if as_json:
        print(json.dumps(assistance_json(assistance), ensure_ascii=False, indent=2))
        return
    shown = assistance.suggestions
    targets = ", ".join(f"{s.label} ({s.probability:.2f})" for s in shown.shown_targets) or "none likely"
    types = ", ".join(f"{s.label} ({s.probability:.2f})" for s in shown.shown_types) or "none likely"
    out.print(f"targets: {targets}\nassistance types: {types}")
    for gap in assistance.missing:
        out.print(f"- [{gap.field}] {render(gap, assistance.language)}")
    for d in assistance.duplicates:
        out.print(f"similar need {d.record.external_id or d.record.id} ({d.similarity:.2f})")


@assist_app.command("train")
def train_cmd(ctx: typer.Context) -> None:
    """Refit the suggestion models on the bundled examples plus the catalogue's public needs and active offers,
    and save them where the API reads them (the data directory)."""
    settings = ctx.obj
    assert isinstance(settings, Settings)
    service = _service(settings)
    try:
        with service.store.db.transaction(read_only=True) as session:
            report = service.train(session)
    finally:
        service.store.db.dispose()
    sources = ", ".join(f"{n} {s}" for s, n in sorted(report.by_source.items()))
    out.print(f"fitted on {report.examples} examples ({sources}); saved to {report.path}")


def _labelled_needs(path: Path) -> list[tuple[str, tuple[str, ...], tuple[str, ...], str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(
                (
                    draft_text(row["title"], row["description"]),
                    tuple(str(t) for t in row["targets"]),
                    tuple(row["assistance_types"]),
                    row.get("language") or detect_language(row["description"]),
                )
            )
    return rows


@assist_app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    needs: Annotated[
        Path | None,
        typer.Option(
            "--needs", help="Labelled needs (JSONL: title, description, targets, assistance_types).", exists=True
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Measure the suggestion learners: cross-validation on the bundled examples, and on ``--needs`` per
    language (fitted on the bundled examples only), recall@3 and precision of what is shown."""
    settings = ctx.obj
    assert isinstance(settings, Settings)
    service = _service(settings)
    try:
        examples = bundled_examples()
        with err.status("embedding the examples..."):
            vectors = l2_normalise(service.store.get([e.text for e in examples])[0])
            rows = _labelled_needs(needs) if needs is not None else []
            held = service.embed_drafts([r[0] for r in rows]) if rows else None
    finally:
        service.store.db.dispose()
    report: dict[str, dict[str, measure.Scores]] = {}
    for kind in ("targets", "types"):
        for learner in measure.LEARNERS:
            key = f"{kind}/{learner}"
            entry = {"cross_validation": measure.cross_validate(learner, examples, vectors, kind)}
            if held is not None:
                items = [
                    measure.Labelled(text, targets if kind == "targets" else types, lang)
                    for text, targets, types, lang in rows
                ]
                p = measure.predict(learner, examples, vectors, kind, [i.text for i in items], held)
                labels = TARGET_LABELS if kind == "targets" else TYPE_LABELS
                entry.update(measure.by_language(p, items, labels))
            report[key] = entry
    if as_json:
        print(json.dumps(report, default=lambda s: dataclasses.asdict(s), indent=2))
        return
    table = Table("labels / learner", "set", "recall@3", "precision shown", "shown", "texts")
    for key, entry in report.items():
        for name, got in entry.items():
            recall, precision = f"{got.recall_at_3:.3f}", f"{got.precision_shown:.3f}"
            table.add_row(key, name, recall, precision, str(got.shown), str(got.texts))
    out.print(table)

"""``pollinate connectors …``: list, validate and run the connectors of the definitions folder, and read their
runs (the worker runs scheduled ones; see docs/connectors.md).

The command line acts as the operator of the database it is pointed at.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from matcher.access.rules import Principal
from matcher.connectors import service
from matcher.connectors.harvest import RunReport
from matcher.errors import PollinateError
from matcher.settings import Settings
from models.connectors import ConnectorRepository

connectors_app = typer.Typer(
    help="Connectors: harvest partners' databases (definitions in the connectors folder).", no_args_is_help=True
)
OPERATOR = Principal(role="admin")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


@connectors_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Every connector of the definitions folder: kind, source, schedule and last run."""
    settings = _settings(ctx)
    definitions, errors = service.ConnectorCatalog.from_settings(settings).load()
    db = settings.open_database()
    try:
        with db.transaction(read_only=True) as session:
            last = ConnectorRepository(session).last_runs()
            table = Table("name", "kind", "mapping", "source", "schedule", "last run")
            for name, definition in sorted(definitions.items()):
                run = last.get(name)
                table.add_row(
                    name,
                    definition.kind,
                    definition.mapping,
                    definition.source.url or definition.source.file or "",
                    definition.schedule or "on demand",
                    f"{run.status} at {run.started_at:%Y-%m-%d %H:%M}" if run else "never",
                )
    finally:
        db.dispose()
    out.print(f"connectors in {settings.connectors_dir}:")
    out.print(table)
    for error in errors:
        err.print(error, style="red", markup=False)
    if errors:
        raise typer.Exit(1)


@connectors_app.command("validate")
def validate_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Definition files (TOML).", exists=False)],
) -> None:
    """Check definition files without running them; errors name the file, the line and the field."""
    failed = False
    for path in paths:
        try:
            definition = service.validate_file(path)
        except PollinateError as exc:
            err.print(str(exc), style="red", markup=False)
            failed = True
            continue
        out.print(f"{path}: ok ({definition.name}: {definition.kind}, mapping {definition.mapping})", markup=False)
    if failed:
        raise typer.Exit(1)


def _print_report(report: RunReport, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    out.print(f"run {report.run_id}: {report.summary()}", markup=False)
    for item in report.invalid:
        out.print(f"  invalid {item.source_id}: {item.reason}", markup=False)


@connectors_app.command("run")
def run_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The connector's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Harvest one connector now: created, updated, unchanged, withdrawn and invalid records (exit 1 if the
    run failed; it then wrote nothing)."""
    settings = _settings(ctx)
    db = settings.open_database()
    try:
        report = service.run_named(db, settings, name, trigger="cli")
    except PollinateError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    _print_report(report, as_json)
    if report.status == "failed":
        raise typer.Exit(1)


@connectors_app.command("runs")
def runs_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this connector's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
) -> None:
    """The latest runs and their reports."""
    db = _settings(ctx).open_database()
    try:
        with db.transaction(read_only=True) as session:
            runs, _total = service.list_runs(session, OPERATOR, name, limit=limit, offset=0)
            for run in runs:
                line = (
                    f"run {run.id} {run.connector}: {run.status} at {run.started_at:%Y-%m-%d %H:%M:%S}, "
                    f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
                    f"{run.withdrawn} withdrawn, {len(run.invalid)} invalid"
                )
                out.print(line + (f" ({run.error})" if run.error else ""), markup=False)
    finally:
        db.dispose()

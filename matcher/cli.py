"""The ``pollinate`` command line (typer).

Settings are built once in the callback from the environment (``POLLINATE_*``) and passed to every command
through the typer context.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from matcher import seed as seed_module
from matcher.bulk import Format, ImportReport, Kind, export_records, import_file
from matcher.errors import PollinateError
from matcher.settings import Settings
from models import migrate

app = typer.Typer(
    name="pollinate",
    help="Pollinate: match biodiversity cooperation needs with the organisations that can help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
import_app = typer.Typer(help="Import needs or offers from JSONL or CSV (gold-set format).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")

err = Console(stderr=True)
out = Console()

# How many bad rows to print before summarising (the report file, if asked for, has them all).
_MAX_ERRORS_SHOWN = 200


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@app.callback()
def _main(ctx: typer.Context) -> None:
    """Configuration comes from POLLINATE_* environment variables; `pollinate settings` lists them."""
    try:
        ctx.obj = Settings()
    except ValidationError as exc:
        err.print(f"[red]invalid settings:[/red]\n{exc}")
        raise typer.Exit(2) from exc


@app.command("settings")
def settings_cmd(ctx: typer.Context) -> None:
    """Show every setting: environment variable, current value and meaning."""
    settings = _settings(ctx)
    table = Table("variable", "value", "meaning")
    current = settings.model_dump()
    for env, _default, description in Settings.table():
        path = env.removeprefix("POLLINATE_").lower().split("__")
        value: object = current
        for part in path:
            value = value[part] if isinstance(value, dict) else None
        if env == "POLLINATE_DATABASE__URL" and value is None:
            value = f"(default) {settings.database_url}"
        table.add_row(env, str(value), description)
    out.print(table)


# ------------------------------------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (safe to run repeatedly)."""
    settings = _settings(ctx)
    db = settings.open_database()
    try:
        migrate.upgrade(db, revision)
        out.print(f"database at revision {migrate.current_revision(db)} ({_redacted(settings)})")
    finally:
        db.dispose()


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and this version's head."""
    db = _settings(ctx).open_database()
    try:
        out.print(f"current: {migrate.current_revision(db)}  head: {migrate.head_revision()}")
    finally:
        db.dispose()


# -------------------------------------------------------------------------------------------- import


def _run_import(ctx: typer.Context, kind: Kind, path: Path, skip_invalid: bool, fmt: Format | None) -> None:
    settings = _settings(ctx)
    db = settings.open_database()
    progress = Progress(
        TextColumn(f"importing {kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(kind, start=False)

    def validated(report: ImportReport) -> None:
        if report.errors and not skip_invalid:
            return
        progress.update(task, total=report.valid)
        progress.start_task(task)
        progress.start()

    try:
        migrate.upgrade(db)
        with progress:
            report = import_file(
                db,
                path,
                kind,
                fmt=fmt,
                skip_invalid=skip_invalid,
                on_validated=validated,
                on_progress=lambda n: progress.advance(task, n),
            )
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()

    for row_error in report.errors[:_MAX_ERRORS_SHOWN]:
        err.print(f"[yellow]{path.name}:{row_error.line}[/yellow] {row_error.message}", highlight=False)
    if len(report.errors) > _MAX_ERRORS_SHOWN:
        err.print(f"... and {len(report.errors) - _MAX_ERRORS_SHOWN} more bad rows")
    if not report.written:
        err.print(
            f"[red]{len(report.errors)} of {report.rows} rows are invalid; nothing was imported.[/red] "
            "Fix them, or pass --skip-invalid to import the valid rows."
        )
        raise typer.Exit(1)
    skipped = f", {len(report.errors)} invalid rows skipped" if report.errors else ""
    out.print(f"{kind}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged{skipped}")


FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .jsonl or .csv file.")
]
SkipInvalid = Annotated[
    bool, typer.Option("--skip-invalid", help="Import the valid rows even if some rows are bad.")
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the file suffix).")]


def _format(value: str | None) -> Format | None:
    if value is None:
        return None
    if value not in ("jsonl", "csv"):
        raise typer.BadParameter(f"unknown format {value!r}; use jsonl or csv", param_hint="--format")
    return "jsonl" if value == "jsonl" else "csv"


@import_app.command("offers")
def import_offers(
    ctx: typer.Context, file: FileArg, skip_invalid: SkipInvalid = False, fmt: FormatOpt = None
) -> None:
    """Import offers; every row is validated first and nothing is written if any is bad."""
    _run_import(ctx, "offers", file, skip_invalid, _format(fmt))


@import_app.command("needs")
def import_needs(
    ctx: typer.Context, file: FileArg, skip_invalid: SkipInvalid = False, fmt: FormatOpt = None
) -> None:
    """Import needs; every row is validated first and nothing is written if any is bad."""
    _run_import(ctx, "needs", file, skip_invalid, _format(fmt))


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="needs or offers")],
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
) -> None:
    """Export every need or offer in the gold-set format (re-importable)."""
    if kind not in ("needs", "offers"):
        raise typer.BadParameter(f"unknown kind {kind!r}; use needs or offers", param_hint="KIND")
    chosen = _format(fmt) or "jsonl"
    db = _settings(ctx).open_database()
    try:
        if out_path is None:
            count = export_records(db, "needs" if kind == "needs" else "offers", sys.stdout, fmt=chosen)
        else:
            with out_path.open("w", encoding="utf-8", newline="") as handle:
                count = export_records(db, "needs" if kind == "needs" else "offers", handle, fmt=chosen)
    finally:
        db.dispose()
    err.print(f"exported {count} {kind}")


# ------------------------------------------------------------------------------------------ seed/serve


@app.command("seed")
def seed_cmd(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Load the bundled demo corpus.")] = False,
) -> None:
    """Load the bundled demo corpus into the configured database (idempotent)."""
    if not demo:
        raise typer.BadParameter("nothing to seed; pass --demo to load the bundled demo corpus")
    db = _settings(ctx).open_database()
    try:
        migrate.upgrade(db)
        reports = seed_module.seed_demo(db)
    finally:
        db.dispose()
    for report in reports:
        out.print(
            f"demo {report.kind}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged"
        )


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo corpus first.")] = False,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: POLLINATE_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: POLLINATE_API__PORT).")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema before serving.")
    ] = True,
) -> None:
    """Start the HTTP service (uvicorn)."""
    import uvicorn

    settings = _settings(ctx)
    db = settings.open_database()
    try:
        if migrate_first or demo:
            migrate.upgrade(db)
        if demo:
            for report in seed_module.seed_demo(db):
                out.print(f"demo {report.kind}: {report.created} created, {report.unchanged} unchanged")
    finally:
        db.dispose()
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    out.print(f"serving on http://{bind_host}:{bind_port} (database: {_redacted(settings)})")
    # The app factory rebuilds the same Settings from the same environment (this process's).
    os.environ.setdefault("POLLINATE_DATA_DIR", str(settings.data_dir))
    uvicorn.run("api.app:create_app_from_env", factory=True, host=bind_host, port=bind_port)


def _redacted(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def main() -> None:
    """Console-script entry point."""
    app()

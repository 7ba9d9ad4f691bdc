"""Command-line plumbing shared by the evaluation commands: their settings, comma-separated number lists, how
benchmarks answer errors and print their reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console, RenderableType

from matcher.settings import Settings

_err = Console(stderr=True)
_out = Console()


def progress(message: str) -> None:
    """A dim progress line on stderr (stdout stays for the report)."""
    _err.print(f"[dim]{message}[/dim]", highlight=False)


def command_settings(ctx: typer.Context) -> Settings:
    """The settings built by the ``pollinate`` callback, or from the environment when a command runs alone."""
    if ctx.obj is None:
        try:
            ctx.obj = Settings()
        except ValidationError as exc:
            _err.print(f"[red]invalid settings:[/red]\n{exc}")
            raise typer.Exit(2) from exc
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def number_list(
    text: str, option: str, kind: type[int] | type[float] = int, *, positive: bool = False
) -> list[Any]:
    """``"10000,100000"`` as numbers (a usage error naming ``option`` otherwise)."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers; got {text!r}", param_hint=option) from None
    if not values:
        raise typer.BadParameter("expected at least one number", param_hint=option)
    if positive and min(values) <= 0:
        raise typer.BadParameter(f"expected positive numbers; got {text!r}", param_hint=option)
    return values


@contextmanager
def benchmark_errors() -> Iterator[None]:
    """How a benchmark command answers its run's refusals: a ``ValueError`` (options that cannot run, e.g. more
    workers than the machine allows) is a usage error; a ``RuntimeError`` (the run itself failed) is printed,
    unformatted since it may quote the server's output, and exits 1."""
    try:
        yield
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except RuntimeError as exc:
        _err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(1) from exc


def emit_report(report: dict[str, Any], table: RenderableType, *, as_json: bool, out_file: Path | None) -> None:
    """Print a benchmark report as JSON or as a table, and write the JSON to ``out_file`` if asked."""
    text = json.dumps(report, indent=2)
    if out_file is not None:
        out_file.write_text(text + "\n", encoding="utf-8")
    if as_json:
        # Plain stdout: a rich console would highlight and wrap the JSON.
        typer.echo(text)
        return
    _out.print(table)
    if out_file is not None:
        _out.print(f"JSON report written to {out_file}")

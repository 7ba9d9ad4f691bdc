"""The benchmark commands' shared error handling: usage errors exit 2, failed runs exit 1 with the reason."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from evaluation.options import benchmark_errors


def _command(error: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def run() -> None:
        with benchmark_errors():
            raise error
        typer.echo("not reached")

    return app


def test_a_refused_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(_command(ValueError("more workers than cores")), [])
    assert result.exit_code == 2
    assert "more workers than cores" in result.output


def test_a_failed_run_exits_1_with_its_reason_printed_as_it_is() -> None:
    # The reason may quote a server's output: square brackets are printed, not read as rich markup.
    result = CliRunner().invoke(_command(RuntimeError("server died: [Errno 111] refused")), [])
    assert result.exit_code == 1
    assert "server died: [Errno 111] refused" in result.output
    assert "not reached" not in result.output


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), benchmark_errors():
        raise KeyError("a bug, not a refusal")

"""The README and the reference in docs/ stay true: the two set-up commands, the generated settings table,
and CI running the same test command."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from matcher.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = ROOT / "docs" / "configuration.md"

# The generated settings table sits between these two lines of docs/configuration.md.
TABLE_START = "<!-- settings table: generated from Settings.table() by `.venv/bin/python -m tests.test_docs` -->"
TABLE_END = "<!-- end of the generated settings table -->"


def settings_table() -> str:
    """The Markdown table of every setting, as docs/configuration.md must hold it."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for env, default, description in Settings.table():
        unquoted = default.strip("'")  # the default's repr(): a str shows without its quotes
        shown = default if default.startswith("(") else f"`{unquoted}`"
        cell = description.replace("|", "\\|")
        lines.append(f"| `{env}` | {shown} | {cell} |")
    return "\n".join(lines)


def documented_settings_table(text: str) -> str:
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return text[start:end].strip()


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make install" in ci
    assert re.search(r"^make test$", ci, re.M)


def test_settings_table_is_generated_from_settings() -> None:
    documented = documented_settings_table(CONFIGURATION.read_text(encoding="utf-8"))
    assert documented == settings_table(), (
        "docs/configuration.md's settings table differs from Settings.table(): "
        "regenerate it with `.venv/bin/python -m tests.test_docs`"
    )


def write_settings_table() -> None:
    """Rewrite the generated settings table of docs/configuration.md from ``Settings.table()``."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    CONFIGURATION.write_text(f"{text[:start]}\n{settings_table()}\n{text[end:]}", encoding="utf-8")


if __name__ == "__main__":
    write_settings_table()
    sys.stdout.write(f"wrote the settings table of {CONFIGURATION.relative_to(ROOT)}\n")

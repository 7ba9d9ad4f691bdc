"""The README stays true: its two set-up commands, its settings table, and CI running the same test command."""

from __future__ import annotations

import re
from pathlib import Path

from matcher.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make install" in ci
    assert re.search(r"^make test$", ci, re.M)


def test_settings_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `(POLLINATE_[A-Z_]+)` \|", README, re.M))
    assert documented == {env for env, _, _ in Settings.table()}

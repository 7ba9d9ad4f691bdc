"""The README and the reference in docs/ stay true to the code.

What is checked, in the README and every ``docs/*.md`` page:

- the README opens with exactly two set-up commands, and CI runs the same test command;
- the settings table of ``docs/configuration.md`` is exactly the one generated from ``Settings.table()``
  (regenerate it with ``.venv/bin/python -m tests.test_docs``);
- every ``pollinate …`` command quoted in code names a command that exists, with options it has;
- every ``make …`` target, ``POLLINATE_*`` variable, HTTP route, repository file and module quoted exists,
  and every route of the API is listed in ``docs/http-api.md``;
- every relative link resolves (file and heading), every page is reachable from the README through
  ``docs/index.md`` and links back to it;
- the migration example names the revision id a new migration would take;
- the README's Python snippet runs, and the README stays short.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.settings import Settings
from models import migrate

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
HTTP_API = DOCS / "http-api.md"
INDEX = DOCS / "index.md"

# The generated settings table sits between these two lines of docs/configuration.md.
TABLE_START = "<!-- settings table: generated from Settings.table() by `.venv/bin/python -m tests.test_docs` -->"
TABLE_END = "<!-- end of the generated settings table -->"

# `POLLINATE_*` variables the docs may name that are not settings: read by the test suite, not the application.
NOT_SETTINGS = {
    "POLLINATE_TEST_POSTGRES_URL": ROOT / "tests" / "postgres.py",
    "POLLINATE_SCREENSHOTS": ROOT / "tests" / "web" / "test_browser.py",
}

# Routes FastAPI serves itself (not in the OpenAPI document).
FRAMEWORK_ROUTES = {"/docs", "/openapi.json"}

README_MAX_LINES = 300


def pages() -> list[Path]:
    """The README and every page of docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def text_of(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def name_of(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --------------------------------------------------------------------------------------------- parsing


FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def code_fragments(text: str) -> list[str]:
    """Every line of a fenced block and every inline code span: where commands, variables and routes are quoted.

    Prose is left out on purpose: "Pollinate" the project and ``~/.local/share/pollinate`` are not commands.
    """
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    # A code block may itself quote code (the package map's `pollinate bench`): that is a fragment of its own.
    fragments = [INLINE_CODE.sub(" ", line) for line in lines]
    fragments += [span for line in lines for span in INLINE_CODE.findall(line)]
    fragments += INLINE_CODE.findall(FENCE.sub("", text))
    return fragments


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


# ---------------------------------------------------------------------------------------------- the CLI


def pollinate_app() -> typer.Typer:
    """The Typer app behind the installed ``pollinate`` script (plugins included), wherever its module lives."""
    (script,) = entry_points(group="console_scripts", name="pollinate")
    app = importlib.import_module(script.module).app
    assert isinstance(app, typer.Typer)
    return app


def pollinate_command() -> Any:
    """The click command tree of ``pollinate``: groups have ``commands``, commands have ``params``."""
    return typer.main.get_command(pollinate_app())


@dataclass(frozen=True)
class Mention:
    page: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.page}: `pollinate {' '.join(self.words)}`"


POLLINATE = re.compile(r"(?<![\w./'\[:@-])pollinate(?=\s|$)(.*)")


def pollinate_mentions() -> list[Mention]:
    """Every ``pollinate …`` command quoted in code, up to a comment or the next shell command."""
    mentions = []
    for page in pages():
        for fragment in code_fragments(text_of(page)):
            for part in re.split(r"&&|;|\|\||\s#\s", fragment):
                found = POLLINATE.search(part)
                if found is None:
                    continue
                try:
                    words = shlex.split(found.group(1))
                except ValueError:  # an apostrophe inside a quoted need text
                    words = found.group(1).split()
                mentions.append(Mention(name_of(page), tuple(words)))
    return mentions


OPTION = re.compile(r"^[\[(]*(--?[A-Za-z][\w-]*)")


def command_errors(root: Any, mention: Mention) -> list[str]:
    """What is wrong with a quoted command: an unknown sub-command or an option the command does not have."""
    command, words = root, list(mention.words)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    known = {"--help"} | {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    if hasattr(command, "commands") and words and not words[0].startswith(("-", "[")):
        if not words[0].isupper():
            return [
                f"{mention}: `{command.name}` has no sub-command {words[0]!r} (it has {sorted(command.commands)})"
            ]
        known = {"--help"}  # `pollinate COMMAND --help`: a placeholder for any sub-command
    errors = []
    for word in words:
        option = OPTION.match(word)
        if option and option.group(1) not in known:
            errors.append(f"{mention}: `{command.name}` has no option {option.group(1)} (it has {sorted(known)})")
    return errors


# -------------------------------------------------------------------------------------------- HTTP routes


METHODS = "GET|POST|PATCH|PUT|DELETE"
ROUTE = re.compile(
    rf"(?:((?:{METHODS})(?:\s*,\s*(?:{METHODS}))*)\s+)?(?:https?://[\w.:-]+)?(/(?:v1|health|ready|docs|openapi)[^\s?\"'`)]*)"
)


def normalised(path: str) -> str:
    """A route with its parameters (``{need_id}``, ``{id}``, ``12``) made alike."""
    parts = path.rstrip(".,;:").split("/")
    return "/".join("{}" if re.fullmatch(r"\{.*\}|\d+", part) else part for part in parts)


def app_routes(tmp_path: Path) -> dict[str, set[str]]:
    """Normalised path → methods, from the application's OpenAPI document."""
    app = create_app(Settings(data_dir=tmp_path), embedder=FakeEmbedder(dim=8))
    routes: dict[str, set[str]] = {}
    for path, operations in app.openapi()["paths"].items():
        routes.setdefault(normalised(path), set()).update(method.upper() for method in operations)
    return routes


def route_mentions(text: str) -> Iterator[tuple[set[str], str]]:
    """(methods, normalised path) of every route quoted in code; no method: any."""
    for fragment in code_fragments(text):
        for found in ROUTE.finditer(fragment):
            methods = set(re.findall(METHODS, found.group(1) or ""))
            yield methods, normalised(found.group(2))


# ------------------------------------------------------------------------------------------------ links


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", text), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def link_errors(page: Path) -> list[str]:
    errors = []
    for target in LINK.findall(text_of(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            errors.append(f"{name_of(page)}: link to {target} — {file_part} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(text_of(resolved)):
            errors.append(
                f"{name_of(page)}: link to {target} — no heading #{anchor} in {file_part or 'this page'}"
            )
    return errors


def links_of(page: Path) -> set[Path]:
    return {
        (page.parent / target.partition("#")[0]).resolve()
        for target in LINK.findall(text_of(page))
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    }


# ------------------------------------------------------------------------------------------------ tests


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", text_of(README), re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make install" in ci
    assert re.search(r"^make test$", ci, re.M)


def test_readme_stays_short() -> None:
    lines = len(text_of(README).splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move reference material to docs/"


def test_settings_table_is_generated_from_settings() -> None:
    documented = documented_settings_table(text_of(CONFIGURATION))
    assert documented == settings_table(), (
        "docs/configuration.md's settings table differs from Settings.table(): "
        "regenerate it with `.venv/bin/python -m tests.test_docs`"
    )


def test_quoted_pollinate_commands_exist_with_their_options() -> None:
    root = pollinate_command()
    mentions = pollinate_mentions()
    assert len(mentions) > 20, "the command parser found almost no `pollinate …` command in the docs"
    errors = [error for mention in mentions for error in command_errors(root, mention)]
    assert not errors, "\n".join(errors)


def test_every_command_is_in_the_cli_reference() -> None:
    root = pollinate_command()
    cli_page = name_of(DOCS / "cli.md")
    quoted = [m.words for m in pollinate_mentions() if m.page == cli_page]

    def leaves(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from leaves(sub, (*path, name))
        else:
            yield path

    missing = [" ".join(path) for path in leaves(root, ()) if not any(q[: len(path)] == path for q in quoted)]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_quoted_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z_-]+):", makefile, re.M))
    quoted = {
        (name_of(page), target)
        for page in pages()
        for fragment in code_fragments(text_of(page))
        for target in re.findall(r"(?<![\w-])make ([a-z][\w-]*)", fragment)
    }
    assert quoted, "the docs quote no make target"
    unknown = sorted(q for q in quoted if q[1] not in targets)
    assert not unknown, f"unknown make targets: {unknown}"


def test_named_variables_are_settings() -> None:
    settings = {env for env, _, _ in Settings.table()}
    errors = []
    for page in pages():
        text = text_of(page)
        for found in re.finditer(r"POLLINATE_[A-Z0-9_]*", text):
            name, wildcard = found.group(), text[found.end() : found.end() + 1] == "*"
            if wildcard and any(env.startswith(name) for env in settings):
                continue
            if name in settings:
                continue
            source = NOT_SETTINGS.get(name)
            if source is not None and name in source.read_text(encoding="utf-8"):
                continue
            errors.append(f"{name_of(page)}: {name}{'*' if wildcard else ''} is no setting")
    assert not errors, "\n".join(errors)


def test_quoted_routes_exist(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    errors = []
    for page in pages():
        for methods, path in route_mentions(text_of(page)):
            if path in FRAMEWORK_ROUTES:
                continue
            if path not in routes:
                errors.append(f"{name_of(page)}: no route {path}")
            elif not methods <= routes[path]:
                errors.append(f"{name_of(page)}: {path} answers {sorted(routes[path])}, not {sorted(methods)}")
    assert not errors, "\n".join(errors)


def test_every_route_is_in_the_http_reference(tmp_path: Path) -> None:
    documented: dict[str, set[str]] = {}
    for methods, path in route_mentions(text_of(HTTP_API)):
        documented.setdefault(path, set()).update(methods)
    missing = [
        f"{method} {path}"
        for path, methods in app_routes(tmp_path).items()
        for method in sorted(methods)
        if method not in documented.get(path, set())
    ]
    assert not missing, f"routes missing from docs/http-api.md: {missing}"


def test_quoted_files_and_modules_exist() -> None:
    """A quoted repository path (`models/orm.py`) or module (`matcher.access`) is one the code has."""
    packages = "matcher|models|api|evaluation|embeddings|tests|notebooks"
    errors, checked = [], 0
    for page in pages():
        for fragment in code_fragments(text_of(page)):
            fragment = fragment.strip()
            if re.fullmatch(rf"(?:{packages})/[\w./-]*", fragment):
                checked += 1
                if not (ROOT / fragment).exists():
                    errors.append(f"{name_of(page)}: no file {fragment}")
            elif re.fullmatch(rf"(?:{packages})(?:\.\w+)+", fragment):
                checked += 1
                if importlib.util.find_spec(fragment) is None:
                    errors.append(f"{name_of(page)}: no module {fragment}")
    assert checked, "the docs quote no file or module"
    assert not errors, "\n".join(errors)


def test_migration_example_names_the_next_revision() -> None:
    """The `alembic revision --rev-id` example is the number a new migration would take today."""
    head = migrate.head_revision()
    assert head is not None
    quoted = {
        (name_of(page), rev_id) for page in pages() for rev_id in re.findall(r"--rev-id (\d+)", text_of(page))
    }
    assert quoted, "the docs show no `alembic revision --rev-id` example"
    expected = f"{int(head) + 1:04d}"
    assert all(rev_id == expected for _, rev_id in quoted), f"after {head} comes {expected}: {sorted(quoted)}"


def test_relative_links_resolve() -> None:
    errors = [error for page in pages() for error in link_errors(page)]
    assert not errors, "\n".join(errors)


def test_every_page_is_linked_from_the_index_and_links_back() -> None:
    assert INDEX.resolve() in links_of(README), "README.md does not link to docs/index.md"
    indexed = links_of(INDEX)
    for page in sorted(DOCS.glob("*.md")):
        if page == INDEX:
            continue
        assert page.resolve() in indexed, f"docs/index.md does not list {page.name}"
        assert INDEX.resolve() in links_of(page), f"{page.name} does not link back to index.md"


def test_readme_python_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snippet as written, on a database filled as `make demo` fills it (hashing embedder: no model load)."""
    (snippet,) = re.findall(r"```python\n(.*?)```", text_of(README), re.S)
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    monkeypatch.delenv("POLLINATE_DATABASE__URL", raising=False)
    for command in (["db", "upgrade"], ["seed", "--demo"]):
        result = CliRunner().invoke(pollinate_app(), command)
        assert result.exit_code == 0, result.output
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 -- our own README
    lines = printed.getvalue().splitlines()
    assert len(lines) == 5
    assert all(re.match(r"\d\.\d{3} .+: .+ offers “", line) for line in lines), lines


def write_settings_table() -> None:
    """Rewrite the generated settings table of docs/configuration.md from ``Settings.table()``."""
    text = text_of(CONFIGURATION)
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    CONFIGURATION.write_text(f"{text[:start]}\n{settings_table()}\n{text[end:]}", encoding="utf-8")


if __name__ == "__main__":
    write_settings_table()
    sys.stdout.write(f"wrote the settings table of {CONFIGURATION.relative_to(ROOT)}\n")

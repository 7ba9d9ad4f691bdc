"""Shared fixtures: databases on both backends, settings in a temporary data directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The CLI tests read rich tables, which are cut to the terminal's width; a pytest-xdist worker has no terminal and
# rich then falls back to 80 columns ("mi…" for "minilm"). Set before the commands' consoles are created.
os.environ.setdefault("COLUMNS", "200")

from matcher.settings import Settings
from models import migrate
from models.db import Database, sqlite_url
from tests.postgres import PostgresServer, start_postgres

SHARED_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "test.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        with server.database() as url:
            yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each backend."""
    database = Database(db_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database (for tests that are not about the backend)."""
    database = Database(sqlite_url(tmp_path / "test.db"))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with a temporary data directory (and the environment pointing at it, for the CLI)."""
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("POLLINATE_DATABASE__URL", raising=False)
    return Settings()


@pytest.fixture(scope="session")
def shared_dev() -> Path:
    """The hand-written dev gold set beside the repository (tests only; never used at run time)."""
    if not (SHARED_DEV / "offers.jsonl").is_file():
        pytest.skip(f"dev gold set not found at {SHARED_DEV}")
    return SHARED_DEV


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The packaged all-MiniLM-L6-v2 (loaded once per test session)."""
    from embeddings.transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def multilingual_embedder(real_embedder):  # type: ignore[no-untyped-def]
    """The default encoders: the packaged MiniLM fused with the packaged USE-m3 (loaded once per session)."""
    from embeddings.composite import CompositeEmbedder
    from embeddings.universal import UniversalSentenceEncoder

    return CompositeEmbedder([real_embedder, UniversalSentenceEncoder()])


# Ranking-quality figures measured by tests, printed at the end of the run.
QUALITY_REPORT: dict[str, dict[str, float]] = {}
# The figures already attached to a test report (under pytest-xdist a test updates QUALITY_REPORT in a worker
# process, and only its reports reach the process that prints the summary).
_REPORTED: dict[str, dict[str, float]] = {}
_QUALITY_PROPERTY = "quality_report"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the figures a test added to QUALITY_REPORT to its report (xdist sends reports to the controller)."""
    outcome = yield
    new = {name: values for name, values in QUALITY_REPORT.items() if _REPORTED.get(name) != values}
    if call.when == "call" and new:
        report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
        report.user_properties = [*report.user_properties, (_QUALITY_PROPERTY, new)]
        _REPORTED.update(new)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == _QUALITY_PROPERTY:
            QUALITY_REPORT.update(value)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if QUALITY_REPORT:
        terminalreporter.section("ranking quality")
        for name, values in QUALITY_REPORT.items():
            figures = "  ".join(f"{k} {v:.4f}" for k, v in values.items())
            terminalreporter.write_line(f"{name:12s} {figures}")

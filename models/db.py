"""Engine, sessions and transactions for SQLite and PostgreSQL.

SQLite is configured for concurrent use: WAL journal (readers never block the writer), a busy timeout, foreign
keys on, and — the important part — write transactions that start with ``BEGIN IMMEDIATE``. pysqlite's default
deferred ``BEGIN`` takes the write lock only at the first write, so two read-then-write transactions can both
read the old value; with ``BEGIN IMMEDIATE`` the second writer waits for the first to commit before it reads.
Read-only transactions start with a plain deferred ``BEGIN`` and never wait for writers.

On PostgreSQL (READ COMMITTED) the ORM's version column turns a lost update into ``StaleDataError``;
:meth:`Database.run` retries such conflicts (and serialization failures/deadlocks) a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

log = logging.getLogger(__name__)

R = TypeVar("R")

_READ_ONLY = "pollinate_read_only"
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected.
_RETRYABLE_PGCODES = frozenset({"40001", "40P01"})


class Database:
    """One engine plus session factories for read-only and read-write transactions.

    Args:
        url: any SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``).
        echo: log every SQL statement.
        busy_timeout_s: how long a SQLite writer waits for the write lock before failing.
    """

    def __init__(self, url: str | URL, *, echo: bool = False, busy_timeout_s: float = 30.0) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_s)
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any exception.

        This is the request/CLI boundary: services receive the session and never commit themselves.
        """
        factory = self._read if read_only else self._write
        with factory() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], R], *, attempts: int = 8) -> R:
        """Run ``work`` in a write transaction, retrying it on write conflicts.

        A conflict is a stale version (another transaction updated the row after we read it), a PostgreSQL
        serialization failure or deadlock, or SQLite's lock timeout. ``work`` must be safe to re-run: it
        re-reads what it modifies.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as session:
                    return work(session)
            except (StaleDataError, OperationalError, DBAPIError) as exc:
                if attempt == attempts or not _is_conflict(exc):
                    raise
                log.debug("write conflict (attempt %d/%d): %s", attempt, attempts, exc)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.transaction(read_only=True) as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path.expanduser().resolve()}"


def _is_conflict(exc: Exception) -> bool:
    if isinstance(exc, StaleDataError):
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRYABLE_PGCODES:
        return True
    return "database is locked" in str(orig or exc)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below instead of pysqlite's implicit BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

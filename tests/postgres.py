"""A throwaway PostgreSQL server on loopback for the test suite.

Order of preference: ``POLLINATE_TEST_POSTGRES_URL`` (an existing server where we may create databases), then
the PostgreSQL binaries installed on the machine (``initdb``/``pg_ctl``; as root they run as the ``postgres``
user, because PostgreSQL refuses to run as root). If neither is available the tests that need it are skipped
with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Either an external server (from the environment) or one we started; creates per-test databases."""

    def __init__(self, admin_url: str, stop: list[str] | None = None, data_dir: Path | None = None) -> None:
        self.admin_url = admin_url  # psycopg conninfo URL, e.g. postgresql://user@127.0.0.1:5432/postgres
        self._stop = stop
        self._data_dir = data_dir

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh empty database; yields its SQLAlchemy URL and drops it afterwards."""
        name = f"pollinate_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.admin_url.rsplit("/", 1)[0]
        try:
            yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._stop:
            subprocess.run(self._stop, check=False, capture_output=True)
        if self._data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start (or connect to) a server; raises RuntimeError with the reason when impossible."""
    url = os.environ.get("POLLINATE_TEST_POSTGRES_URL")
    if url:
        return PostgresServer(url.replace("postgresql+psycopg://", "postgresql://", 1))
    bindir = _bin_dir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries (pg_ctl) found and POLLINATE_TEST_POSTGRES_URL is not set")
    prefix: list[str] = []
    data_dir = Path(tempfile.mkdtemp(prefix="pollinate-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL") from exc
        os.chown(data_dir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    pgdata, port = data_dir / "data", _free_port()
    run = lambda *args: subprocess.run(  # noqa: E731
        [*prefix, *map(str, args)], check=True, capture_output=True, text=True, timeout=120
    )
    try:
        run(
            bindir / "initdb",
            "-D",
            pgdata,
            "-U",
            "pollinate",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        run(bindir / "pg_ctl", "-D", pgdata, "-l", data_dir / "server.log", "-o", options, "-w", "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or ""
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL from {bindir}: {detail.strip()[-500:]}") from exc
    stop = [*prefix, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"]
    return PostgresServer(f"postgresql://pollinate@127.0.0.1:{port}/postgres", stop, data_dir)

"""The benchmarked service in its own uvicorn process on loopback: start, wait until ready, read its log, stop."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.bench.corpus import database_url
from matcher.settings import Settings

__all__ = ["APP_FACTORY", "ServerLog", "read_server_log", "server_env", "serving", "wait_ready"]

# The service's uvicorn factory, by module path: evaluation must not import the web layer.
APP_FACTORY = "api.app:create_app_from_env"
# Rate limits of the benchmarked server (per key and worker): high enough never to answer 429.
_UNLIMITED_RATE = "1000000/minute"
# How long a server may take to answer GET /ready (100k offers: 14 s measured, model load and index build).
_START_TIMEOUT_S = 900.0
# How long the server has to stop after SIGTERM before it is killed.
_STOP_TIMEOUT_S = 30.0


# ------------------------------------------------------------------------------------------ the server


@dataclass(slots=True)
class _Server:
    """A uvicorn process serving the app on loopback, its access log in ``log_path``."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


def server_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The server's environment: the bench's engine settings, its own data directory, no rate limits.

    Every ``POLLINATE_*`` variable of this process is replaced, so the server runs the configuration the bench
    was given (and its model id is the one the cache was filled for) on the throwaway SQLite database.
    """
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("POLLINATE_")}
    for section in ("embedding", "index", "ranking"):
        for name, value in getattr(settings, section).model_dump(mode="json").items():
            if value is not None:
                env[f"POLLINATE_{section}__{name}".upper()] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
    env.update(
        POLLINATE_DATA_DIR=str(data_dir),
        POLLINATE_DATABASE__URL=database_url(data_dir),
        POLLINATE_API__MATCH_RATE=_UNLIMITED_RATE,
        POLLINATE_API__WRITE_RATE=_UNLIMITED_RATE,
        POLLINATE_API__ANONYMOUS_RATE=_UNLIMITED_RATE,
        POLLINATE_API__LOG_FORMAT="json",
    )
    # As `pollinate serve`: one OpenMP thread per process, parallelism from concurrent requests.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(env: Mapping[str, str], *, workers: int, log_path: Path) -> Iterator[_Server]:
    """Run the service while the block runs; stop it (SIGTERM, then SIGKILL) however the block ends."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", APP_FACTORY,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches the bench only, which then stops the server in order.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield _Server(process, port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: _Server, *, workers: int, timeout_s: float = _START_TIMEOUT_S) -> int:
    """Wait until every worker has started and ``GET /ready`` answers 200; returns the offers indexed.

    Raises:
        RuntimeError: the server exited or was not ready in time (with the end of its log).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        # uvicorn accepts connections once a worker's lifespan has loaded the model and built the index; with
        # several workers, a ready one would answer while others still load, so count their start-up lines.
        started = server.log_path.read_text(encoding="utf-8", errors="replace").count(
            "Application startup complete"
        )
        if started >= workers:
            status, body = _get(server.port, "/ready")
            # A large catalogue's HNSW graph builds in the background after start-up: time the service with it.
            if status == 200 and body["checks"].get("index_graph") != "building":
                return int(body["checks"]["offers_indexed"])
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready after {timeout_s:.0f} s:\n{server.log_tail()}")


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET on the server (status 0 when it did not answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    except (OSError, http.client.HTTPException, json.JSONDecodeError):
        return 0, {}
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class ServerLog:
    """What the server logged during one phase.

    Attributes:
        entries: its JSON log entries (access lines, errors) by request id.
        tracebacks: uvicorn's report of every exception that escaped the app, traceback included (the app's own
            error line names the exception only).
    """

    entries: dict[str, list[dict[str, Any]]]
    tracebacks: list[str]


def read_server_log(log_path: Path, *, offset: int) -> ServerLog:
    """The server's log from byte ``offset`` on (where the phase started)."""
    with log_path.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    entries: dict[str, list[dict[str, Any]]] = {}
    tracebacks: list[list[str]] = []
    in_traceback = False
    for line in lines:
        if line.startswith("{"):
            in_traceback = False
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("request_id"), str):
                entries.setdefault(entry["request_id"], []).append(entry)
        elif "Exception in ASGI application" in line:
            in_traceback = True
            tracebacks.append([line])
        elif in_traceback and not line.startswith(("INFO:", "WARNING:", "ERROR:")):
            tracebacks[-1].append(line)
        else:
            in_traceback = False
    return ServerLog(entries, ["\n".join(block) for block in tracebacks])

"""Whose address an anonymous request counts against: ``pollinate serve`` itself, started on loopback.

uvicorn's defaults believe ``X-Forwarded-For`` from 127.0.0.1, so a client on the host could name any address
per request and never run out of anonymous budget. The header counts only when the connection comes from a
proxy listed in ``api.trusted_proxies``; then the client is the nearest address the proxies did not add.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port

BUDGET = 3  # anonymous requests per address and minute in these servers


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[str]:
    """``pollinate serve`` (the CLI command, which starts uvicorn as it does in production) on a free port."""
    port = free_port()
    environ = {
        **os.environ,
        "POLLINATE_DATA_DIR": str(data_dir),
        "POLLINATE_EMBEDDING__MODEL": "hashing",
        "POLLINATE_API__ANONYMOUS_RATE": f"{BUDGET}/minute",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    for name in ("POLLINATE_DATABASE__URL", "FORWARDED_ALLOW_IPS"):
        environ.pop(name, None)
    log = data_dir / f"serve-{port}.log"
    command = [sys.executable, "-c", "from matcher.cli.main import main; main()", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve not ready after 60 s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def statuses(url: str, forwarded_for: list[str]) -> list[int]:
    """Anonymous requests from loopback, each claiming to be forwarded for the given addresses."""
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            client.get("/v1/vocabularies/assistance-types", headers={"X-Forwarded-For": xff}).status_code
            for xff in forwarded_for
        ]


def test_forwarded_for_is_ignored_without_a_trusted_proxy(tmp_path: Path) -> None:
    spoofed = [f"198.51.100.{i}" for i in range(1, BUDGET + 2)]
    with serve(tmp_path) as url:
        assert statuses(url, spoofed) == [200] * BUDGET + [429]


def test_forwarded_for_counts_from_a_trusted_proxy(tmp_path: Path) -> None:
    with serve(tmp_path, POLLINATE_API__TRUSTED_PROXIES="127.0.0.1") as url:
        # Each client its own budget: more requests than one address may make all pass.
        assert statuses(url, [f"198.51.100.{i}" for i in range(1, BUDGET + 2)]) == [200] * (BUDGET + 1)
        # A proxy that passes the client's own header on appends the address it saw: that one counts, whatever
        # the client wrote before it.
        appended = [f"203.0.113.{i}, 192.0.2.50" for i in range(1, BUDGET + 2)]
        assert statuses(url, appended) == [200] * BUDGET + [429]

"""Consistency across workers: two real uvicorn processes on loopback share one database; each keeps its own
in-memory index and catches up from the offer change log before matching. An offer created through worker A
must be matchable through worker B as soon as A's POST has returned — every time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matcher.access import accounts
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate

ROUNDS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "POLLINATE_DATA_DIR": str(data_dir),
        "POLLINATE_EMBEDDING__MODEL": "hashing",
        "POLLINATE_API__WRITE_RATE": "100000/minute",
        "POLLINATE_API__MATCH_RATE": "100000/minute",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("POLLINATE_DATABASE__URL", None)
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app_from_env", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"worker at {url} not ready after 60 s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    data_dir = tmp_path_factory.mktemp("workers")
    db = Settings(data_dir=data_dir).open_database()
    migrate.upgrade(db)
    seed_demo(db)
    with db.transaction() as session:
        key = accounts.issue_key(session, accounts.create_user(session, name="sec", role="secretariat")).secret
    db.dispose()
    started = [_start(data_dir, data_dir / f"worker-{name}.log") for name in ("a", "b")]
    try:
        for (process, url), name in zip(started, ("a", "b"), strict=True):
            _wait_ready(process, url, data_dir / f"worker-{name}.log")
        yield started[0][1], started[1][1], key
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_an_offer_posted_through_one_worker_is_matched_by_the_other_every_time(
    workers: tuple[str, str, str],
) -> None:
    url_a, url_b, key = workers
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        organisation_id = client.get(f"{url_a}/v1/organisations", params={"limit": 1}).json()["items"][0]["id"]
        for round_ in range(ROUNDS):
            # Words that appear in no other offer, so the new offer can only be found if B has indexed it.
            marker = f"quorvex{round_} zentrilith{round_} bramblewick{round_}"
            text = f"Calibration of {marker} sensors for monitoring wetland birds"
            created = client.post(
                f"{url_a}/v1/offers",
                json={
                    "organisation_id": organisation_id,
                    "title": f"Offer {marker}",
                    "description": text,
                    "targets": [21],
                    "assistance_types": ["training"],
                    "languages": ["en"],
                    "regions_served": ["Global"],
                },
            )
            assert created.status_code == 201, created.text
            offer_id = created.json()["id"]
            ranked = client.post(f"{url_b}/v1/match", json={"text": text, "k": 3})
            assert ranked.status_code == 200, ranked.text
            top = [m["offer_id"] for m in ranked.json()["matches"]]
            assert top and top[0] == offer_id, (round_, offer_id, top)
        # Deletions propagate too: once deleted through B, A never returns the offer.
        assert client.delete(f"{url_b}/v1/offers/{offer_id}").status_code == 204
        ranked = client.post(f"{url_a}/v1/match", json={"text": text, "k": 3}).json()
        assert offer_id not in [m["offer_id"] for m in ranked["matches"]]

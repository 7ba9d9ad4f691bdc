"""The worker's schedule: a scheduled connector runs when its interval has passed, an on-demand one never."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from matcher.cli.worker import DeliveryWorker
from matcher.connectors import service
from matcher.settings import Settings
from models.db import Database

EXAMPLES = Path(__file__).resolve().parents[3] / "matcher" / "connectors" / "examples"


def test_due_connectors_run_once_per_interval(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name in ("partner-needs.toml", "partner-needs.json", "partner-offers.toml", "partner-offers.csv"):
        shutil.copy(EXAMPLES / name, folder / name)
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("POLLINATE_CONNECTORS__DIRECTORY", str(folder))
    settings = Settings()
    worker = DeliveryWorker(sqlite_db, settings, run_batch_jobs=False)
    assert worker.harvest() == 1  # partner-needs is every 6h; partner-offers has no schedule
    assert worker.harvest() == 0  # not due again yet
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6, minutes=1)
    reports = service.run_due(sqlite_db, settings, now=later)
    assert [(r.connector, r.unchanged) for r in reports] == [("partner-needs", 4)]

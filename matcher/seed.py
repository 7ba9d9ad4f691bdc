"""The demo corpus shipped with Pollinate (``matcher/data/demo``), loaded by ``pollinate seed --demo``.

The corpus is our own writing: fictional organisations offering support across all 23 KMGBF targets and every
UN M49 region, and needs from Parties in English, French and Spanish. Loading goes through the ordinary bulk
import, so seeding twice changes nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from matcher.bulk import ImportReport, import_file
from models.db import Database

DEMO_DIR = Path(str(resources.files("matcher").joinpath("data", "demo")))
DEMO_OFFERS = DEMO_DIR / "offers.jsonl"
DEMO_NEEDS = DEMO_DIR / "needs.jsonl"


def seed_demo(db: Database) -> list[ImportReport]:
    """Import the demo offers then the demo needs; returns both reports.

    Raises:
        InvalidInputError: if the packaged files are missing (a broken installation).
        RuntimeError: if the packaged corpus does not validate (the test suite guards against it).
    """
    reports = [import_file(db, DEMO_OFFERS, "offers"), import_file(db, DEMO_NEEDS, "needs")]
    for report in reports:
        if not report.written:
            raise RuntimeError(f"the packaged demo {report.kind} are invalid: {report.errors[:3]}")
    return reports

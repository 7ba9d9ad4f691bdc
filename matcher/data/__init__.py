"""The data shipped with the code: the demo corpus (``demo/offers.jsonl``, ``demo/needs.jsonl``).

Two rooms read it, so it lives beside them rather than in either: the records load it (``pollinate seed --demo``,
:mod:`matcher.records.seed`) and the engine estimates its language centroids on it (a reference corpus that does
not move with the live data, :mod:`matcher.engine.service`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_DIR = Path(str(resources.files("matcher.data").joinpath("demo")))
DEMO_OFFERS = DEMO_DIR / "offers.jsonl"
DEMO_NEEDS = DEMO_DIR / "needs.jsonl"

"""The data shipped with the code: the demo corpus (``demo/offers.jsonl``, ``demo/needs.jsonl``) and the
language-centring reference texts (``demo/centring.jsonl``).

Two rooms read it, so it lives beside them rather than in either: the records load the demo corpus
(``pollinate seed --demo``, :mod:`matcher.records.seed`) and the engine estimates its language centroids on the
reference texts and the spread of its similarities on the demo corpus (references that do not move with the live
data, :mod:`matcher.engine.encoders`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_DIR = Path(str(resources.files("matcher.data").joinpath("demo")))
DEMO_OFFERS = DEMO_DIR / "offers.jsonl"
DEMO_NEEDS = DEMO_DIR / "needs.jsonl"
# The same records written in each of the six UN languages (parallel by id): the language centroids.
CENTRING_TEXTS = DEMO_DIR / "centring.jsonl"

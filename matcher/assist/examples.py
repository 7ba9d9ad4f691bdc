"""What the suggestion models learn from: labelled texts.

Three sources, all of them Pollinate's own (never the evaluation gold sets):

- the bundled demo corpus (``matcher/data/demo``): 36 needs and 160 offers, each with its KMGBF targets and
  assistance types as their authors chose them;
- the KMGBF target texts (``models/data/kmgbf_targets.json``): each target's title and summary in English,
  French and Spanish, labelled with that target only — the one source written in all three languages for every
  target, so that a French or Spanish draft has words to meet;
- the catalogue's own records as it grows: public needs and active offers (a confidential need never trains a
  model whose suggestions other Parties read).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.data import DEMO_NEEDS, DEMO_OFFERS
from models import vocabularies as vocab
from models.repositories import NeedListing, OfferListing, list_offers, open_needs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LANGUAGES = ("en", "fr", "es")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text.

    Attributes:
        text: title and description (never the target titles: they are what is predicted).
        targets: KMGBF target numbers.
        assistance_types: assistance types (empty for the target texts, which say nothing of them).
        source: ``demo-need``, ``demo-offer``, ``target``, ``need`` or ``offer`` (the catalogue's records).
        key: a stable identity (for cross-validation folds and the stored model's fingerprint).
    """

    text: str
    targets: tuple[int, ...]
    assistance_types: tuple[str, ...]
    source: str
    key: str


def draft_text(title: str, description: str) -> str:
    """The text a model reads for a need or an offer: title and description."""
    title = title.strip()
    head = f"{title}. " if title and not title.endswith((".", "?", "!")) else (f"{title} " if title else "")
    return f"{head}{description.strip()}"


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _record_examples(path: Path, source: str) -> list[Example]:
    out = []
    for row in _jsonl(path):
        targets = row.get("targets") or []
        types = row.get("assistance_types") or []
        assert isinstance(targets, list)
        assert isinstance(types, list)
        out.append(
            Example(
                draft_text(str(row["title"]), str(row["description"])),
                tuple(int(t) for t in targets),
                tuple(str(t) for t in types),
                source,
                f"{source}:{row['id']}",
            )
        )
    return out


def target_examples() -> list[Example]:
    """Each KMGBF target's title and summary, in English, French and Spanish."""
    out = []
    for code, labels in vocab.data_labels("target").items():
        summaries = vocab.data_labels("target_summary")[code]
        for lang in LANGUAGES:
            text = draft_text(labels[lang], summaries[lang])
            out.append(Example(text, (int(code),), (), "target", f"target:{code}:{lang}"))
    return out


def bundled_examples() -> list[Example]:
    """The demo needs and offers and the target texts (the training set when the catalogue is empty)."""
    return [
        *_record_examples(DEMO_NEEDS, "demo-need"),
        *_record_examples(DEMO_OFFERS, "demo-offer"),
        *target_examples(),
    ]


def catalogue_examples(session: Session, *, limit: int = 50_000) -> list[Example]:
    """The catalogue's public needs and active offers (demo records already bundled are skipped by text)."""
    out = []
    for need in open_needs(session, NeedListing(visible_all=False, visible_country=None)):
        out.append(
            Example(
                draft_text(need.title, need.description),
                tuple(need.targets),
                tuple(need.assistance_types),
                "need",
                f"need:{need.id}:{need.version}",
            )
        )
    page = list_offers(session, OfferListing(statuses=("active",)), limit=limit, offset=0)
    for offer in page.items:
        out.append(
            Example(
                draft_text(offer.title, offer.description),
                tuple(offer.targets),
                tuple(offer.assistance_types),
                "offer",
                f"offer:{offer.id}:{offer.version}",
            )
        )
    return out[:limit]


def merge(*sources: Iterable[Example]) -> list[Example]:
    """Examples from several sources, each text once (the first source to hold it wins)."""
    seen: set[str] = set()
    out = []
    for source in sources:
        for example in source:
            if example.text not in seen:
                seen.add(example.text)
                out.append(example)
    return out

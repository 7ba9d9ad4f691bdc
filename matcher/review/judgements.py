"""The secretariat's decisions as a gold set, so that its review work measures the ranker.

``pollinate export judgements --out DIR`` writes the format of the hand-written dev set (read by
``evaluation.dataset.load_gold_set`` and ``pollinate evaluate --dataset DIR``):

- ``needs.jsonl`` and ``offers.jsonl``: the needs and offers of the decided matches only, as ``pollinate export``
  writes them (ids are external ids, or ``need-<id>`` / ``offer-<id>`` for records without one);
- ``qrels.tsv``: the header ``need_id<TAB>offer_id<TAB>grade`` and one line per decided pair.

Grades follow the dev set's scale, where 2 or more is a good answer: an accepted match (and one contacted or
completed since) is grade 2, "strongly relevant and serves the need" — the secretariat says a provider fits,
not how directly it answers, so never 3; a rejected match is grade 0. Matches not yet decided (suggested,
shortlisted) are not judgements and are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from matcher.errors import InvalidInputError
from matcher.records.bulk import need_to_record, offer_to_record
from models.repositories import SuggestedMatchRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

GRADES: Final = {"accepted": 2, "contacted": 2, "completed": 2, "rejected": 0}
# The header ``evaluation.dataset`` expects (the evaluation package sits above the engine: not imported here).
QRELS_HEADER: Final = ("need_id", "offer_id", "grade")


@dataclass(frozen=True, slots=True)
class JudgementSummary:
    """What an export wrote."""

    needs: int
    offers: int
    positive: int
    negative: int


def write_judgements(session: Session, directory: Path) -> JudgementSummary:
    """Write the decided matches as a gold set into ``directory`` (created if missing; files replaced).

    Raises:
        InvalidInputError: no match is accepted yet, so the gold set would have nothing to score (the
            evaluation refuses such a set); nothing is written.
    """
    matches = SuggestedMatchRepository(session).in_statuses(GRADES)
    if not any(GRADES[m.status] > 0 for m in matches):
        raise InvalidInputError(
            "no suggested match has been accepted yet: a gold set needs at least one accepted pair to score "
            f"({len(matches)} rejected so far); accept matches in the review queue first"
        )
    need_records = {m.need_id: need_to_record(m.need) for m in matches}
    offer_records = {m.offer_id: offer_to_record(m.offer) for m in matches}
    directory.mkdir(parents=True, exist_ok=True)
    for name, records in (("needs.jsonl", need_records), ("offers.jsonl", offer_records)):
        with (directory / name).open("w", encoding="utf-8") as handle:
            for _, record in sorted(records.items()):
                handle.write(json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
                handle.write("\n")
    # By need, best grade first: the dev set's order.
    lines = sorted((need_records[m.need_id].id, -GRADES[m.status], offer_records[m.offer_id].id) for m in matches)
    with (directory / "qrels.tsv").open("w", encoding="utf-8") as handle:
        handle.write("\t".join(QRELS_HEADER) + "\n")
        for need_id, grade, offer_id in lines:
            handle.write(f"{need_id}\t{offer_id}\t{-grade}\n")
    positive = sum(1 for m in matches if GRADES[m.status] > 0)
    return JudgementSummary(
        needs=len(need_records), offers=len(offer_records), positive=positive, negative=len(matches) - positive
    )

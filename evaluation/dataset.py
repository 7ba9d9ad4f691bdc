"""Gold sets: a directory with ``needs.jsonl``, ``offers.jsonl`` and ``qrels.tsv``, validated on load.

The format is the one of the hand-written dev set (and of the demo corpus shipped in ``matcher/data/demo``):

- ``needs.jsonl`` / ``offers.jsonl``: one record per line, exactly the fields bulk import accepts
  (:class:`matcher.records.NeedRecord` / :class:`matcher.records.OfferRecord`); vocabulary values are checked
  and the closest valid values suggested.
- ``qrels.tsv``: a header ``need_id<TAB>offer_id<TAB>grade`` then one graded judgement per line. Grades are
  integers >= 0; every pair that is not listed is grade 0.

:func:`load_gold_set` reads the three files and reports *every* problem it finds (up to a limit), each with
its file and line number, instead of stopping at the first one.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from matcher.errors import InvalidInputError
from matcher.records.bulk import Kind, RowError, describe_validation_error, iter_rows, validate_row
from matcher.records.interchange import NeedRecord, OfferRecord

__all__ = ["GoldSet", "GoldSetError", "Judgement", "load_gold_set", "load_parallel_needs"]

QRELS_HEADER = ("need_id", "offer_id", "grade")
MAX_REPORTED_PROBLEMS = 50
# A grade this high or more makes an offer a good answer (the dev set: 2 = strongly relevant, 3 = direct).
GOOD_GRADE = 2


class GoldSetError(InvalidInputError):
    """A gold set that cannot be evaluated; ``problems`` lists each one as ``file:line: message``."""

    def __init__(self, path: Path, problems: list[str], more: int = 0) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        tail = f"\n  ... and {more} more" if more else ""
        super().__init__(f"gold set {path} is invalid ({len(problems) + more} problem(s)):\n{lines}{tail}")


@dataclass(frozen=True, slots=True)
class Judgement:
    """One line of ``qrels.tsv``."""

    need_id: str
    offer_id: str
    grade: int


@dataclass(frozen=True)
class GoldSet:
    """A validated gold set.

    Attributes:
        name: the directory name (used in reports).
        path: the directory.
        needs: the needs, in file order.
        offers: the offers, in file order.
        judgements: the qrels, in file order.
    """

    name: str
    path: Path
    needs: list[NeedRecord]
    offers: list[OfferRecord]
    judgements: list[Judgement]
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def grades(self) -> dict[str, dict[str, int]]:
        """``need id -> {offer id -> grade}`` (graded pairs only)."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for j in self.judgements:
            out[j.need_id][j.offer_id] = j.grade
        return dict(out)

    @cached_property
    def judged_needs(self) -> list[str]:
        """Needs with at least one offer of grade >= 1, in file order (the needs that metrics score)."""
        return [n.id for n in self.needs if any(g > 0 for g in self.grades.get(n.id, {}).values())]

    @cached_property
    def needle_needs(self) -> frozenset[str]:
        """Needs with exactly one good answer (one offer graded >= 2): the hardest to get right."""
        return frozenset(
            n for n in self.judged_needs if sum(g >= GOOD_GRADE for g in self.grades[n].values()) == 1
        )


def load_gold_set(path: Path) -> GoldSet:
    """Read and validate a gold-set directory.

    Raises:
        GoldSetError: with every problem found (file, line, what is wrong, the closest valid values for
            vocabulary errors), up to ``MAX_REPORTED_PROBLEMS``.
    """
    if not path.is_dir():
        raise GoldSetError(path, [f"{path}: not a directory (expected needs.jsonl, offers.jsonl, qrels.tsv)"])
    missing = [name for name in ("needs.jsonl", "offers.jsonl", "qrels.tsv") if not (path / name).is_file()]
    if missing:
        raise GoldSetError(path, [f"{path / name}: missing" for name in missing])
    problems: list[str] = []
    warnings: list[str] = []
    needs = [r for r in _records(path / "needs.jsonl", "needs", problems, warnings) if isinstance(r, NeedRecord)]
    offers = [
        r for r in _records(path / "offers.jsonl", "offers", problems, warnings) if isinstance(r, OfferRecord)
    ]
    judgements = _qrels(
        path / "qrels.tsv",
        {r.id for r in needs},
        {r.id for r in offers},
        problems,
        # An unreadable needs or offers file has no ids to check against: do not report every qrels line.
        check_ids=not problems,
    )
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        raise GoldSetError(path, shown, more=len(problems) - len(shown))
    gold = GoldSet(
        name=path.resolve().name,
        path=path,
        needs=needs,
        offers=offers,
        judgements=judgements,
        warnings=warnings,
    )
    if not gold.judged_needs:
        raise GoldSetError(path, [f"{path / 'qrels.tsv'}: no judgement with a grade above 0; nothing to score"])
    unjudged = len(gold.needs) - len(gold.judged_needs)
    if unjudged:
        gold.warnings.append(f"{unjudged} need(s) have no judgement above grade 0; they are ranked but not scored")
    return gold


def load_parallel_needs(path: Path, gold: GoldSet) -> dict[str, list[NeedRecord]]:
    """The language versions of ``gold``'s needs in a parallel set: ``needs_<language>.jsonl`` files.

    Each file must hold exactly the gold set's need ids (in any order; they are returned in the gold set's
    order), so that every version is judged by the same qrels.

    Raises:
        GoldSetError: a missing directory, no ``needs_*.jsonl`` file, an invalid record, or ids that differ
            from the gold set's.
    """
    if not path.is_dir():
        raise GoldSetError(path, [f"{path}: not a directory (expected needs_<language>.jsonl files)"])
    files = sorted(path.glob("needs_*.jsonl"))
    if not files:
        raise GoldSetError(path, [f"{path}: no needs_<language>.jsonl file"])
    problems: list[str] = []
    warnings: list[str] = []
    expected = [n.id for n in gold.needs]
    versions: dict[str, list[NeedRecord]] = {}
    for file in files:
        language = file.stem.removeprefix("needs_")
        records = {r.id: r for r in _records(file, "needs", problems, warnings) if isinstance(r, NeedRecord)}
        if set(records) != set(expected):
            missing, extra = sorted(set(expected) - set(records)), sorted(set(records) - set(expected))
            problems.append(
                f"{file.name}: ids differ from {gold.name}'s needs (missing {missing[:5]}, unknown {extra[:5]})"
            )
            continue
        versions[language] = [records[i] for i in expected]
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        raise GoldSetError(path, shown, more=len(problems) - len(shown))
    return versions


def _records(path: Path, kind: Kind, problems: list[str], warnings: list[str]) -> list[NeedRecord | OfferRecord]:
    out: list[NeedRecord | OfferRecord] = []
    seen: dict[str, int] = {}
    for number, row in iter_rows(path, "jsonl"):
        where = f"{path.name}:{number}"
        if isinstance(row, RowError):
            problems.append(f"{where}: {row.message}")
            continue
        try:
            record = validate_row(kind, row)
        except ValidationError as exc:
            fixed = _without_region(kind, row, exc)
            if not isinstance(fixed, NeedRecord):
                problems.append(f"{where}: {describe_validation_error(exc)}")
                continue
            warnings.append(f"{where}: {describe_validation_error(exc)}; using {fixed.region!r}")
            record = fixed
        first = seen.setdefault(record.id, number)
        if first != number:
            problems.append(f"{where}: duplicate id {record.id!r} (first used on line {first})")
            continue
        out.append(record)
    if not out and not any(p.startswith(f"{path.name}:") for p in problems):
        problems.append(f"{path.name}: no {kind}")
    return out


def _without_region(kind: Kind, row: dict[str, Any], exc: ValidationError) -> NeedRecord | OfferRecord | None:
    """A need whose only fault is a ``region`` that disagrees with our M49 table for its party is kept.

    The engine places a need by its party; the region is redundant. Gold sets made with another copy of the M49
    table may disagree on a few territories (the Channel Islands, Nauru), which must not stop an evaluation.
    """
    if kind != "needs" or [e["loc"] for e in exc.errors()] != [()] or "does not match party" not in str(exc):
        return None
    try:
        return validate_row(kind, {k: v for k, v in row.items() if k != "region"})
    except ValidationError:
        return None


def _qrels(
    path: Path, need_ids: set[str], offer_ids: set[str], problems: list[str], *, check_ids: bool
) -> list[Judgement]:
    out: list[Judgement] = []
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows: Iterable[list[str]] = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for number, row in enumerate(rows, start=1):
            where = f"{path.name}:{number}"
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if number == 1:
                if tuple(cells) != QRELS_HEADER:
                    problems.append(f"{where}: expected the header {'<TAB>'.join(QRELS_HEADER)}, got {row!r}")
                continue
            if len(cells) != 3:
                problems.append(
                    f"{where}: expected 3 tab-separated fields (need_id, offer_id, grade), got {row!r}"
                )
                continue
            need_id, offer_id, grade_text = cells
            try:
                grade = int(grade_text)
            except ValueError:
                problems.append(f"{where}: grade {grade_text!r} is not an integer")
                continue
            if grade < 0:
                problems.append(f"{where}: grade {grade} is negative")
                continue
            if check_ids and need_id not in need_ids:
                problems.append(f"{where}: unknown need id {need_id!r} (not in needs.jsonl)")
                continue
            if check_ids and offer_id not in offer_ids:
                problems.append(f"{where}: unknown offer id {offer_id!r} (not in offers.jsonl)")
                continue
            first = seen.setdefault((need_id, offer_id), number)
            if first != number:
                problems.append(f"{where}: pair ({need_id}, {offer_id}) already judged on line {first}")
                continue
            out.append(Judgement(need_id, offer_id, grade))
    if not out and not any(p.startswith(f"{path.name}:") for p in problems):
        problems.append(f"{path.name}: no judgements")
    return out

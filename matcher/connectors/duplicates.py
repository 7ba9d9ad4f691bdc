"""Duplicates across sources: the same organisation, need or offer arriving from two connectors, or from a
connector and typed in by hand, found and offered to the secretariat side by side.

Only pairs whose sources differ are considered: at least one side is harvested, and the two do not come from
the same set of connectors (one source does not list a record twice: that is its own business). Pairs are
compared within their country (an organisation's, a need's Party, an offer's provider's):

- **organisations** by name: accents, case, punctuation, common words (``the``, ``of``, ``de``, ``del``...),
  the country's own name and an acronym spelled by the other words (``KWS``, ``SANBI``) are set aside; the
  score is the Jaccard overlap of the remaining words, two words counting as one when they differ by a typo
  (``difflib`` ratio of at least 0.85);
- **needs and offers** by text: the cosine similarity of TF-IDF vectors (words and word pairs, fitted on the
  records of the country) of title and description, weighed 0.8, plus 0.2 times the name score of their
  organisations.

A pair at or above the threshold (``ORGANISATION_THRESHOLD``, ``RECORD_THRESHOLD``) is a suggestion. On the
hand-made fixture ``tests/matcher/connectors/duplicates.json`` (pairs that are and are not the same), these
thresholds give precision 1.0 and recall 1.0 for organisations and for needs and offers (see
``test_duplicates.py``; the fixture is small and was used to choose the thresholds, so read it as a check that
the rules do what they say, not as an estimate on real data).

The secretariat decides on a pair (``POST /v1/duplicates/merge`` and ``/dismiss``), and a decided pair is never
suggested again (``duplicate_decisions``). A **merge** of two needs or two offers keeps one record, the survivor,
and:

- moves the copy's provenance rows to the survivor, so that the next run of the copy's connector finds the
  survivor through its provenance (connector and source id) and updates it instead of creating the copy again;
- withdraws the copy as a connector does (a need ``withdrawn``, an offer ``expired``), keeping its review
  decisions and stored suggestions; a merged offer also leaves the matching catalogue, whatever the ranking's
  policy for inactive offers, so that matching never ranks two copies of one offer;
- records a ``merge`` event in the audit log on the copy (``merged_into``, the provenance moved).

Organisations are not merged here (their needs, offers, users and subscriptions would have to move): a pair of
organisations can be dismissed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.access import rules as access
from matcher.access.audit import act_as
from matcher.access.rules import Principal
from matcher.connectors.harvest import WITHDRAWN_STATUS
from matcher.errors import ConflictError, InvalidInputError, NotFoundError
from models import vocabularies as vocab
from models.connectors import ConnectorRepository
from models.orm import (
    AUDIT_ACTOR,
    AuditActor,
    AuditEvent,
    DuplicateDecision,
    Need,
    Offer,
    Organisation,
    new_external_id,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DuplicateKind = Literal["organisations", "needs", "offers"]
_ENTITY: dict[DuplicateKind, str] = {"organisations": "organisation", "needs": "need", "offers": "offer"}
ORGANISATION_THRESHOLD = 0.6
RECORD_THRESHOLD = 0.45
_TYPO = 0.85
_STOP = frozenset(
    [
        "the",
        "of",
        "for",
        "and",
        "a",
        "an",
        "in",
        "on",
        "at",
        "to",
        "de",
        "del",
        "la",
        "le",
        "les",
        "des",
        "du",
        "d",
        "l",
        "pour",
        "et",
        "y",
        "el",
        "los",
        "las",
        "en",
        "da",
        "do",
        "dos",
        "das",
        "e",
    ]
)
_WORD = re.compile(r"[^\W_]+")
_HAND = "typed in"


@dataclass(frozen=True, slots=True)
class Side:
    """One record of a pair, as the secretariat compares it."""

    id: int
    fields: dict[str, Any]
    sources: list[str]


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Two records that look like one, with the score and what it rests on."""

    kind: DuplicateKind
    score: float
    reasons: list[str]
    left: Side
    right: Side


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_words(name: str, country: str | None = None) -> list[str]:
    """The words of an organisation's name that tell it apart (see the module docstring)."""
    originals = _WORD.findall(unicodedata.normalize("NFKC", name))
    words = [_fold(w) for w in originals]
    country_words: set[str] = set()
    if country is not None and country in vocab.countries():
        country_words = {_fold(w) for w in _WORD.findall(vocab.countries()[country].name)}
    content = [w for w in words if w not in _STOP and w not in country_words]
    initials = "".join(w[0] for w in words if w not in _STOP)
    kept = []
    for original, folded in zip(originals, words, strict=True):
        if folded in _STOP or folded in country_words:
            continue
        is_acronym = len(original) >= 2 and original.isupper() and folded in initials and folded != initials[:1]
        if is_acronym and len(content) > 1:
            continue
        kept.append(folded)
    return kept


def name_score(a: str, b: str, *, country_a: str | None = None, country_b: str | None = None) -> float:
    """Jaccard overlap of the distinguishing words of two names (typos forgiven), 0..1."""
    left, right = set(name_words(a, country_a)), set(name_words(b, country_b))
    if not left or not right:
        return 1.0 if _fold(a) == _fold(b) else 0.0
    matched = 0
    unmatched = set(right)
    for word in left:
        hit = (
            word
            if word in unmatched
            else next((w for w in unmatched if SequenceMatcher(None, word, w).ratio() >= _TYPO), None)
        )
        if hit is not None:
            matched += 1
            unmatched.discard(hit)
    return matched / (len(left) + len(right) - matched)


def text_scores(texts: Sequence[str]) -> Any:
    """Pairwise cosine similarities of TF-IDF vectors of ``texts`` (rows are L2-normalised)."""
    vectorizer = TfidfVectorizer(preprocessor=_fold, ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    matrix = vectorizer.fit_transform(texts)
    return (matrix @ matrix.T).toarray()


def _differ(a: list[str], b: list[str]) -> bool:
    """Whether two records come from different sources (one at least harvested)."""
    return bool(a or b) and set(a) != set(b)


def find_duplicates(
    session: Session, principal: Principal, kind: DuplicateKind, *, limit: int = 100
) -> list[DuplicatePair]:
    """The suggested duplicate pairs of one kind, best first (the secretariat and admins)."""
    access.check_staff(principal, "review duplicates")
    repo = ConnectorRepository(session)
    if kind == "organisations":
        sourced = repo.sourced_ids("organisation")
        harvested_offers = repo.sourced_ids("offer")
        organisations = repo.organisations()
        # An organisation made by harvesting an offer or a need is that connector's too.
        for offer in repo.records(Offer, harvested_offers):
            sourced.setdefault(offer.organisation_id, []).extend(harvested_offers[offer.id])
        harvested_needs = repo.sourced_ids("need")
        for need in repo.records(Need, harvested_needs):
            sourced.setdefault(need.organisation_id, []).extend(harvested_needs[need.id])
        pairs = organisation_pairs(organisations, {k: sorted(set(v)) for k, v in sourced.items()})
    else:
        model: type[Need] | type[Offer] = Need if kind == "needs" else Offer
        entity = "need" if kind == "needs" else "offer"
        records = [r for r in repo.records(model) if r.status not in ("withdrawn", "expired")]
        pairs = record_pairs(kind, records, repo.sourced_ids(entity))
    decided = repo.decided_pairs(_ENTITY[kind])
    pairs = [p for p in pairs if _ordered(p.left.id, p.right.id) not in decided]
    return sorted(pairs, key=lambda p: -p.score)[:limit]


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """What a merge did: the record kept, the copy withdrawn and the provenance moved (``connector:source id``)."""

    kind: DuplicateKind
    survivor_id: int
    merged_id: int
    merged_status: str
    moved_sources: list[str]


def merge(
    session: Session,
    principal: Principal,
    kind: DuplicateKind,
    *,
    survivor_id: int,
    merged_id: int,
    note: str | None = None,
) -> MergeOutcome:
    """Merge ``merged_id`` into ``survivor_id`` (two needs or two offers; see the module docstring)."""
    access.check_staff(principal, "merge duplicates")
    if kind == "organisations":
        raise InvalidInputError("organisations are not merged here: dismiss the pair or edit the records")
    if survivor_id == merged_id:
        raise InvalidInputError("a record cannot be merged into itself")
    entity = _ENTITY[kind]
    repo = ConnectorRepository(session)
    model: type[Need] | type[Offer] = Need if kind == "needs" else Offer
    found = {r.id: r for r in repo.records(model, [survivor_id, merged_id])}
    survivor, copy = found.get(survivor_id), found.get(merged_id)
    if survivor is None or copy is None:
        raise NotFoundError(f"no such {entity}: {merged_id if survivor is not None else survivor_id}")
    low, high = _ordered(survivor_id, merged_id)
    if repo.decision(entity, low, high) is not None:
        raise ConflictError(f"the secretariat already decided on {entity}s {low} and {high}")
    withdrawn = WITHDRAWN_STATUS[kind]
    if survivor.status == withdrawn:
        raise ConflictError(f"the survivor {entity} {survivor_id} is {withdrawn}: keep the other one")
    act_as(session, principal, note=note or f"merge of {entity} {merged_id} into {survivor_id}")
    if survivor.external_id is None:  # only in older schemas: the harvester finds the survivor by it
        survivor.external_id = new_external_id(entity)
    moved = repo.move_sources(entity, merged_id, survivor_id)
    copy.status = withdrawn
    repo.add_decision(
        DuplicateDecision(
            entity=entity,
            low_id=low,
            high_id=high,
            decision="merged",
            survivor_id=survivor_id,
            decided_by=principal.user_id,
            note=note,
        )
    )
    sources = [f"{row.connector}:{row.source_id}" for row in moved]
    _audit(session, entity, merged_id, "merge", {"merged_into": [None, survivor_id], "sources": [None, sources]})
    return MergeOutcome(kind, survivor_id, merged_id, withdrawn, sources)


def dismiss(
    session: Session, principal: Principal, kind: DuplicateKind, *, ids: tuple[int, int], note: str | None = None
) -> None:
    """Record that two records are not the same, so that the pair is not suggested again."""
    access.check_staff(principal, "dismiss duplicates")
    if ids[0] == ids[1]:
        raise InvalidInputError("a pair needs two different records")
    entity = _ENTITY[kind]
    repo = ConnectorRepository(session)
    model: type[Need] | type[Offer] | type[Organisation] = (
        Organisation if kind == "organisations" else Need if kind == "needs" else Offer
    )
    missing = set(ids) - set(repo.existing_ids(model, ids))
    if missing:
        raise NotFoundError(f"no such {entity}: {min(missing)}")
    low, high = _ordered(*ids)
    if repo.decision(entity, low, high) is not None:
        raise ConflictError(f"the secretariat already decided on {entity}s {low} and {high}")
    act_as(session, principal, note=note)
    repo.add_decision(
        DuplicateDecision(
            entity=entity, low_id=low, high_id=high, decision="dismissed", decided_by=principal.user_id, note=note
        )
    )
    _audit(session, entity, low, "dismiss", {"not_a_duplicate_of": [None, high]})


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _audit(session: Session, entity: str, entity_id: int, action: str, changes: dict[str, list[Any]]) -> None:
    actor: AuditActor = session.info[AUDIT_ACTOR]
    ConnectorRepository(session).add_audit_event(
        AuditEvent(
            actor_role=actor.role,
            actor_label=actor.label,
            actor_user_id=actor.user_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=changes,
            note=actor.note,
        )
    )


def organisation_pairs(
    organisations: Iterable[Organisation], sourced: dict[int, list[str]]
) -> list[DuplicatePair]:
    """Pairs of organisations of one country whose names score at or above the threshold."""
    by_country: dict[str, list[Organisation]] = defaultdict(list)
    for org in organisations:
        by_country[org.country].append(org)
    out = []
    for country, group in by_country.items():
        for a, b in combinations(group, 2):
            sa, sb = sourced.get(a.id, []), sourced.get(b.id, [])
            if not _differ(sa, sb):
                continue
            score = name_score(a.name, b.name, country_a=country, country_b=country)
            if score >= ORGANISATION_THRESHOLD:
                out.append(
                    DuplicatePair(
                        "organisations",
                        round(score, 3),
                        [f"names {score:.2f} alike", f"same country {country}"],
                        _org_side(a, sa),
                        _org_side(b, sb),
                    )
                )
    return out


def record_pairs(
    kind: DuplicateKind, records: Sequence[Need | Offer], sourced: dict[int, list[str]]
) -> list[DuplicatePair]:
    """Pairs of needs (or offers) of one country whose texts and organisations score at or above the
    threshold."""
    by_country: dict[str, list[Need | Offer]] = defaultdict(list)
    for record in records:
        by_country[record.party if isinstance(record, Need) else record.organisation.country].append(record)
    out = []
    for country, group in by_country.items():
        if len(group) < 2:
            continue
        similarity = text_scores([f"{r.title}\n{r.title}\n{r.description}" for r in group])
        for i, j in combinations(range(len(group)), 2):
            a, b = group[i], group[j]
            sa, sb = sourced.get(a.id, []), sourced.get(b.id, [])
            if not _differ(sa, sb):
                continue
            names = name_score(a.organisation.name, b.organisation.name, country_a=country, country_b=country)
            score = 0.8 * float(similarity[i, j]) + 0.2 * names
            if score >= RECORD_THRESHOLD:
                reasons = [
                    f"texts {similarity[i, j]:.2f} alike",
                    f"organisations {names:.2f} alike",
                    f"same country {country}",
                ]
                out.append(DuplicatePair(kind, round(score, 3), reasons, _side(a, sa), _side(b, sb)))
    return out


def _org_side(org: Organisation, sources: list[str]) -> Side:
    fields = {"name": org.name, "org_type": org.org_type, "country": org.country, "website": org.website}
    return Side(org.id, fields, sources or [_HAND])


def _side(record: Need | Offer, sources: list[str]) -> Side:
    fields: dict[str, Any] = {
        "external_id": record.external_id,
        "title": record.title,
        "description": record.description,
        "organisation": record.organisation.name,
        "targets": record.targets,
        "assistance_types": record.assistance_types,
        "status": record.status,
    }
    if isinstance(record, Need):
        fields["party"] = record.party
    else:
        fields["country"] = record.organisation.country
    return Side(record.id, fields, sources or [_HAND])

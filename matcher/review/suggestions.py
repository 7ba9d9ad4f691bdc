"""Suggested matches: a need's ranked providers as stored for review, with score components and explanation."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.service import Match, MatchResult
from matcher.engine.verdicts import Fit, load_calibration
from models.orm import SuggestedMatch
from models.repositories import OfferRepository, SuggestedMatchRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def explanation_json(match: Match) -> dict[str, Any]:
    """The stored and served form of an explanation."""
    return match.explanation.as_json()


def suggestion_fit(row: SuggestedMatch) -> Fit:
    """A stored suggestion's fit verdict, from the score components stored with it.

    Computed when read rather than stored: the components are what the calibration reads, so a suggestion
    stored before verdicts existed gets one too, and a refitted calibration applies to every suggestion.
    """
    return load_calibration().assess(row.components)


def present_matches(session: Session, result: MatchResult) -> MatchResult:
    """``result`` without the offers deleted since it was ranked, the others kept from deletion until commit.

    Ranking runs outside the write transaction that stores it (a need is posted, a re-rank chunk committed), so
    a provider may delete an offer in between; a suggestion of it would break the foreign key and lose the
    whole write. The offer is left out, as the suggestion would have been deleted with it a moment later.
    """
    present = OfferRepository(session).existing_ids(m.offer_id for m in result.matches)
    if len(present) == len(result.matches):
        return result
    return dataclasses.replace(result, matches=[m for m in result.matches if m.offer_id in present])


def store_suggestions(
    session: Session, need_id: int, result: MatchResult, *, model_id: str
) -> list[SuggestedMatch]:
    """Store a ranking as the need's suggestions (suggestions already reviewed are kept, see the repository);
    offers deleted since the ranking are left out (:func:`present_matches`) and the others ranked 1, 2, ..."""
    result = present_matches(session, result)
    rows = [
        SuggestedMatch(
            offer_id=m.offer_id,
            rank=rank,
            score=m.score,
            components=dict(m.components),
            explanation=explanation_json(m),
            model_id=model_id,
        )
        for rank, m in enumerate(result.matches, start=1)
    ]
    repo = SuggestedMatchRepository(session)
    repo.replace_suggestions(need_id, rows)
    return repo.for_need(need_id)


def stored_suggestions(session: Session, need_id: int, *, reader: Principal) -> list[SuggestedMatch]:
    """A need's suggestions as ``reader`` may see them: offers it may no longer read (paused or expired since
    they were ranked, for anyone but their organisation and the secretariat) are left out (``matcher.access``)."""
    rows = SuggestedMatchRepository(session).for_need(need_id)
    return [m for m in rows if access.can_read_offer(reader, m.offer)]

"""The secretariat's review of suggested matches: the queue, and decisions that move a match along its life.

A match's life, as data (``MATCH_TRANSITIONS``; each action of ``ACTIONS`` leads to one state)::

    state         actions allowed (-> the state they lead to)
    suggested     shortlist (-> shortlisted), accept (-> accepted), reject (-> rejected)
    shortlisted   accept, reject, reopen (-> suggested)
    accepted      contact (-> contacted), reopen
    rejected      reopen
    contacted     complete (-> completed), reject (the provider declined)
    completed     none: final

A rejection names a reason from ``REJECTION_REASONS``, and any decision may carry a note. A decision the
match's state does not allow is refused with the state and the actions that are allowed. Decisions move the
need too, along the need's own state machine (``records.needs.NEED_TRANSITIONS``): shortlisting a provider for
an open need puts it under review, an acceptance marks it matched, and taking back its last chosen provider
(reopening an accepted match, or a contacted provider who declines) puts a matched need back under review. The
matches of a closed or withdrawn need are not decided.

Decisions are the secretariat's and admins'; every decision is in the audit log (``matcher/access/audit.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.errors import InvalidInputError, NotFoundError
from matcher.records.needs import OPEN_STATUSES, check_transition, check_version
from models import vocabularies as vocab
from models.orm import REJECTION_REASONS, Need, SuggestedMatch, utcnow
from models.repositories import ReviewListing, SuggestedMatchRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "ACTIONS",
    "CHOSEN",
    "MATCH_TRANSITIONS",
    "QUEUE_STATUSES",
    "REJECTION_REASONS",
    "Decision",
    "allowed_actions",
    "decide",
    "get_match",
    "review_queue",
]

# Each action and the state it leads to.
ACTIONS: Final[Mapping[str, str]] = {
    "shortlist": "shortlisted",
    "accept": "accepted",
    "reject": "rejected",
    "contact": "contacted",
    "complete": "completed",
    "reopen": "suggested",
}
MATCH_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "suggested": frozenset({"shortlisted", "accepted", "rejected"}),
    "shortlisted": frozenset({"accepted", "rejected", "suggested"}),
    "accepted": frozenset({"contacted", "suggested"}),
    "rejected": frozenset({"suggested"}),
    "contacted": frozenset({"completed", "rejected"}),
    "completed": frozenset(),
}
# The states in which a provider has been chosen for the need (the need is matched while one remains).
CHOSEN: Final = ("accepted", "contacted", "completed")
# What the queue shows unless asked otherwise: matches awaiting a decision, of needs still being served.
QUEUE_STATUSES: Final = ("suggested", "shortlisted")
# Needs whose matches may be decided.
DECIDABLE_NEEDS: Final = ("open", "under_review", "matched")


@dataclass(frozen=True, slots=True)
class Decision:
    """A review decision: an action of ``ACTIONS``, the reason of a rejection, an optional note."""

    action: str
    reason: str | None = None
    note: str | None = None


def allowed_actions(status: str) -> list[str]:
    """The actions a match in ``status`` allows, in the order of ``ACTIONS``."""
    targets = MATCH_TRANSITIONS.get(status, frozenset())
    return [action for action, target in ACTIONS.items() if target in targets]


def get_match(session: Session, principal: Principal, match_id: int) -> SuggestedMatch:
    """A suggested match (the secretariat and admins)."""
    access.check_staff(principal, "read suggested matches for review")
    match = SuggestedMatchRepository(session).get(match_id)
    if match is None:
        raise NotFoundError(f"no suggested match with id {match_id}")
    return match


def decide(
    session: Session, principal: Principal, match_id: int, decision: Decision, *, version: int | None
) -> SuggestedMatch:
    """Apply a review decision to a match (and move its need along); the caller commits.

    Raises:
        PermissionDeniedError: the caller is not the secretariat or an admin.
        NotFoundError: no such match.
        StaleVersionError: the match changed since ``version``.
        InvalidInputError: an action the match's state does not allow (the message names the allowed ones), a
            rejection without a reason or a reason without a rejection, or a match of a closed or withdrawn need.
    """
    match = get_match(session, principal, match_id)
    check_version("match", match_id, match.version, version)
    target = ACTIONS.get(decision.action)
    if target is None:
        raise InvalidInputError(f"unknown action {decision.action!r}; one of {', '.join(ACTIONS)}", field="action")
    _check_reason(decision)
    need = match.need
    if need.status not in DECIDABLE_NEEDS:
        raise InvalidInputError(
            f"need {need.id} is {need.status}: the matches of a {need.status} need cannot be decided; "
            "reopen the need first (set its status to open)",
            field="action",
        )
    if target not in MATCH_TRANSITIONS[match.status]:
        allowed = ", ".join(allowed_actions(match.status)) or "none: completed is final"
        raise InvalidInputError(
            f"match {match_id} is {match.status}: it cannot be {target} (action {decision.action!r}); "
            f"allowed actions: {allowed}",
            field="action",
        )
    audit.act_as(session, principal, note=f"match {match_id}: {decision.action}")
    previous = match.status
    match.status = target
    match.reason = decision.reason
    match.note = decision.note
    match.decided_by = principal.user_id
    match.decided_at = utcnow()
    _move_need(session, principal, need, match, previous)
    session.flush()
    return match


def _check_reason(decision: Decision) -> None:
    if decision.action == "reject":
        if decision.reason is None:
            raise InvalidInputError(
                f"a rejection needs a reason: one of {', '.join(REJECTION_REASONS)}", field="reason"
            )
        vocab.parse_choice("reason", decision.reason, REJECTION_REASONS)
    elif decision.reason is not None:
        raise InvalidInputError(
            f"only a rejection has a reason; leave 'reason' out of a {decision.action!r} decision", field="reason"
        )


def _move_need(session: Session, principal: Principal, need: Need, match: SuggestedMatch, previous: str) -> None:
    """The need's side of a decision, along the need's state machine."""
    wanted = need.status
    if match.status == "accepted":
        wanted = "matched"
    elif match.status == "shortlisted" and need.status == "open":
        wanted = "under_review"
    elif (
        previous in CHOSEN
        and match.status not in CHOSEN
        and need.status == "matched"
        and SuggestedMatchRepository(session).count_for_need(need.id, CHOSEN, excluding=match.id) == 0
    ):
        wanted = "under_review"  # its last chosen provider was taken back
    if wanted != need.status:
        check_transition(principal, need.status, wanted)
        need.status = wanted


def review_queue(
    session: Session,
    principal: Principal,
    *,
    statuses: tuple[str, ...] = QUEUE_STATUSES,
    need_statuses: tuple[str, ...] = OPEN_STATUSES,
    region: str | None = None,
    targets: tuple[int, ...] = (),
    need_id: int | None = None,
    offer_id: int | None = None,
    sort: str = "-score",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SuggestedMatch], int]:
    """Matches for the secretariat to review, and how many there are.

    By default the matches awaiting a decision (suggested or shortlisted) of the needs still being served (open
    or under review), best score first. ``region``: the need's Party is inside this area; ``targets``: the need
    names any of them; ``sort``: one of ``models.repositories.REVIEW_SORTS``.
    """
    access.check_staff(principal, "review suggested matches")
    parties: tuple[str, ...] = ()
    if region:
        parties = tuple(sorted(vocab.countries_in(region)))
        if not parties:
            return [], 0
    listing = ReviewListing(
        statuses=statuses,
        need_statuses=need_statuses,
        parties=parties,
        targets=targets,
        need_id=need_id,
        offer_id=offer_id,
    )
    return SuggestedMatchRepository(session).review_queue(listing, sort=sort, limit=limit, offset=offset)

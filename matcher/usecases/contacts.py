"""A Party follows up its need: its workspace (the need, its ranked providers, what it did about them), its
shortlist and its contact requests, and the list of its needs.

The rules are ``matcher.access.rules.check_need_follow_up`` (the need's Party and the secretariat; providers
are refused, another Party finds nothing) and ``check_read_offer`` (only an offer the reader may read is
shortlisted or contacted). Shortlisting and asking for contact are idempotent: doing it again returns what is
stored and writes nothing. Every write is attributed to the caller in the audit log (``act_as``). Functions
take the caller's session and never commit. Answering a contact request is the provider's side: not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.verdicts import Fit
from matcher.errors import InvalidInputError
from matcher.records.interchange import CONTACT_MESSAGE
from matcher.review.suggestions import stored_suggestions, suggestion_fit
from models.orm import ContactRequest, Need, Offer, ShortlistEntry, SuggestedMatch
from models.repositories import (
    ContactRequestRepository,
    FollowUpCounts,
    NeedListing,
    NeedRepository,
    OfferRepository,
    ShortlistRepository,
    follow_up_counts,
    list_needs,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RowT = TypeVar("RowT", ShortlistEntry, ContactRequest)


@dataclass(frozen=True, slots=True)
class Recorded(Generic[RowT]):
    """A shortlist entry or contact request as stored, and whether this call created it."""

    row: RowT
    created: bool


@dataclass(frozen=True, slots=True)
class Workspace:
    """A need as its Party follows it up.

    Attributes:
        need: the need.
        suggestions: its stored ranked providers the reader may read, best first.
        shortlisted: offer id -> shortlist entry.
        contacted: offer id -> contact request.
    """

    need: Need
    suggestions: list[SuggestedMatch]
    shortlisted: dict[int, ShortlistEntry]
    contacted: dict[int, ContactRequest]

    @property
    def fits(self) -> list[Fit]:
        """The fit verdict of each ranked provider, in order (from its stored score components)."""
        return [suggestion_fit(row) for row in self.suggestions]


@dataclass(frozen=True, slots=True)
class FollowedNeed:
    """A need in the list of a Party's needs, with what the Party did about its providers."""

    need: Need
    counts: FollowUpCounts


@dataclass(frozen=True, slots=True)
class FollowedNeeds:
    """A page of a Party's needs (newest first) and how many there are."""

    items: list[FollowedNeed]
    total: int


def followed_need(session: Session, principal: Principal, need_id: int) -> Need:
    """The need, if the caller follows it up (else 401/403/404 as ``check_need_follow_up`` says)."""
    return access.check_need_follow_up(principal, NeedRepository(session).get(need_id), need_id)


def workspace(session: Session, principal: Principal, need_id: int) -> Workspace:
    """The need, its stored ranked providers, its shortlist and its contact requests, as the reader may see
    them (offers it may no longer read are left out, as the ranked providers leave them out).

    The ranked providers are the suggestions stored when the need was posted, read as
    ``GET /v1/needs/{id}/matches`` reads them (:func:`matcher.review.suggestions.stored_suggestions`).
    """
    need = followed_need(session, principal, need_id)
    suggestions = stored_suggestions(session, need.id, reader=principal)
    shortlisted = {e.offer_id: e for e in shortlist_of(session, principal, need.id)}
    contacted = {c.offer_id: c for c in contact_requests_of(session, principal, need.id)}
    return Workspace(need, suggestions, shortlisted, contacted)


def _readable_offer(session: Session, principal: Principal, offer_id: int) -> Offer:
    return access.check_read_offer(principal, OfferRepository(session).get(offer_id), offer_id)


def shortlist(session: Session, principal: Principal, need_id: int, offer_id: int) -> Recorded[ShortlistEntry]:
    """Shortlist the provider of ``offer_id`` for the need (once: again returns the stored entry)."""
    need = followed_need(session, principal, need_id)
    offer = _readable_offer(session, principal, offer_id)
    audit.act_as(session, principal)
    row, created = ShortlistRepository(session).add_once(
        ShortlistEntry(need_id=need.id, offer_id=offer.id, added_by=principal.user_id)
    )
    return Recorded(row, created)


def remove_from_shortlist(session: Session, principal: Principal, need_id: int, offer_id: int) -> bool:
    """Take the provider of ``offer_id`` off the need's shortlist; False when it was not on it."""
    need = followed_need(session, principal, need_id)
    repo = ShortlistRepository(session)
    row = repo.get(need.id, offer_id)
    if row is None:
        return False
    audit.act_as(session, principal)
    repo.delete(row)
    return True


def request_contact(
    session: Session, principal: Principal, need_id: int, offer_id: int, message: str
) -> Recorded[ContactRequest]:
    """Ask to be put in contact with the provider of ``offer_id`` about the need, with a short message.

    Asking again for the same need and offer returns the first request unchanged (its message is kept).
    The provider is also shortlisted, since the Party evidently wants to keep it in view.

    Raises:
        InvalidInputError: the message is empty, too long or holds control characters (field ``message``).
    """
    need = followed_need(session, principal, need_id)
    offer = _readable_offer(session, principal, offer_id)
    try:
        text = CONTACT_MESSAGE.validate(message)
    except ValueError as exc:
        raise InvalidInputError(f"message {exc}", field="message") from exc
    if len(text) > (CONTACT_MESSAGE.max_length or len(text)):
        raise InvalidInputError(f"message is longer than {CONTACT_MESSAGE.max_length} characters", field="message")
    audit.act_as(session, principal)
    ShortlistRepository(session).add_once(
        ShortlistEntry(need_id=need.id, offer_id=offer.id, added_by=principal.user_id)
    )
    row, created = ContactRequestRepository(session).add_once(
        ContactRequest(need_id=need.id, offer_id=offer.id, requested_by=principal.user_id, message=text)
    )
    return Recorded(row, created)


def shortlist_of(session: Session, principal: Principal, need_id: int) -> list[ShortlistEntry]:
    """The need's shortlist, oldest first, without offers the reader may no longer read."""
    need = followed_need(session, principal, need_id)
    rows = ShortlistRepository(session).for_need(need.id)
    return [r for r in rows if access.can_read_offer(principal, r.offer)]


def contact_requests_of(session: Session, principal: Principal, need_id: int) -> list[ContactRequest]:
    """The need's contact requests, oldest first, without offers the reader may no longer read."""
    need = followed_need(session, principal, need_id)
    rows = ContactRequestRepository(session).for_need(need.id)
    return [r for r in rows if access.can_read_offer(principal, r.offer)]


def my_needs(session: Session, principal: Principal, *, limit: int, offset: int) -> FollowedNeeds:
    """The needs the caller follows up, newest first: a Party's, of every status and visibility; every need
    for the secretariat."""
    access.check_needs_role(principal, "follow up needs")
    listing = (
        NeedListing(visible_all=True)
        if principal.is_staff
        else NeedListing(visible_country=principal.country, parties=(str(principal.country),))
    )
    page = list_needs(session, listing, limit=limit, offset=offset, newest_first=True)
    counts = follow_up_counts(session, [n.id for n in page.items])
    return FollowedNeeds([FollowedNeed(n, counts[n.id]) for n in page.items], page.total)

"""Who may do what to which record: the object-level authorization rules, in one place.

| role        | acts for        | needs                                       | offers                            |
|-------------|-----------------|---------------------------------------------|-----------------------------------|
| anonymous   | nobody          | —                                           | read active offers                |
| party       | one country     | post for its country; read public needs and | read active offers                |
|             |                 | its own; change its own                     |                                   |
| provider    | one org.        | read public needs                           | post for its organisation; read   |
|             |                 |                                             | active offers and its own; change |
|             |                 |                                             | its own                           |
| secretariat | everyone        | read and change every need                  | read and change every offer       |
| admin       | everyone        | as the secretariat                          | as the secretariat                |

- Confidential needs are visible only to their Party and to the secretariat/admins; to anyone else they do not
  exist (404, never 403, so that their existence does not leak).
- A record the caller may see but not change answers 403; a record it may not see answers 404.
- The ranked providers of a need (stored or re-ranked) are for the need's owners and the secretariat; the needs
  an offer could serve are for the offer's owners and the secretariat.
- A need's follow-up — its workspace pages, its shortlist and its contact requests — is its Party's and the
  secretariat's/admins'. Providers have none (403, whatever the need); to another Party a need's follow-up
  does not exist (404, even for a public need: the workspace is not the public need page). A provider may be
  shortlisted or contacted only through an offer the reader may read (else 404).
- Organisations are a directory every signed-in caller may read; the secretariat/admins create and change them,
  and a provider may change its own organisation's details.
- The public web pages show anyone, without signing in, what Pollinate publishes: public needs (confidential
  ones do not exist there either), active offers, and the provider directory — organisations with at least
  one active offer, with their public fields (name, type, country, website), never their users. The API keeps
  its own rule for anonymous callers (active offers and vocabularies only).
- Subscriptions, their deliveries and the notification feed belong to a provider organisation: only its
  providers create and change them; the secretariat/admins read them (and every dead-lettered delivery), may
  delete a subscription and retry a delivery; to anyone else they do not exist.
- What a reader is shown about a need or an offer *after the fact* — the notification feed, webhook and
  e-mail deliveries, a need's stored suggestions — follows the same read rules as the record itself, applied
  when it is shown, not when it was written: an item whose need became confidential, or whose offer was
  paused, is left out for a reader who may no longer read it, exactly as if the record had been deleted. It is
  not shown as "withdrawn": that would tell the reader the record still exists. Deliveries are read as a
  provider of the subscription's organisation (:func:`subscriber`).
- Exports (``pollinate export``, judgements) and the audit log are the operator's and the secretariat's, who
  read every record: they leave nothing out.
- The review of suggested matches (the queue, a match, its decisions and their history), the audit log and
  batch jobs are the secretariat's/admins' work: every other signed-in role is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from matcher.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from models.orm import ApiKey, Need, Offer, Organisation, Subscription

Role = Literal["anonymous", "party", "provider", "secretariat", "admin"]
STAFF: Final = frozenset({"secretariat", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request or command.

    Attributes:
        role: ``anonymous`` without an API key, else the role of the key's user.
        user_id: the user (``None`` when anonymous).
        country: the Party's country (role ``party``).
        organisation_id: the provider's organisation (role ``provider``).
        key_id: the public id of the API key used (for rate limits and logs; never the secret).
    """

    role: Role
    user_id: int | None = None
    country: str | None = None
    organisation_id: int | None = None
    key_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def is_anonymous(self) -> bool:
        return self.role == "anonymous"


ANONYMOUS: Final = Principal(role="anonymous")


def require_signed_in(principal: Principal) -> None:
    """Anonymous callers may only read active offers and the vocabularies."""
    if principal.is_anonymous:
        raise AuthenticationError("this requires an API key: send it as 'Authorization: Bearer <key>'")


# -------------------------------------------------------------------------------------------- needs


def owns_need(principal: Principal, need: Need) -> bool:
    """The need's Party (by country) or staff."""
    return principal.is_staff or (principal.role == "party" and principal.country == need.party)


def can_read_need(principal: Principal, need: Need, *, public_pages: bool = False) -> bool:
    """``public_pages``: the public web pages, where anonymous visitors see the public needs."""
    if principal.is_anonymous:
        return public_pages and need.visibility == "public"
    return need.visibility == "public" or owns_need(principal, need)


def check_read_need(principal: Principal, need: Need | None, need_id: int, *, public_pages: bool = False) -> Need:
    """The need if the caller may see it; otherwise 'no such need' (confidential needs do not leak).

    ``public_pages``: the public web pages, where anonymous visitors see the public needs.
    """
    if not public_pages:
        require_signed_in(principal)
    if need is None or not can_read_need(principal, need, public_pages=public_pages):
        raise NotFoundError(f"no need with id {need_id}")
    return need


def check_change_need(principal: Principal, need: Need | None, need_id: int) -> Need:
    """The need if the caller may change it (or see its ranked providers)."""
    need = check_read_need(principal, need, need_id)
    if not owns_need(principal, need):
        raise PermissionDeniedError(f"need {need_id} belongs to {need.party}; only its Party and the secretariat")
    return need


def check_needs_role(principal: Principal, action: str) -> None:
    """Parties and the secretariat post and follow up needs (401 anonymous, 403 any other role)."""
    require_signed_in(principal)
    if not principal.is_staff and principal.role != "party":
        raise PermissionDeniedError(f"only Parties and the secretariat {action}")


def check_need_follow_up(principal: Principal, need: Need | None, need_id: int) -> Need:
    """The need if the caller follows it up (its workspace, shortlist and contact requests; see the module
    docstring): 401 anonymous, 403 a role without needs, 404 a need of another Party."""
    check_needs_role(principal, "follow up needs")
    if need is None or not owns_need(principal, need):
        raise NotFoundError(f"no need with id {need_id}")
    return need


def check_create_need(principal: Principal, party: str) -> None:
    require_signed_in(principal)
    if principal.is_staff:
        return
    if principal.role != "party":
        raise PermissionDeniedError("only Parties and the secretariat post needs")
    if party != principal.country:
        raise PermissionDeniedError(f"your key acts for {principal.country}; it cannot post a need for {party}")


def visible_need_scope(principal: Principal, *, public_pages: bool = False) -> tuple[bool, str | None]:
    """For listings: (every need visible, country whose confidential needs are visible too).

    ``public_pages``: the public web pages, where anonymous visitors see the public needs.
    """
    if public_pages and principal.is_anonymous:
        return False, None
    require_signed_in(principal)
    if principal.is_staff:
        return True, None
    return False, principal.country if principal.role == "party" else None


# ------------------------------------------------------------------------------------------- offers


def owns_offer(principal: Principal, offer: Offer) -> bool:
    return principal.is_staff or (
        principal.role == "provider" and principal.organisation_id == offer.organisation_id
    )


def can_read_offer(principal: Principal, offer: Offer) -> bool:
    return offer.status == "active" or owns_offer(principal, offer)


def check_read_offer(principal: Principal, offer: Offer | None, offer_id: int) -> Offer:
    if offer is None or not can_read_offer(principal, offer):
        raise NotFoundError(f"no offer with id {offer_id}")
    return offer


def check_change_offer(principal: Principal, offer: Offer | None, offer_id: int) -> Offer:
    """The offer if the caller may change it (or see the needs it could serve)."""
    require_signed_in(principal)
    offer = check_read_offer(principal, offer, offer_id)
    if not owns_offer(principal, offer):
        raise PermissionDeniedError(f"offer {offer_id} belongs to another organisation")
    return offer


def check_create_offer(principal: Principal, organisation_id: int) -> None:
    require_signed_in(principal)
    if principal.is_staff:
        return
    if principal.role != "provider":
        raise PermissionDeniedError("only providers and the secretariat post offers")
    if organisation_id != principal.organisation_id:
        raise PermissionDeniedError("your key acts for another organisation")


def visible_offer_scope(principal: Principal) -> tuple[bool, int | None]:
    """For listings: (offers of every status visible, organisation whose offers are visible in any status)."""
    if principal.is_staff:
        return True, None
    return False, principal.organisation_id if principal.role == "provider" else None


# ------------------------------------------------------------------------------------ organisations


def check_read_organisation(principal: Principal, organisation: Organisation | None, org_id: int) -> Organisation:
    require_signed_in(principal)
    if organisation is None:
        raise NotFoundError(f"no organisation with id {org_id}")
    return organisation


def check_read_provider(organisation: Organisation | None, org_id: int, *, active_offers: int) -> Organisation:
    """An organisation of the public directory: anyone reads it while it has an active offer (``active_offers``);
    other organisations (requesting institutions, providers with nothing on offer) are not there (404)."""
    if organisation is None or active_offers < 1:
        raise NotFoundError(f"no provider with id {org_id}")
    return organisation


def check_change_organisation(
    principal: Principal, organisation: Organisation | None, org_id: int
) -> Organisation:
    organisation = check_read_organisation(principal, organisation, org_id)
    if principal.is_staff or (principal.role == "provider" and principal.organisation_id == organisation.id):
        return organisation
    raise PermissionDeniedError(f"organisation {org_id} can only be changed by itself and the secretariat")


def check_staff(principal: Principal, action: str) -> None:
    require_signed_in(principal)
    if not principal.is_staff:
        raise PermissionDeniedError(f"only the secretariat may {action}")


# ------------------------------------------------------------------------------------ subscriptions


def check_create_subscription(principal: Principal) -> int:
    """The organisation a new subscription is for: only providers subscribe, for their own organisation."""
    require_signed_in(principal)
    if principal.role != "provider" or principal.organisation_id is None:
        raise PermissionDeniedError("only providers subscribe to needs (a subscription follows an organisation)")
    return principal.organisation_id


def owns_subscription(principal: Principal, subscription: Subscription) -> bool:
    return principal.role == "provider" and principal.organisation_id == subscription.organisation_id


def check_read_subscription(
    principal: Principal, subscription: Subscription | None, subscription_id: int
) -> Subscription:
    """Its organisation and the secretariat see a subscription; to anyone else it does not exist."""
    require_signed_in(principal)
    if subscription is None or not (principal.is_staff or owns_subscription(principal, subscription)):
        raise NotFoundError(f"no subscription with id {subscription_id}")
    return subscription


def check_change_subscription(
    principal: Principal, subscription: Subscription | None, subscription_id: int, *, deleting: bool = False
) -> Subscription:
    """Its organisation changes a subscription; the secretariat may also delete one (moderation)."""
    subscription = check_read_subscription(principal, subscription, subscription_id)
    if owns_subscription(principal, subscription) or (deleting and principal.is_staff):
        return subscription
    raise PermissionDeniedError(f"subscription {subscription_id} can only be changed by its organisation")


def subscriber(organisation_id: int) -> Principal:
    """Whom a subscription's deliveries are for: a provider of its organisation (what they may read, they get)."""
    return Principal(role="provider", organisation_id=organisation_id)


def check_feed(principal: Principal) -> int:
    """The organisation whose notification feed the caller reads (providers only)."""
    require_signed_in(principal)
    if principal.role != "provider" or principal.organisation_id is None:
        raise PermissionDeniedError("only providers have a notification feed")
    return principal.organisation_id


# --------------------------------------------------------------------------------------- API keys


def check_own_key(principal: Principal, key: ApiKey | None, key_id: str) -> ApiKey:
    """A key the signed-in person may manage on their keys page: their own; any other key does not exist for
    them (404, so that key ids of other people cannot be probed)."""
    require_signed_in(principal)
    if key is None or principal.user_id is None or key.user_id != principal.user_id:
        raise NotFoundError(f"no API key with id {key_id}")
    return key

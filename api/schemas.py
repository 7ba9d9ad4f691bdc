"""HTTP schemas: what the API accepts and returns.

Input models reject unknown fields, bound every text and list, and turn vocabulary values into their canonical
spelling (or fail naming the field, the value and the closest valid values), reusing the field types of the
gold-set records (``matcher/records.py``: ``Text`` for free text, ``Vocabulary`` for controlled values, each
documented in the OpenAPI schema as it is enforced). Output models are built from ORM objects and engine results
by the ``*_out`` functions.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from matcher.alerts.reverse import MAX_TOP_N
from matcher.assist.prompts import render
from matcher.assist.service import Assistance
from matcher.engine.service import Match, MatchResult, NeedMatch
from matcher.engine.verdicts import Fit, Verdict
from matcher.jobs.batch import eta_seconds
from matcher.records.interchange import (
    EMAIL_PATTERN,
    URL_HINT,
    URL_PATTERN,
    Areas,
    AssistanceType,
    AssistanceTypes,
    ContactMessage,
    Cost,
    Countries,
    CountryCode,
    Description,
    ExternalId,
    LanguageCode,
    Languages,
    Name,
    OrganisationType,
    Place,
    TargetNumber,
    Targets,
    Text,
    Title,
    Website,
)
from matcher.review import workflow as review
from matcher.review.suggestions import explanation_json, suggestion_fit
from models import vocabularies as vocab
from models.orm import (
    EMAIL_LEN,
    NOTE_LEN,
    QUERY_LEN,
    URL_LEN,
    AuditEvent,
    ConnectorRun,
    ContactRequest,
    Delivery,
    Job,
    JobNeedDiff,
    Need,
    Notification,
    Offer,
    Organisation,
    ShortlistEntry,
    Subscription,
    SuggestedMatch,
)

T = TypeVar("T")

# SQLite hands back naive datetimes (stored as UTC); the API always says which zone a time is in.
UtcDateTime = Annotated[dt.datetime, AfterValidator(lambda v: v if v.tzinfo else v.replace(tzinfo=dt.UTC))]
QueryText = Annotated[str, Text(max_length=20_000, min_visible=3)]
Capacity = Annotated[int, Field(ge=0, le=100_000)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error. Strings are stripped by their types (``Text``),
    after the checks, so that the limits the schema documents are the ones applied."""

    model_config = ConfigDict(extra="forbid")


def _null_only_where_nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The schema of a PATCH body: ``null`` only for the fields listed in ``nullable`` (``Update``)."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, field in schema.get("properties", {}).items():
        if name in nullable or "anyOf" not in field:
            continue
        options = [option for option in field.pop("anyOf") if option != {"type": "null"}]
        if len(options) == 1:
            field.update(options[0])
        else:
            field["anyOf"] = options
        if "default" in field and field["default"] is None:
            del field["default"]  # left out means unchanged, not null


class Update(Input):
    """Base of PATCH bodies: a field left out is unchanged; ``null`` is refused except where it means "none"
    (listed in ``nullable``), and the schema says so."""

    model_config = ConfigDict(json_schema_extra=_null_only_where_nullable)  # merged with Input's

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null_for_required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class ErrorBody(BaseModel):
    """Every error: a code, what went wrong and how to fix it, and the field at fault when there is one."""

    error: str = Field(examples=["invalid_input"])
    detail: str = Field(examples=["targets[0]: unknown KMGBF target 24; targets are 1-23"])
    field: str | None = Field(default=None, examples=["targets"])


# ------------------------------------------------------------------------------------- organisations


class OrganisationCreate(Input):
    name: Name
    org_type: OrganisationType
    country: CountryCode
    website: Website | None = None


class OrganisationUpdate(Update):
    nullable: ClassVar[frozenset[str]] = frozenset({"website"})

    name: Name | None = None
    org_type: OrganisationType | None = None
    country: CountryCode | None = None
    website: Website | None = None


class OrganisationOut(BaseModel):
    id: int
    name: str
    org_type: str
    country: str
    website: str | None
    version: int


def organisation_out(org: Organisation) -> OrganisationOut:
    return OrganisationOut.model_validate(org, from_attributes=True)


class OrganisationRef(BaseModel):
    id: int
    name: str
    org_type: str
    country: str


def _ref(org: Organisation) -> OrganisationRef:
    return OrganisationRef.model_validate(org, from_attributes=True)


# --------------------------------------------------------------------------------------------- needs

NeedStatus = Literal["open", "under_review", "matched", "closed", "withdrawn"]
Visibility = Literal["public", "confidential"]


class NeedCreate(Input):
    """A need. ``party`` defaults to the caller's country (a Party's key); ``language`` is detected from the
    text when absent; the requesting institution is ``organisation_id`` or ``requesting_organisation`` (a name,
    created as a government agency of the party if new), by default the party's government."""

    title: Title
    description: Description
    targets: Targets
    assistance_types: AssistanceTypes
    party: CountryCode | None = None
    language: LanguageCode | None = None
    requesting_organisation: Name | None = None
    organisation_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    visibility: Visibility = "public"
    external_id: ExternalId | None = None


class NeedUpdate(Update):
    title: Title | None = None
    description: Description | None = None
    targets: Targets | None = None
    assistance_types: AssistanceTypes | None = None
    language: LanguageCode | None = None
    visibility: Visibility | None = None
    status: NeedStatus | None = None


class NeedOut(BaseModel):
    id: int
    external_id: str | None
    party: str
    organisation: OrganisationRef
    title: str
    description: str
    targets: list[int]
    assistance_types: list[str]
    language: str
    status: str
    visibility: str
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


def need_out(need: Need) -> NeedOut:
    """A stored need as the API shows it: its columns by name, its requesting organisation as a reference."""
    return NeedOut.model_validate(need, from_attributes=True)


# -------------------------------------------------------------------------------------------- offers

OfferStatus = Literal["active", "paused", "expired"]


# An offer must serve somewhere (matcher/offers.py); a PATCH is checked against the stored offer, so only the
# create body can say it.
_SERVES_SOMEWHERE: dict[str, Any] = {
    "anyOf": [
        {"required": [name], "properties": {name: {"minItems": 1}}}
        for name in ("regions_served", "countries_served")
    ]
}


class OfferCreate(Input):
    """An offer; ``organisation_id`` defaults to the caller's organisation (a provider's key). It serves at least
    one area or country."""

    model_config = ConfigDict(json_schema_extra=_SERVES_SOMEWHERE)  # merged with Input's

    title: Title
    description: Description
    targets: Targets
    assistance_types: AssistanceTypes
    languages: Languages
    regions_served: Areas = Field(default_factory=list)
    countries_served: Countries = Field(default_factory=list)
    cost: Cost = "negotiable"
    capacity: Capacity | None = None
    expires_on: dt.date | None = None
    organisation_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    external_id: ExternalId | None = None


class OfferUpdate(Update):
    nullable: ClassVar[frozenset[str]] = frozenset({"capacity", "expires_on"})

    title: Title | None = None
    description: Description | None = None
    targets: Targets | None = None
    assistance_types: AssistanceTypes | None = None
    languages: Languages | None = None
    regions_served: Areas | None = None
    countries_served: Countries | None = None
    cost: Cost | None = None
    capacity: Capacity | None = None
    expires_on: dt.date | None = None
    status: OfferStatus | None = None


class OfferOut(BaseModel):
    id: int
    external_id: str | None
    organisation: OrganisationRef
    title: str
    description: str
    targets: list[int]
    assistance_types: list[str]
    languages: list[str]
    regions_served: list[str]
    countries_served: list[str]
    cost: str
    capacity: int | None
    status: str
    expires_on: dt.date | None
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


def offer_out(offer: Offer) -> OfferOut:
    """A stored offer as the API shows it: its columns by name, its organisation as a reference."""
    return OfferOut.model_validate(offer, from_attributes=True)


# ------------------------------------------------------------------------------------------ matching


class FactOut(BaseModel):
    """One statement of an explanation as data (``matcher/engine/explain.py`` lists the codes)."""

    code: str = Field(description="Which statement, e.g. `targets.shared` or `geography.sub_region`.")
    params: dict[str, Any] = Field(description="The vocabulary codes and values the statement is about.")


class ExplanationFactsOut(BaseModel):
    """The summary and reasons of an explanation as language-free facts, one per sentence, in order."""

    summary: FactOut
    reasons: list[FactOut]


class ExplanationOut(BaseModel):
    summary: str
    reasons: list[str]
    evidence: list[str]
    text: str
    facts: ExplanationFactsOut | None = Field(
        default=None,
        description="The summary and reasons as facts, to show them in another language; absent from "
        "explanations stored before facts existed.",
    )


PROBABILITY_HELP = "Calibrated probability that a person would judge this provider relevant (docs/evaluation.md)."
VERDICT_HELP = "The probability in words: strong >= 0.75, good >= 0.5, possible >= 0.25, else weak."
WEAK_TOPICAL_HELP = "Targets and geography fit but the texts are about something else (never a strong verdict)."


class MatchOut(BaseModel):
    """A suggested provider: the score is the sum of the components; the verdict says what it is worth."""

    rank: int
    offer_id: int
    external_id: str | None
    organisation: str
    title: str
    score: float
    components: dict[str, float]
    probability: float = Field(ge=0, le=1, description=PROBABILITY_HELP)
    verdict: Verdict = Field(description=VERDICT_HELP)
    weak_topical_fit: bool = Field(description=WEAK_TOPICAL_HELP)
    explanation: ExplanationOut
    status: str | None = Field(default=None, description="Review status, for stored suggestions.")


def match_out(rank: int, match: Match) -> MatchOut:
    return MatchOut(
        rank=rank,
        offer_id=match.offer_id,
        external_id=match.external_id,
        organisation=match.organisation,
        title=match.title,
        score=round(match.score, 6),
        components={k: round(v, 6) for k, v in match.components.items()},
        probability=match.probability,
        verdict=match.verdict,
        weak_topical_fit=match.weak_topical_fit,
        explanation=ExplanationOut(**explanation_json(match)),
    )


def stored_match_out(row: SuggestedMatch) -> MatchOut:
    fit: Fit = suggestion_fit(row)
    return MatchOut(
        rank=row.rank,
        offer_id=row.offer_id,
        external_id=row.offer.external_id,
        organisation=row.offer.organisation.name,
        title=row.offer.title,
        score=round(row.score, 6),
        components={k: round(v, 6) for k, v in row.components.items()},
        probability=fit.probability,
        verdict=fit.verdict,
        weak_topical_fit=fit.weak_topical_fit,
        explanation=ExplanationOut(**row.explanation),
        status=row.status,
    )


class Ranking(BaseModel):
    """Ranked providers, and what the filters did."""

    matches: list[MatchOut]
    allowed: int = Field(description="Offers that passed the filters and eligibility rules.")
    excluded: dict[str, int] = Field(description="Eligibility exclusions by reason.")
    empty_reason: str | None = Field(description="Why there is no match and what to relax.")


def ranking_out(result: MatchResult) -> Ranking:
    return Ranking(
        matches=[match_out(rank, m) for rank, m in enumerate(result.matches, start=1)],
        allowed=result.allowed,
        excluded=result.excluded,
        empty_reason=result.empty_reason,
    )


class StoredRanking(BaseModel):
    """The suggestions stored for a need (as ranked when it was posted or last re-ranked)."""

    matches: list[MatchOut]
    source: Literal["stored", "reranked"]


class NeedPosted(BaseModel):
    """A new need and its ranked providers (also stored as its suggested matches)."""

    need: NeedOut
    ranking: Ranking


class MatchFiltersIn(Input):
    """Hard filters: an offer that fails one is never returned. Empty means no constraint."""

    targets: list[Annotated[int, Field(ge=1, le=23)]] = Field(default_factory=list, max_length=23)
    serves: list[Place] = Field(
        default_factory=list, max_length=50, description="Areas or ISO3 countries the offer must serve."
    )
    assistance_types: list[AssistanceType] = Field(default_factory=list, max_length=20)
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    costs: list[Cost] = Field(default_factory=list, max_length=3)
    org_types: list[OrganisationType] = Field(default_factory=list, max_length=8)


class MatchRequest(Input):
    """An ad-hoc query: text and optional need fields (ranking signals) and filters. Nothing is stored."""

    text: QueryText
    targets: list[Annotated[int, Field(ge=1, le=23)]] = Field(default_factory=list, max_length=23)
    country: CountryCode | None = None
    assistance_types: list[AssistanceType] = Field(default_factory=list, max_length=20)
    language: LanguageCode | None = None
    filters: MatchFiltersIn = Field(default_factory=MatchFiltersIn)
    k: int = Field(default=10, ge=1, le=100)


class NeedMatchOut(BaseModel):
    """A need an offer could serve."""

    need_id: int
    external_id: str | None
    title: str
    party: str | None
    score: float
    components: dict[str, float]
    explanation: ExplanationOut


def need_match_out(m: NeedMatch) -> NeedMatchOut:
    e = m.explanation
    return NeedMatchOut(
        need_id=m.need_id or 0,
        external_id=m.external_id,
        title=m.title,
        party=m.party,
        score=round(m.score, 6),
        components={k: round(v, 6) for k, v in m.components.items()},
        explanation=ExplanationOut(**e.as_json()),
    )


# ------------------------------------------------------------------------------------- subscriptions

Email = Annotated[str, Text(max_length=EMAIL_LEN, pattern=EMAIL_PATTERN, hint="must be an e-mail address")]
WebhookUrl = Annotated[str, Text(max_length=URL_LEN, pattern=URL_PATTERN, hint=URL_HINT)]
SubscriptionQuery = Annotated[str, Text(max_length=QUERY_LEN, min_visible=3)]
Channel = Literal["feed", "webhook", "email"]
MinVerdict = Literal["strong", "good", "possible"]
MIN_VERDICT_HELP = (
    "Kind 'offers' only: the least fit verdict your offer's match must reach for the need to fire the "
    "subscription (strong: probability >= 0.75 that a person would judge your offer relevant, good >= 0.5, "
    "possible >= 0.25; default possible). Not allowed for kind 'query'."
)


class NeedConditions(Input):
    """Conditions on the needs a subscription hears about; empty means no condition."""

    targets: list[Annotated[int, Field(ge=1, le=23)]] = Field(
        default_factory=list, max_length=23, description="The need works on any of these KMGBF targets."
    )
    areas: list[Place] = Field(
        default_factory=list, max_length=50, description="The need's Party is one of these countries or areas."
    )
    assistance_types: list[AssistanceType] = Field(
        default_factory=list, max_length=9, description="The need asks for any of these."
    )
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20, description="The need's language.")


class SubscriptionCreate(Input):
    """What to hear about, when, and where.

    ``kind``: ``offers`` (default) follows your organisation's active offers; ``query`` a saved search text.
    ``rule``: ``top_n`` (default for offers: one of your offers would be among the need's top N providers,
    N=10 by default) or ``min_score`` (default for queries: 0.45). For offers the score is the pair score
    shown in the need's ranking of providers; for a query, the cosine similarity of the query and the need.
    ``min_verdict`` (offers only, default ``possible``): the least fit verdict the offer's match must reach,
    whatever the rule.
    """

    label: Name | None = None
    kind: Literal["offers", "query"] = "offers"
    query: SubscriptionQuery | None = None
    filters: NeedConditions = Field(default_factory=NeedConditions)
    rule: Literal["min_score", "top_n"] | None = None
    min_score: float | None = Field(default=None, ge=-1, le=3)
    top_n: int | None = Field(default=None, ge=1, le=MAX_TOP_N)
    min_verdict: MinVerdict | None = Field(default=None, description=MIN_VERDICT_HELP)
    delivery: Literal["instant", "daily", "weekly"] = "instant"
    channels: list[Channel] = Field(default_factory=lambda: list[Channel](["feed"]), min_length=1, max_length=3)
    webhook_url: WebhookUrl | None = Field(default=None, description="https target (Standard Webhooks signed).")
    email: Email | None = None


class SubscriptionUpdate(Update):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"label", "query", "rule", "min_score", "top_n", "min_verdict", "webhook_url", "email"}
    )

    label: Name | None = None
    kind: Literal["offers", "query"] | None = None
    query: SubscriptionQuery | None = None
    filters: NeedConditions | None = None
    rule: Literal["min_score", "top_n"] | None = None
    min_score: float | None = Field(default=None, ge=-1, le=3)
    top_n: int | None = Field(default=None, ge=1, le=MAX_TOP_N)
    min_verdict: MinVerdict | None = Field(default=None, description=MIN_VERDICT_HELP)
    delivery: Literal["instant", "daily", "weekly"] | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=3)
    webhook_url: WebhookUrl | None = None
    email: Email | None = None
    active: bool | None = None


class SubscriptionOut(BaseModel):
    id: int
    organisation_id: int
    label: str | None
    kind: str
    query: str | None
    filters: dict[str, list[Any]]
    rule: str
    min_score: float | None
    top_n: int | None
    min_verdict: MinVerdict | None = Field(description=MIN_VERDICT_HELP)
    delivery: str
    channels: list[str]
    webhook_url: str | None
    email: str | None
    active: bool
    created_at: UtcDateTime
    version: int


class SubscriptionCreated(SubscriptionOut):
    webhook_secret: str | None = Field(
        description="Standard Webhooks signing secret: shown only now (rotate it with /rotate-secret)."
    )


def subscription_out(row: Subscription, *, secret: str | None = None, created: bool = False) -> SubscriptionOut:
    values = {
        "id": row.id,
        "organisation_id": row.organisation_id,
        "label": row.label,
        "kind": row.kind,
        "query": row.query_text,
        "filters": dict(row.filters or {}),
        "rule": row.rule,
        "min_score": row.min_score,
        "top_n": row.top_n,
        "min_verdict": row.min_verdict,
        "delivery": row.delivery,
        "channels": list(row.channels),
        "webhook_url": row.webhook_url,
        "email": row.email,
        "active": row.active,
        "created_at": row.created_at,
        "version": row.version,
    }
    return SubscriptionCreated(**values, webhook_secret=secret) if created else SubscriptionOut(**values)


class NeedRef(BaseModel):
    id: int
    title: str
    party: str
    status: str


class NotificationOut(BaseModel):
    """A need that satisfied one of your subscriptions, and why."""

    id: int
    subscription_id: int
    need: NeedRef
    offer_id: int | None = Field(description="Your offer that fits it (offers subscriptions).")
    score: float
    components: dict[str, float]
    explanation: ExplanationOut
    created_at: UtcDateTime
    read_at: UtcDateTime | None


def notification_out(row: Notification) -> NotificationOut:
    need = row.need
    return NotificationOut(
        id=row.id,
        subscription_id=row.subscription_id,
        need=NeedRef(id=need.id, title=need.title, party=need.party, status=need.status),
        offer_id=row.offer_id,
        score=round(row.score, 6),
        components={k: round(v, 6) for k, v in row.components.items()},
        explanation=ExplanationOut(**row.explanation),
        created_at=row.created_at,
        read_at=row.read_at,
    )


class MarkRead(Input):
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=500)


class MarkedRead(BaseModel):
    marked: int = Field(description="Notifications newly marked read.")


class DeliveryOut(BaseModel):
    """One message through one channel. ``dead``: given up after the retries (see ``last_error``)."""

    id: int
    uid: str = Field(description="The message id (webhook-id header): the same on every retry.")
    subscription_id: int
    channel: str
    period: str
    status: str
    attempts: int
    due_at: UtcDateTime
    last_error: str | None
    last_status: int | None
    created_at: UtcDateTime
    delivered_at: UtcDateTime | None


def delivery_out(row: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        uid=row.uid,
        subscription_id=row.subscription_id,
        channel=row.channel,
        period=row.period,
        status=row.status,
        attempts=row.attempts,
        due_at=row.due_at,
        last_error=row.last_error,
        last_status=row.last_status,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


# ------------------------------------------------------------------------------------------ batch jobs


class AssignmentOptions(Input):
    """Capacity-aware assignment after the re-rank: providers per need under offer capacities."""

    per_need: int = Field(default=3, ge=1, le=20, description="Providers assigned to a need at most.")
    min_per_need: int = Field(default=1, ge=0, le=20, description="Providers every need gets where feasible.")
    south_south: float = Field(default=0.0, ge=0, le=2, description="Bonus for a Global South provider and Party.")
    ldc_sids: float = Field(default=0.0, ge=0, le=2, description="Bonus for the needs of LDCs and SIDS.")


class JobCreate(Input):
    """``rerank_all`` (every open need), ``rerank_needs`` (``need_ids``) or ``reembed`` (missing embeddings)."""

    kind: Literal["rerank_all", "rerank_needs", "reembed"]
    need_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default_factory=list, max_length=10_000)
    assignment: AssignmentOptions | None = None
    k: int | None = Field(default=None, ge=1, le=100, description="Suggestions stored per need.")


class JobOut(BaseModel):
    id: int
    kind: str
    params: dict[str, Any]
    status: str
    total: int | None
    done: int
    progress: float | None = Field(description="done / total")
    eta_s: float | None = Field(description="Seconds left at the current pace.")
    cancel_requested: bool
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    error: str | None
    result: dict[str, Any]


def job_out(row: Job) -> JobOut:
    return JobOut(
        id=row.id,
        kind=row.kind,
        params=dict(row.params or {}),
        status=row.status,
        total=row.total,
        done=row.done,
        progress=round(row.done / row.total, 4) if row.total else None,
        eta_s=eta_seconds(row),
        cancel_requested=row.cancel_requested,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        result=dict(row.result or {}),
    )


class JobDiffOut(BaseModel):
    """What a re-rank changed for one need: offer ids that appeared or disappeared, [offer, old, new rank]."""

    need_id: int
    appeared: list[int]
    disappeared: list[int]
    moved: list[list[int]]
    changed: bool


def job_diff_out(row: JobNeedDiff) -> JobDiffOut:
    return JobDiffOut(
        need_id=row.need_id,
        appeared=list(row.appeared),
        disappeared=list(row.disappeared),
        moved=[list(m) for m in row.moved],
        changed=row.changed,
    )


# ------------------------------------------------------------------------------------------ listings


class PageOut(BaseModel, Generic[T]):
    """A page of a listing: ``total`` counts every match, ``items`` holds at most ``limit`` of them."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Me(BaseModel):
    """The caller, as its API key identifies it."""

    role: str
    user_id: int | None
    country: str | None
    organisation_id: int | None
    key_id: str | None


class VocabularyItem(BaseModel):
    value: str | int
    label: str
    extra: dict[str, Any] = Field(default_factory=dict)


# -------------------------------------------------------------------------------------------- review

DecisionAction = Literal["shortlist", "accept", "reject", "contact", "complete", "reopen"]
RejectionReason = Literal[
    "out_of_scope", "geography", "capacity", "conflict_of_interest", "quality", "duplicate", "other"
]
Note = Annotated[str, Text(max_length=NOTE_LEN, min_visible=1)]


class DecisionIn(Input):
    """A review decision on a suggested match. ``reason`` is required to ``reject`` and refused otherwise."""

    action: DecisionAction = Field(
        description="shortlist, accept, reject, contact (the provider was contacted), complete, or reopen "
        "(back to suggested)."
    )
    reason: RejectionReason | None = Field(default=None, description="Why the provider is rejected.")
    note: Note | None = Field(default=None, description="Free text kept with the decision and in the audit log.")


class MatchNeedOut(BaseModel):
    id: int
    title: str
    party: str
    region: str = Field(description="The Party's UN M49 sub-region.")
    targets: list[int]
    status: str
    created_at: UtcDateTime


class MatchOfferOut(BaseModel):
    id: int
    external_id: str | None
    title: str
    organisation: str
    status: str


class ReviewMatchOut(BaseModel):
    """A suggested match as the secretariat reviews it: the need, the provider, why the ranker suggested it, and
    the latest decision. ``version`` is its ETag (decisions need it in If-Match)."""

    id: int
    need: MatchNeedOut
    offer: MatchOfferOut
    rank: int
    score: float
    components: dict[str, float]
    probability: float = Field(ge=0, le=1, description=PROBABILITY_HELP)
    verdict: Verdict = Field(description=VERDICT_HELP)
    weak_topical_fit: bool = Field(description=WEAK_TOPICAL_HELP)
    explanation: ExplanationOut
    status: str
    allowed_actions: list[str] = Field(description="The decisions the match's status allows now.")
    reason: str | None
    note: str | None
    decided_by: int | None = Field(description="The user who made the latest decision.")
    decided_at: UtcDateTime | None
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


def review_match_out(row: SuggestedMatch) -> ReviewMatchOut:
    need, offer = row.need, row.offer
    fit = suggestion_fit(row)
    return ReviewMatchOut(
        id=row.id,
        need=MatchNeedOut(
            id=need.id,
            title=need.title,
            party=need.party,
            region=vocab.countries()[need.party].sub_region,
            targets=need.targets,
            status=need.status,
            created_at=need.created_at,
        ),
        offer=MatchOfferOut(
            id=offer.id,
            external_id=offer.external_id,
            title=offer.title,
            organisation=offer.organisation.name,
            status=offer.status,
        ),
        rank=row.rank,
        score=round(row.score, 6),
        components={k: round(v, 6) for k, v in row.components.items()},
        probability=fit.probability,
        verdict=fit.verdict,
        weak_topical_fit=fit.weak_topical_fit,
        explanation=ExplanationOut(**row.explanation),
        status=row.status,
        allowed_actions=review.allowed_actions(row.status),
        reason=row.reason,
        note=row.note,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class AuditEventOut(BaseModel):
    """One change: who (``actor_*``; role ``system`` for imports and batch jobs), when, to which record, and
    each changed field as ``[before, after]``."""

    id: int
    at: UtcDateTime
    actor_user_id: int | None
    actor_role: str
    actor_label: str
    entity: str
    entity_id: int
    action: str
    changes: dict[str, list[Any]]
    note: str | None


def audit_event_out(row: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=row.id,
        at=row.at,
        actor_user_id=row.actor_user_id,
        actor_role=row.actor_role,
        actor_label=row.actor_label,
        entity=row.entity,
        entity_id=row.entity_id,
        action=row.action,
        changes=dict(row.changes),
        note=row.note,
    )


# ------------------------------------------------------------------------------------------ connectors


class FeedOut(BaseModel):
    """One page of a public feed: records in Pollinate's format (the import format plus ``url``, the record's
    page) or in the Bio-Bridge shape, and the relative URL of the next page (null on the last)."""

    kind: Literal["needs", "offers"]
    format: Literal["pollinate", "biobridge"]
    items: list[dict[str, Any]]
    next: str | None


class InvalidRecordOut(BaseModel):
    """A source record a run skipped, and why."""

    source_id: str
    reason: str


class ConnectorRunOut(BaseModel):
    """A connector run and its report."""

    id: int
    connector: str
    status: Literal["succeeded", "failed", "not_modified"]
    trigger: str
    started_at: UtcDateTime
    finished_at: UtcDateTime
    pages: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    invalid: list[InvalidRecordOut]
    error: str | None


def connector_run_out(row: ConnectorRun) -> ConnectorRunOut:
    return ConnectorRunOut(
        id=row.id,
        connector=row.connector,
        status=row.status,
        trigger=row.trigger,
        started_at=row.started_at,
        finished_at=row.finished_at,
        pages=row.pages,
        created=row.created,
        updated=row.updated,
        unchanged=row.unchanged,
        withdrawn=row.withdrawn,
        invalid=[InvalidRecordOut(**item) for item in row.invalid],
        error=row.error,
    )


class ConnectorOut(BaseModel):
    """A connector of the definitions folder and its last run."""

    name: str
    description: str
    kind: Literal["needs", "offers", "organisations"]
    mapping: str
    source: str
    schedule: str | None
    last_run: ConnectorRunOut | None


class DuplicateSideOut(BaseModel):
    """One record of a suggested duplicate pair: its id, the fields compared and where it comes from
    (connector names, or "typed in")."""

    id: int
    fields: dict[str, Any]
    sources: list[str]


DuplicateRecordId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class DuplicateMergeIn(Input):
    """Merge one need (or offer) of a suggested pair into the other."""

    kind: Literal["needs", "offers"] = Field(description="What the two records are.")
    survivor_id: DuplicateRecordId = Field(description="The record kept: it receives the other's provenance.")
    merged_id: DuplicateRecordId = Field(description="The copy: withdrawn (a need) or expired (an offer).")
    note: Note | None = Field(default=None, description="Why, kept with the decision and in the audit log.")


class DuplicateDismissIn(Input):
    """Two records of a suggested pair are not the same: the pair is not suggested again."""

    kind: Literal["organisations", "needs", "offers"] = Field(description="What the two records are.")
    left_id: DuplicateRecordId
    right_id: DuplicateRecordId
    note: Note | None = Field(default=None, description="Why, kept with the decision and in the audit log.")


class DuplicateMergeOut(BaseModel):
    """What a merge did."""

    kind: Literal["needs", "offers"]
    survivor_id: int
    merged_id: int
    merged_status: str = Field(description="The copy's status now (`withdrawn` or `expired`).")
    moved_sources: list[str] = Field(description="The provenance moved to the survivor, as `connector:source id`.")


class DuplicatePairOut(BaseModel):
    """Two records that look like one, side by side, with the score and what it rests on."""

    kind: Literal["organisations", "needs", "offers"]
    score: float
    reasons: list[str]
    left: DuplicateSideOut
    right: DuplicateSideOut


# ------------------------------------------------------------------------------ a need's shortlist and contacts

RecordKey = Annotated[int, Field(ge=1, le=2_147_483_647)]


class ShortlistAdd(Input):
    """Shortlist the provider of an offer for the need (an offer the caller may read)."""

    offer_id: RecordKey


class ContactRequestCreate(Input):
    """Ask to be put in contact with the provider of an offer about the need, with a short message."""

    offer_id: RecordKey
    message: ContactMessage


class OfferRef(BaseModel):
    id: int
    title: str
    organisation: OrganisationRef


def _offer_ref(offer: Offer) -> OfferRef:
    return OfferRef(id=offer.id, title=offer.title, organisation=_ref(offer.organisation))


class ShortlistEntryOut(BaseModel):
    """A provider the need's Party keeps in view (through one of its offers)."""

    need_id: int
    offer: OfferRef
    created_at: UtcDateTime


def shortlist_entry_out(row: ShortlistEntry) -> ShortlistEntryOut:
    return ShortlistEntryOut(need_id=row.need_id, offer=_offer_ref(row.offer), created_at=row.created_at)


class ContactRequestOut(BaseModel):
    """A request to be put in contact with a provider; ``status`` is ``sent`` (answers are not recorded yet)."""

    id: int
    need_id: int
    offer: OfferRef
    message: str
    status: str
    created_at: UtcDateTime


def contact_request_out(row: ContactRequest) -> ContactRequestOut:
    return ContactRequestOut(
        id=row.id,
        need_id=row.need_id,
        offer=_offer_ref(row.offer),
        message=row.message,
        status=row.status,
        created_at=row.created_at,
    )


# ------------------------------------------------------------------------------------------- assistant


class AssistNeedRequest(Input):
    """A need being written: its text and whatever was chosen so far (nothing is stored)."""

    title: Title
    description: Description
    party: CountryCode | None = Field(default=None, description="Default: the calling Party's country.")
    targets: list[TargetNumber] = Field(default_factory=list, max_length=23)
    assistance_types: list[AssistanceType] = Field(default_factory=list, max_length=9)
    language: LanguageCode | None = Field(
        default=None, description="Language of the text and of the prompts; detected from the text when absent."
    )


class TargetSuggestion(BaseModel):
    target: int
    probability: float


class TypeSuggestion(BaseModel):
    type: str
    probability: float


class PlaceOut(BaseModel):
    kind: Literal["country", "region"]
    code: str = Field(description="ISO 3166 alpha-3 for a country; the area's name for a region.")
    region: str
    mention: str = Field(description="The words of the text that named it.")


class MissingOut(BaseModel):
    field: str = Field(description="Stable: where, scale, tried, when, trainees, language, detail, targets, ...")
    code: str = Field(description="Stable identifier of the prompt.")
    params: dict[str, Any]
    prompt: str = Field(description="The prompt in the draft's language (English, French or Spanish).")


class DuplicateOut(BaseModel):
    need_id: int
    external_id: str | None
    party: str
    title: str
    status: str
    similarity: float


class AssistNeedOut(BaseModel):
    """What the assistant says about a draft need."""

    targets: list[TargetSuggestion] = Field(description="Likely KMGBF targets (probability >= 0.5, at most 3).")
    assistance_types: list[TypeSuggestion]
    places: list[PlaceOut]
    missing: list[MissingOut]
    duplicates: list[DuplicateOut] = Field(
        description="Similar existing needs of the Party and its sub-region that the caller may see."
    )
    language: str


def assist_need_out(assistance: Assistance) -> AssistNeedOut:
    lang = assistance.language
    return AssistNeedOut(
        targets=[
            TargetSuggestion(target=int(s.label), probability=s.probability)
            for s in assistance.suggestions.shown_targets
        ],
        assistance_types=[
            TypeSuggestion(type=s.label, probability=s.probability) for s in assistance.suggestions.shown_types
        ],
        places=[PlaceOut(kind=p.kind, code=p.code, region=p.region, mention=p.mention) for p in assistance.places],
        missing=[
            MissingOut(field=g.field, code=g.code, params=dict(g.params), prompt=render(g, lang))
            for g in assistance.missing
        ],
        duplicates=[
            DuplicateOut(
                need_id=d.record.id,
                external_id=d.record.external_id,
                party=d.record.owner,
                title=d.record.title,
                status=d.record.status,
                similarity=d.similarity,
            )
            for d in assistance.duplicates
        ],
        language=lang,
    )

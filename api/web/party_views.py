"""What the Party's pages show: the post-need form, its needs, and a need's ranked providers, as display data in
the reader's language.

Like ``views.py``: routes call the services, then these functions; templates only lay the result out. The
form's draft (what the reader typed) is kept as given, so that a form sent back with errors shows it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from babel import numbers
from pydantic import ValidationError

from api.web.i18n import gettext as _
from api.web.i18n import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from api.web.views import NeedView, Term, need_view
from matcher.assist.prompts import render as render_prompt
from matcher.assist.service import Assistance
from matcher.engine.verdicts import Fit
from matcher.language.explanations import explanation_view
from matcher.usecases.contacts import FollowedNeed, Workspace
from models import vocabularies as vocab
from models.orm import ContactRequest, SuggestedMatch

# What each kind of help means, in plain words (the vocabulary's codes are the API's).
ASSISTANCE_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "training": N_("Courses, workshops or on-the-job training for your staff."),
    "technical_advice": N_("Experts who advise on a method, a survey, a plan or a tool."),
    "technology_transfer": N_("Equipment designs, software or techniques handed over for you to use yourself."),
    "data_sharing": N_("Access to data sets, maps, species records or monitoring results."),
    "research_collaboration": N_("Joint research: studies, field work or publications with your institutions."),
    "policy_legal_advice": N_("Help with laws, regulations, strategies and national reports."),
    "mentoring": N_("A longer-term partner who accompanies your team as it builds its own skills."),
    "equipment": N_("Instruments, field gear or laboratory material."),
    "funding": N_("Grants or co-financing for a project."),
}

# Verdicts in plain words: their name, and what the calibrated probability behind them means.
VERDICT_LABELS: Final[Mapping[str, str]] = {
    "strong": N_("Strong fit"),
    "good": N_("Good fit"),
    "possible": N_("Possible fit"),
    "weak": N_("Weak fit"),
}
VERDICT_MEANINGS: Final[Mapping[str, str]] = {
    "strong": N_("At least three in four providers rated like this were judged relevant by reviewers."),
    "good": N_("At least one in two providers rated like this were judged relevant by reviewers."),
    "possible": N_("At least one in four providers rated like this were judged relevant by reviewers."),
    "weak": N_("Fewer than one in four providers rated like this were judged relevant by reviewers."),
}

# Messages shown beside a field of the post-need form when its value is refused.
FIELD_MESSAGES: Final[Mapping[str, str]] = {
    "title": N_("Give a title of 3 to 300 characters (letters, digits and punctuation; no control characters)."),
    "description": N_("Describe the need in at least 10 characters (at most 20,000), without control characters."),
    "targets": N_("Choose at least one KMGBF target."),
    "assistance_types": N_("Choose at least one kind of help."),
    "party": N_("Choose the country the need is for."),
    "language": N_("Choose a language from the list, or let Pollinate detect it."),
    "visibility": N_("Choose who may see the need."),
    "message": N_("Write a message of 10 to 2,000 characters, without control characters."),
}
FORM_FIELDS: Final = ("title", "description", "targets", "assistance_types", "party", "language", "visibility")
NEED_STATUS_ACTIONS: Final[Mapping[str, str]] = {
    "withdrawn": N_("Withdraw this need"),
    "closed": N_("Close this need"),
    "open": N_("Reopen this need"),
}


# ------------------------------------------------------------------------------------------ post a need


@dataclass(frozen=True, slots=True)
class NeedDraft:
    """What the reader typed into the post-need form (as given; checked when posted)."""

    title: str = ""
    description: str = ""
    targets: tuple[str, ...] = ()
    assistance_types: tuple[str, ...] = ()
    party: str = ""
    language: str = ""
    visibility: str = "public"

    def values(self) -> dict[str, Any]:
        """The input of ``NeedCreate`` (empty choices left out: the language is then detected)."""
        values: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "targets": list(self.targets),
            "assistance_types": list(self.assistance_types),
            "visibility": self.visibility,
        }
        if self.party:
            values["party"] = self.party
        if self.language:
            values["language"] = self.language
        return values


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a form control: its value, label, optional help text, and whether it is chosen."""

    value: str
    label: str
    help: str = ""
    chosen: bool = False


@dataclass(frozen=True, slots=True)
class NeedFormView:
    """The post-need form: the draft, the options of each control and the errors beside their fields."""

    draft: NeedDraft
    targets: list[Choice]
    assistance_types: list[Choice]
    countries: list[Choice]
    languages: list[Choice]
    fixed_party: Term | None
    errors: dict[str, str] = field(default_factory=dict)
    general_error: str | None = None
    assistant: AssistView | None = None

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """``(field id, message)`` in the order of the form (the summary at the top links to each field)."""
        return [(name, self.errors[name]) for name in FORM_FIELDS if name in self.errors]


def need_form(
    draft: NeedDraft,
    locale: str,
    *,
    fixed_party: str | None,
    errors: Iterable[str] = (),
    general_error: str | None = None,
    assistant: AssistView | None = None,
) -> NeedFormView:
    """The form in ``locale``; ``fixed_party``: the Party's own country (a Party posts only for it)."""
    chosen_targets, chosen_types = set(draft.targets), set(draft.assistance_types)
    targets = [
        Choice(
            str(n),
            f"{n}. {vocab.label('target', n, locale)}",
            vocab.label("target_summary", n, locale),
            str(n) in chosen_targets,
        )
        for n in vocab.targets()
    ]
    types = [
        Choice(t, vocab.label("assistance_type", t, locale), _(ASSISTANCE_DESCRIPTIONS[t]), t in chosen_types)
        for t in vocab.ASSISTANCE_TYPES
    ]
    countries = sorted(
        (Choice(c, vocab.label("country", c, locale), chosen=c == draft.party) for c in vocab.countries()),
        key=lambda c: c.label.casefold(),
    )
    languages = sorted(
        (Choice(c, vocab.label("language", c, locale), chosen=c == draft.language) for c in vocab.languages()),
        key=lambda c: c.label.casefold(),
    )
    party = Term(fixed_party, vocab.label("country", fixed_party, locale)) if fixed_party else None
    return NeedFormView(
        draft,
        targets,
        types,
        countries,
        languages,
        party,
        {name: _(FIELD_MESSAGES[name]) for name in errors if name in FIELD_MESSAGES},
        general_error,
        assistant,
    )


def field_errors(exc: ValidationError) -> list[str]:
    """The fields of the form a validation error is about (each is shown with its field's message); an error
    about something else than a field of the form is put on the title, the first field."""
    names = [str((error.get("loc") or ("",))[0]) for error in exc.errors()]
    return list(dict.fromkeys(name if name in FIELD_MESSAGES else "title" for name in names))


# ------------------------------------------------------------------------------------------ the assistant

# A suggestion's probability in words (only those of at least 0.5 are shown: ``matcher.assist.suggest``). On
# the dev gold set, 0.70 of the targets shown at 0.5 or more are right; the words say how sure, not how right.
LIKELIHOODS: Final[tuple[tuple[float, str], ...]] = (
    (0.8, N_("very likely")),
    (0.65, N_("likely")),
    (0.0, N_("possible")),
)


def likelihood(probability: float) -> str:
    """A probability in words, in the active language."""
    return _(next(words for floor, words in LIKELIHOODS if probability >= floor))


@dataclass(frozen=True, slots=True)
class SuggestedChoice:
    """A target or kind of help the assistant suggests: its code, its title, how likely, and whether the draft
    has it ticked already (then it is shown as such, never ticked for the Party)."""

    value: str
    label: str
    likelihood: str
    percent: str
    chosen: bool


@dataclass(frozen=True, slots=True)
class PlaceView:
    """A country or region named in the draft; ``choosable`` when the reader may make it the need's country."""

    code: str
    label: str
    kind: str
    choosable: bool


@dataclass(frozen=True, slots=True)
class PromptView:
    """What providers will ask that the draft does not say, for the field it is about."""

    field: str
    text: str


@dataclass(frozen=True, slots=True)
class SimilarNeedView:
    """An existing need close to the draft, that the reader may read."""

    need_id: int
    title: str
    country: str
    status: str
    own: bool


@dataclass(frozen=True, slots=True)
class AssistView:
    """What the assistant shows beside the draft (``ready`` False: the draft has no usable text yet)."""

    ready: bool
    targets: list[SuggestedChoice] = field(default_factory=list)
    assistance_types: list[SuggestedChoice] = field(default_factory=list)
    places: list[PlaceView] = field(default_factory=list)
    prompts: list[PromptView] = field(default_factory=list)
    similar: list[SimilarNeedView] = field(default_factory=list)


def assist_view(
    assistance: Assistance, draft: NeedDraft, locale: str, *, party: str | None, can_choose_party: bool
) -> AssistView:
    """The assistant's answer in ``locale`` (the reader's language: the prompts speak to the reader).

    ``party``: the reader's own country (its needs are marked as its own); ``can_choose_party``: the reader
    chooses the need's country (the secretariat), so a country named in the text is offered as one.
    """
    suggestions = assistance.suggestions

    def percent(p: float) -> str:
        return numbers.format_percent(p, locale=locale)

    targets = [
        SuggestedChoice(
            s.label,
            f"{s.label}. {vocab.label('target', int(s.label), locale)}",
            likelihood(s.probability),
            percent(s.probability),
            s.label in draft.targets,
        )
        for s in suggestions.shown_targets
    ]
    types = [
        SuggestedChoice(
            s.label,
            vocab.label("assistance_type", s.label, locale),
            likelihood(s.probability),
            percent(s.probability),
            s.label in draft.assistance_types,
        )
        for s in suggestions.shown_types
    ]
    places = [
        PlaceView(
            p.code,
            vocab.label(p.kind, p.code, locale),
            p.kind,
            can_choose_party and p.kind == "country" and p.code != draft.party,
        )
        for p in assistance.places
    ]
    # "Choose targets / kinds of help, likely: ..." says again what the suggestions above show: left out then.
    shown = {"choose_targets": bool(targets), "choose_types": bool(types)}
    prompts = [
        PromptView(g.field, render_prompt(g, locale)) for g in assistance.missing if not shown.get(g.code, False)
    ]
    similar = [
        SimilarNeedView(
            d.record.id,
            d.record.title,
            vocab.label("country", d.record.owner, locale),
            vocab.label("need_status", d.record.status, locale),
            d.record.owner == party,
        )
        for d in assistance.duplicates
    ]
    return AssistView(True, targets, types, places, prompts, similar)


# ------------------------------------------------------------------------------------------ ranked providers


@dataclass(frozen=True, slots=True)
class ContactView:
    """A contact request as its Party sees it."""

    message: str
    sent_on: dt.datetime


@dataclass(frozen=True, slots=True)
class ProviderMatchView:
    """One ranked provider of a need, as its Party reads it."""

    rank: int
    offer_id: int
    offer_title: str
    organisation: str
    organisation_id: int
    verdict: str | None
    verdict_label: str
    verdict_meaning: str
    weak_topical_fit: bool
    summary: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...]
    shortlisted: bool
    contact: ContactView | None


@dataclass(frozen=True, slots=True)
class ShortlistedView:
    """A provider on the need's shortlist (ranked for the need or found elsewhere)."""

    offer_id: int
    offer_title: str
    organisation: str
    contacted: bool


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A need's workspace: the need, its ranked providers and what can be done with the need now."""

    need: NeedView
    visibility: str
    version: int
    matches: list[ProviderMatchView]
    shortlist: list[ShortlistedView]
    shortlisted: int
    contacted: int
    status_actions: list[Choice]


def provider_match(
    row: SuggestedMatch,
    fit: Fit | None,
    locale: str,
    *,
    shortlisted: bool,
    contact: ContactRequest | None,
) -> ProviderMatchView:
    """A stored suggestion in ``locale``: verdict in words, explanation in the reader's language, evidence."""
    explained = explanation_view(row.explanation, locale)
    verdict = fit.verdict if fit is not None else None
    return ProviderMatchView(
        rank=row.rank,
        offer_id=row.offer_id,
        offer_title=row.offer.title,
        organisation=row.offer.organisation.name,
        organisation_id=row.offer.organisation_id,
        verdict=verdict,
        verdict_label=_(VERDICT_LABELS[verdict]) if verdict else "",
        verdict_meaning=_(VERDICT_MEANINGS[verdict]) if verdict else "",
        weak_topical_fit=bool(fit is not None and fit.weak_topical_fit),
        summary=explained.summary,
        reasons=explained.reasons,
        evidence=explained.evidence,
        shortlisted=shortlisted,
        contact=ContactView(contact.message, contact.created_at) if contact is not None else None,
    )


def workspace_view(
    space: Workspace, fits: Sequence[Fit | None], locale: str, *, status_actions: Iterable[str]
) -> WorkspaceView:
    """The workspace of a need in ``locale``; ``fits``: the verdict of each suggestion, in order."""
    matches = [
        provider_match(
            row,
            fit,
            locale,
            shortlisted=row.offer_id in space.shortlisted,
            contact=space.contacted.get(row.offer_id),
        )
        for row, fit in zip(space.suggestions, fits, strict=True)
    ]
    need = space.need
    return WorkspaceView(
        need=need_view(need, locale),
        visibility=need.visibility,
        version=need.version,
        matches=matches,
        shortlist=[
            ShortlistedView(e.offer_id, e.offer.title, e.offer.organisation.name, e.offer_id in space.contacted)
            for e in space.shortlisted.values()
        ],
        shortlisted=len(space.shortlisted),
        contacted=len(space.contacted),
        status_actions=[Choice(s, _(NEED_STATUS_ACTIONS[s])) for s in status_actions if s in NEED_STATUS_ACTIONS],
    )


# ------------------------------------------------------------------------------------------ my needs


@dataclass(frozen=True, slots=True)
class FollowedNeedView:
    """A need in the list of the Party's needs."""

    need: NeedView
    visibility: str
    shortlisted: int
    contacted: int


def followed_need_view(item: FollowedNeed, locale: str) -> FollowedNeedView:
    return FollowedNeedView(
        need_view(item.need, locale),
        item.need.visibility,
        item.counts.shortlisted,
        item.counts.contacted,
    )

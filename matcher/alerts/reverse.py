"""Which subscriptions a need satisfies: reverse search from a new or changed need to providers' subscriptions.

Two kinds of subscription, two reverse searches:

- ``offers`` ("needs our offers fit") follow the organisation's offers, whose vectors are already in the
  offer index. A ``top_n`` rule asks whether one of the organisation's offers is among the need's top N
  providers: that is the forward ranking itself. A ``min_score`` rule asks whether one of its offers reaches
  the score: :meth:`MatchService.offers_scoring_at_least` searches the offer index restricted to the
  subscribed organisations' offers, exactly, with the forward ranking's eligibility rules and its score
  (BM25 among all allowed offers and feedback included). Either way the offer's match must also reach the
  subscription's least fit verdict (``min_verdict``). Both paths score a pair with the forward ranking's
  components, so the verdict is the one the offer has in the need's ranking of providers, from the same
  calibration (``matcher/engine/verdicts.py``); before migration 0013 the ``min_score`` path left BM25 and
  feedback out, and its scores could not be calibrated with the rankings'.
- ``query`` (a saved free-text search) vectors are kept in their own vector index, language-centred (and,
  with the multilingual encoder, fused) like offers; the need's vector, weighted as cross-lingual, searches it,
  and the score is their similarity. A saved search in one language so fires on needs written in another.

Eligibility is that of forward matching, plus what alerts add: confidential needs alert nobody (subscriptions
belong to providers, who never see them), an organisation is never alerted about its own need, and only open
needs alert. Every subscription's need conditions (targets, areas, assistance types, languages) must hold.

The in-memory view of the active subscriptions reloads when the subscriptions counter moves (any create,
change or delete), so the per-need cost does not grow with the number of subscriptions beyond the searches.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.engine.explain import Explanation, Fact, explain
from matcher.engine.index import VectorIndex, make_index, search_at_least
from matcher.engine.query import NeedQuery
from matcher.engine.service import Match, MatchResult, MatchService, Scored
from matcher.engine.texts import detect_language
from matcher.engine.verdicts import VERDICTS, Verdict, reaches
from models import vocabularies as vocab
from models.orm import Subscription
from models.outbox import SubscriptionRepository

ALERT_STATUSES = ("open",)
# Forward rankings run for top-N rules go at most this deep (the API bounds top_n by it).
MAX_TOP_N = 50


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """What matching needs to know of an active subscription."""

    id: int
    organisation_id: int
    kind: str
    query_text: str | None
    rule: str
    min_score: float | None
    top_n: int | None
    min_verdict: Verdict | None
    targets: frozenset[int]
    places: frozenset[str]
    assistance_types: frozenset[str]
    languages: frozenset[str]

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionView:
        filters: dict[str, Any] = row.filters or {}
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            kind=row.kind,
            query_text=row.query_text,
            rule=row.rule,
            min_score=row.min_score,
            top_n=row.top_n,
            min_verdict=_verdict(row.min_verdict),
            targets=frozenset(filters.get("targets", ())),
            places=frozenset(filters.get("areas", ())),
            assistance_types=frozenset(filters.get("assistance_types", ())),
            languages=frozenset(filters.get("languages", ())),
        )

    def accepts(self, need: NeedQuery) -> bool:
        """Whether the need meets this subscription's conditions on needs."""
        if self.targets and not self.targets & set(need.targets):
            return False
        if self.assistance_types and not self.assistance_types & set(need.assistance_types):
            return False
        if self.languages and need.language not in self.languages:
            return False
        return not self.places or (need.party is not None and any(_contains(p, need.party) for p in self.places))


def _verdict(value: str | None) -> Verdict | None:
    """A stored least verdict (the column's CHECK constraint admits only these)."""
    for name in VERDICTS:
        if value == name:
            return name
    return None


def _fires(verdict: Verdict, view: SubscriptionView) -> bool:
    """Whether a match of this verdict reaches the subscription's least verdict (none: every verdict)."""
    return view.min_verdict is None or reaches(verdict, view.min_verdict)


def _contains(place: str, party: str) -> bool:
    return place == party or (place not in vocab.countries() and party in vocab.countries_in(place))


@dataclass(frozen=True, slots=True)
class Alert:
    """A need satisfied a subscription: with the score, its components, why, and (offers) the fit verdict."""

    subscription_id: int
    organisation_id: int
    offer_id: int | None
    score: float
    components: dict[str, float]
    explanation: Explanation
    verdict: Verdict | None = None
    probability: float | None = None


class AlertMatcher:
    """Finds the subscriptions a need satisfies (see the module docstring).

    Args:
        service: the matching service whose offer index, embedder and weights alerts share.
    """

    def __init__(self, service: MatchService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._seq = -1
        self._offers: dict[int, list[SubscriptionView]] = {}
        self._queries: dict[int, SubscriptionView] = {}
        self._query_index = make_index("flat", service.encoders.dim)

    def refresh(self) -> None:
        """Reload the active subscriptions if any changed since the last load."""
        with self.service.db.transaction(read_only=True) as session:
            repo = SubscriptionRepository(session)
            seq = repo.change_seq()
            if seq == self._seq:
                return
            views = [SubscriptionView.of(s) for s in repo.active()]
        offers: dict[int, list[SubscriptionView]] = {}
        queries = {v.id: v for v in views if v.kind == "query"}
        for view in views:
            if view.kind == "offers":
                offers.setdefault(view.organisation_id, []).append(view)
        index = make_index("flat", self.service.encoders.dim)
        if queries:
            # A saved search is searched like an offer: the need's vector, weighted by the need's language, meets
            # saved searches written in any language on the scale it meets offers (matcher.engine.encoders).
            texts = [v.query_text or "" for v in queries.values()]
            vectors, _ = self.service.encoders.offer_vectors(texts, languages=[detect_language(t) for t in texts])
            index.add(np.asarray(list(queries), dtype=np.int64), vectors)
        with self._lock:
            self._offers, self._queries, self._query_index, self._seq = offers, queries, index, seq

    def alerts(
        self, need: NeedQuery, *, visibility: str, status: str, forward: MatchResult | None = None
    ) -> list[Alert]:
        """The subscriptions ``need`` satisfies, one alert each, best score first.

        Args:
            need: the need as ranked (its ``organisation_id`` is never alerted).
            visibility: the need's visibility; confidential needs alert nobody.
            status: the need's status; only open needs alert.
            forward: the need's forward ranking if already computed (reused by top-N rules when deep enough).
        """
        if visibility != "public" or status not in ALERT_STATUSES:
            return []
        self.refresh()
        with self._lock:
            offers, queries, index = self._offers, self._queries, self._query_index
        found = self._offer_alerts(need, offers, forward) + self._query_alerts(need, queries, index)
        found.sort(key=lambda a: (-a.score, a.subscription_id))
        return found

    def _offer_alerts(
        self, need: NeedQuery, subscribed: dict[int, list[SubscriptionView]], forward: MatchResult | None
    ) -> list[Alert]:
        views = [
            v for org, group in subscribed.items() if org != need.organisation_id for v in group if v.accepts(need)
        ]
        out: list[Alert] = []
        top = [v for v in views if v.rule == "top_n"]
        if top:
            depth = min(MAX_TOP_N, max(v.top_n or 0 for v in top))
            if forward is None or (len(forward.matches) < depth and len(forward.matches) < forward.allowed):
                forward = self.service.match(need, k=depth)
            ranked: dict[int, list[tuple[int, Match]]] = {}
            for rank, match in enumerate(forward.matches[:depth], start=1):
                ranked.setdefault(match.organisation_id, []).append((rank, match))
            for view in top:
                # The organisation's best-ranked offer within the top N whose verdict reaches the threshold.
                for rank, match in ranked.get(view.organisation_id, ()):
                    if rank <= (view.top_n or 0) and _fires(match.verdict, view):
                        explanation = _ranked(match.explanation, rank)
                        out.append(
                            Alert(
                                view.id,
                                view.organisation_id,
                                match.offer_id,
                                match.score,
                                match.components,
                                explanation,
                                match.verdict,
                                match.probability,
                            )
                        )
                        break
        scored = [v for v in views if v.rule == "min_score"]
        if scored:
            floor = min(v.min_score or 0.0 for v in scored)
            organisations = {v.organisation_id for v in scored}
            by_organisation: dict[int, list[Scored]] = {}
            for found in self.service.offers_scoring_at_least(need, organisations, floor=floor):
                by_organisation.setdefault(found.offer.organisation_id, []).append(found)
            for view in scored:
                # The organisation's best-scoring offer reaching both the score and the least verdict.
                for found in by_organisation.get(view.organisation_id, ()):
                    if found.score >= (view.min_score or 0.0) and _fires(found.fit.verdict, view):
                        snapshot = found.offer
                        explanation = explain(need, snapshot, evidence=(), penalised=False, stuffing=0.0)
                        out.append(
                            Alert(
                                view.id,
                                view.organisation_id,
                                snapshot.id,
                                found.score,
                                found.components,
                                explanation,
                                found.fit.verdict,
                                found.fit.probability,
                            )
                        )
                        break
        return out

    def _query_alerts(
        self, need: NeedQuery, queries: dict[int, SubscriptionView], index: VectorIndex
    ) -> list[Alert]:
        views = {i: v for i, v in queries.items() if v.organisation_id != need.organisation_id and v.accepts(need)}
        if not views:
            return []
        floor = min(v.min_score or 0.0 for v in views.values())
        # Saved searches are a few words in one language, met by needs in every language: the need is weighted
        # as cross-lingual whatever its own language (matcher.engine.encoders).
        query = self.service.query_vectors([need], cross_lingual=True)[0]
        allowed = np.flatnonzero(np.isin(index.ids, np.asarray(list(views), dtype=np.int64)) & index.live_mask())
        similarity, positions = search_at_least(index, query, floor, allowed=allowed.astype(np.int64))
        out = []
        for sim, position in zip(similarity.tolist(), positions.tolist(), strict=True):
            if position < 0:
                continue
            view = views[int(index.ids[position])]
            if sim < (view.min_score or 0.0):
                continue
            out.append(
                Alert(
                    view.id,
                    view.organisation_id,
                    None,
                    float(sim),
                    {"semantic": float(sim)},
                    _query_explanation(view, need, float(sim)),
                )
            )
        return out


def _ranked(explanation: Explanation, rank: int) -> Explanation:
    """The explanation told to the offer's provider: where their offer would rank for the need."""
    fact = explanation.summary_fact
    assert fact is not None, "explain() always states its offer"
    summary = Fact("offer.ranked", {"rank": rank, **fact.params})
    return Explanation.of_facts(summary, explanation.reason_facts, explanation.evidence)


def _query_explanation(view: SubscriptionView, need: NeedQuery, similarity: float) -> Explanation:
    reasons: list[Fact] = []
    if view.targets:
        reasons.append(Fact("alert.targets", {"targets": sorted(view.targets & set(need.targets))}))
    if view.places and need.party:
        reasons.append(Fact("alert.area", {"country": need.party}))
    if view.assistance_types:
        reasons.append(
            Fact("alert.assistance", {"types": sorted(view.assistance_types & set(need.assistance_types))})
        )
    quoted = (view.query_text or "")[:120]
    return Explanation.of_facts(Fact("saved_search", {"query": quoted, "similarity": similarity}), reasons)

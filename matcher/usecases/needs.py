"""Posting and changing a need, end to end: checks, ranking, alerts, suggestions, the write.

Ranking takes tens of milliseconds and must not run inside a write transaction (on SQLite it would hold the one
writer lock, and a need is never lost to a slow ranking), so each use case has two steps that the caller runs in
two transactions: ``prepare_…`` in a read transaction (checks, ranking, the subscriptions the need satisfies),
then ``post``/``change`` in the write transaction the caller commits (services never commit). What the first
step found may have changed before the second: offers deleted meanwhile are left out of the stored suggestions
(:func:`matcher.review.suggestions.present_matches`) and subscriptions deleted meanwhile are skipped
(:func:`matcher.alerts.outbox.record_alerts`). The HTTP routes and the web pages call these same steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matcher.access.rules import Principal
from matcher.alerts.outbox import record_alerts
from matcher.alerts.reverse import Alert, AlertMatcher
from matcher.engine.service import MatchResult, MatchService
from matcher.records import needs
from matcher.records.needs import NeedPlan
from matcher.review.suggestions import present_matches, store_suggestions
from matcher.settings import NotificationSettings
from models.orm import Need

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class PreparedNeed:
    """A need checked and ranked, ready to write: its plan, its ranked providers and the alerts it raises."""

    plan: NeedPlan
    ranking: MatchResult
    alerts: list[Alert]


@dataclass(frozen=True, slots=True)
class PostedNeed:
    """A need just written, with the ranking stored as its suggestions (without offers deleted meanwhile)."""

    need: Need
    ranking: MatchResult


@dataclass(frozen=True, slots=True)
class PreparedChange:
    """A change to a need, checked, with the alerts the changed need raises (none when nothing material
    changed)."""

    need_id: int
    changes: dict[str, Any]
    version: int | None
    alerts: list[Alert]


class NeedService:
    """Posting and changing needs (see the module docstring).

    Args:
        matching: the process's matching service (ranking, and the model id its suggestions are stored under).
        alerts: the subscription matcher sharing that service's index.
        notifications: how alerts are scheduled (digest timing, retries).
    """

    def __init__(self, matching: MatchService, alerts: AlertMatcher, notifications: NotificationSettings) -> None:
        self.matching = matching
        self.alerts = alerts
        self.notifications = notifications

    def prepare_post(
        self, session: Session, principal: Principal, values: Mapping[str, Any], *, k: int
    ) -> PreparedNeed:
        """Check a new need and rank its providers (read transaction; nothing is written)."""
        plan = needs.plan_need(session, principal, values)
        ranking = self.matching.match(plan.query, k=k)
        found = self.alerts.alerts(plan.query, visibility=plan.visibility, status="open", forward=ranking)
        return PreparedNeed(plan, ranking, found)

    def post(self, session: Session, prepared: PreparedNeed) -> PostedNeed:
        """Write the need, store its ranking as suggestions and schedule its alerts (write transaction)."""
        need = needs.create_need(session, prepared.plan)
        ranking = present_matches(session, prepared.ranking)
        store_suggestions(session, need.id, ranking, model_id=self.matching.store.model_id)
        record_alerts(session, need, prepared.alerts, self.notifications)
        return PostedNeed(need, ranking)

    def prepare_change(
        self,
        session: Session,
        principal: Principal,
        need_id: int,
        changes: Mapping[str, Any],
        *,
        version: int | None,
    ) -> PreparedChange:
        """Check a change and find the subscriptions the changed need satisfies (read transaction)."""
        preview = needs.preview_update(session, principal, need_id, changes, version=version)
        found = (
            self.alerts.alerts(preview.query, visibility=preview.visibility, status=preview.status)
            if preview.material
            else []
        )
        return PreparedChange(need_id, dict(changes), version, found)

    def change(self, session: Session, principal: Principal, prepared: PreparedChange) -> Need:
        """Apply the change and schedule the alerts of subscriptions it newly satisfies (write transaction)."""
        need = needs.update_need(session, principal, prepared.need_id, prepared.changes, version=prepared.version)
        record_alerts(session, need, prepared.alerts, self.notifications)
        return need

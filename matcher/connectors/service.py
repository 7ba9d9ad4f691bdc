"""What the CLI, the worker and the API do with connectors: list and validate definitions, run one, run those
that are due, and read the runs. Connectors and their runs are the secretariat's and admins' (403 for anyone
else through the API; the CLI is the operator's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.connectors.definition import ConnectorDefinition, load_all, load_definition
from matcher.connectors.harvest import RunReport, run_connector
from matcher.errors import NotFoundError
from matcher.settings import Settings
from models.connectors import ConnectorRepository
from models.db import Database
from models.orm import ConnectorRun, RecordSource, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class ConnectorCatalog:
    """The definitions of a folder (``settings.connectors_dir``), read when asked (edits need no restart)."""

    directory: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectorCatalog:
        return cls(settings.connectors_dir)

    def load(self) -> tuple[dict[str, ConnectorDefinition], list[str]]:
        """Every valid definition by name, and the errors of the others (with their file and line)."""
        return load_all(self.directory)

    def get(self, name: str) -> ConnectorDefinition:
        """The definition named ``name`` (NotFoundError naming the folder if none)."""
        found, errors = self.load()
        if name in found:
            return found[name]
        hint = f"; {len(errors)} definition(s) failed to load: {errors[0]}" if errors else ""
        raise NotFoundError(f"no connector named {name!r} in {self.directory}{hint}")


def validate_file(path: Path) -> ConnectorDefinition:
    """Load one definition file (raises InvalidInputError with file, line and field)."""
    return load_definition(path)


def run_named(db: Database, settings: Settings, name: str, *, trigger: str = "cli") -> RunReport:
    """Run the connector ``name`` of the settings' folder now."""
    definition = ConnectorCatalog.from_settings(settings).get(name)
    return run_connector(db, definition, settings.connectors, trigger=trigger)


def due(definitions: dict[str, ConnectorDefinition], last: dict[str, ConnectorRun], now: dt.datetime) -> list[str]:
    """Names of the scheduled connectors whose interval has passed since their last run started (never run:
    due), in name order."""
    names = []
    for name, definition in sorted(definitions.items()):
        interval = definition.interval_s
        if interval is None:
            continue
        run = last.get(name)
        started = run.started_at if run is not None else None
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC times
        if started is None or now - started >= dt.timedelta(seconds=interval):
            names.append(name)
    return names


def run_due(db: Database, settings: Settings, *, now: dt.datetime | None = None) -> list[RunReport]:
    """Run every connector that is due (the worker's schedule), one after the other."""
    definitions, _errors = ConnectorCatalog.from_settings(settings).load()
    with db.transaction(read_only=True) as session:
        last = ConnectorRepository(session).last_runs()
        names = due(definitions, last, now or utcnow())
    return [run_connector(db, definitions[n], settings.connectors, trigger="worker") for n in names]


def list_runs(
    session: Session, principal: Principal, connector: str | None, *, limit: int, offset: int
) -> tuple[list[ConnectorRun], int]:
    """A page of runs, newest first (the secretariat and admins)."""
    access.check_staff(principal, "read connector runs")
    return ConnectorRepository(session).runs(connector, limit=limit, offset=offset)


def get_run(session: Session, principal: Principal, run_id: int) -> ConnectorRun:
    """One run and its report (the secretariat and admins)."""
    access.check_staff(principal, "read connector runs")
    run = ConnectorRepository(session).run(run_id)
    if run is None:
        raise NotFoundError(f"no connector run {run_id}")
    return run


def check_operator(principal: Principal) -> None:
    """Running a connector through the API is the secretariat's and admins' (401 anonymous, 403 others)."""
    access.check_staff(principal, "run connectors")


def sources_of(session: Session, entity: str, record_id: int) -> list[RecordSource]:
    """Where a record comes from: what its public page links back to (public information: the source is an
    open feed)."""
    return ConnectorRepository(session).sources_of(entity, record_id)

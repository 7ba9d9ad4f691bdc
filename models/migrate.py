"""Alembic migrations, driven from code (``pollinate db upgrade``, ``/ready``) and from ``alembic`` itself.

The migration scripts live in ``models/migrations`` and ship with the package, so an installed Pollinate can
upgrade its own database without the source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from models.db import Database

MIGRATIONS_DIR = Path(str(resources.files("models").joinpath("migrations")))


def alembic_config(db: Database) -> Config:
    """An Alembic config that runs on ``db``'s engine (no ini file, no URL interpolation)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database"] = db
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(db), revision)


def head_revision() -> str | None:
    """The newest migration shipped with this version of Pollinate."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(db: Database) -> str | None:
    """The migration the database is at (``None`` for an empty database)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(db: Database) -> bool:
    """Whether the database schema is at this version's head."""
    return current_revision(db) == head_revision()

"""Alembic environment.

Run from code (``models.migrate``), the config carries the ``Database`` to migrate. Run as ``alembic ...`` from
the repository root, it uses ``sqlalchemy.url`` if one is given (``alembic -x url=...``) or else the same
settings as the ``pollinate`` command (``POLLINATE_DATABASE__URL`` / ``POLLINATE_DATA_DIR``); the alembic
command line is an edge of the application like the CLI, so it may build the settings.
"""

from __future__ import annotations

from alembic import context

from models.db import Database
from models.orm import Base

config = context.config
target_metadata = Base.metadata


def _database() -> Database:
    db = config.attributes.get("database")
    if isinstance(db, Database):
        return db
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from matcher.settings import Settings  # only the alembic CLI needs settings

        url = Settings().database_url
    return Database(url)


def run_migrations_offline() -> None:
    context.configure(
        url=str(_database().url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    db = _database()
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=db.is_sqlite,  # SQLite alters tables by copying them
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

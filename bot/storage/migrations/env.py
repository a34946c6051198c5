"""Alembic environment: runs on a connection handed over by `bot.storage.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.storage.models import Base

target_metadata = [Base.metadata]


def _add_slack_store_tables() -> None:
    """slack_sdk keeps Bolt's installation-store tables in its own MetaData (migration 0003_slack_installations).
    Added for autogenerate only, so that a normal start (`migrate`) never loads slack_sdk."""
    try:
        from adapters.slack_store import installation_metadata
    except ImportError:  # slack_sdk not installed: those tables are simply not compared
        return
    target_metadata.append(installation_metadata())


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic` CLI use (autogenerate): a sync URL from -x url=...
    _add_slack_store_tables()
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///alembic-dev.sqlite3")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()

"""Alembic environment: runs on a connection handed over by `bot.storage.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.storage.models import Base

target_metadata = Base.metadata


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
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///alembic-dev.sqlite3")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()

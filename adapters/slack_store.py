"""Bolt's OAuth installation and state stores, kept in our database (slack_sdk's async SQLAlchemy stores).

slack_sdk defines these tables in its own MetaData; migration 0003_slack_installations creates them and
`installation_metadata()` lets Alembic's autogenerate see them, so it neither drops nor re-creates them.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
STATES_TABLE = "slack_oauth_states"
STATE_EXPIRATION_SECONDS = 600


def installation_store(client_id: str, db: AsyncEngine) -> AsyncSQLAlchemyInstallationStore:
    return AsyncSQLAlchemyInstallationStore(
        client_id=client_id, engine=db, bots_table_name=BOTS_TABLE, installations_table_name=INSTALLATIONS_TABLE
    )


def state_store(db: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    return AsyncSQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_EXPIRATION_SECONDS, engine=db, table_name=STATES_TABLE
    )


def installation_metadata() -> MetaData:
    """slack_sdk's own table definitions, for Alembic's target metadata."""
    metadata = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE)
    SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, STATES_TABLE)
    return metadata

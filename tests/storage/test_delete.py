"""`/delete` leaves nothing behind: every table in Base.metadata is scanned for the person, after they had a
session, activity, a symptom report, processed event ids, a pending weekly summary and messages in the outbox.

The Slack installation tables (slack_installations, slack_bots, slack_oauth_states; slack_sdk's own MetaData)
hold workspace installs — a bot token per team and the admin who installed it — not the people who use the
bot, so /delete has nothing of a person's to remove there; the test checks that they are the only tables
outside Base.metadata, so no new table can escape this scan unnoticed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, inspect, select

from adapters.testing.chat import Chat
from bot.engine import Engine
from bot.storage.models import Base, OutboxMessage, ProcessedEvent, User
from content.loader import Content
from scheduler.runner import tick
from tests.flow_helpers import to_pain_question

SLACK_INSTALL_TABLES = {"slack_installations", "slack_bots", "slack_oauth_states"}
NOT_ABOUT_PEOPLE = {"alembic_version"} | SLACK_INSTALL_TABLES
# The inbox is keyed by events, not people: a processed row keeps only a hash of the platform's event id
# (to drop a redelivery); its person and payload are cleared when it is processed (tests/storage/test_inbox.py).
KEYED_BY_EVENT = {"inbox"}


async def rows_about(engine: Engine, user_id: int) -> dict[str, int]:
    """For every table of ours: how many rows belong to this user (users: by id; the rest: by user_id)."""
    found = {}
    async with engine.sessions() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in KEYED_BY_EVENT:
                continue
            column = table.c.id if table.name == User.__tablename__ else table.c.user_id
            found[table.name] = (
                await s.execute(select(func.count()).select_from(table).where(column == user_id))
            ).scalar_one()
    return found


async def live_person(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.tap("5")
    await chat.tap("Skip")
    await chat.say("stop")
    chat.engine.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    await tick(chat.engine, {"console": chat.sender})  # Tuesday's reminder
    await chat.tap("Snooze", [r for _, r in chat.sender.sent])
    await chat.say("/activity")
    await chat.say("30")
    await chat.tap("5")
    await chat.say("my leg is tingling")  # a symptom report, and a hold with its weekly check-in
    await chat.say("/export")
    await chat.advance(timedelta(days=5, hours=1))  # the Sunday summary goes out; the next one is queued


async def test_delete_leaves_nothing_in_any_table(chat: Chat, engine: Engine, content: Content) -> None:
    other = Chat(engine, user_id="u2")
    await other.onboard()
    await live_person(chat, content)
    async with engine.sessions() as s:
        user_id = (await s.execute(select(User.id).where(User.platform_user_id == "u1"))).scalar_one()
        other_id = (await s.execute(select(User.id).where(User.platform_user_id == "u2"))).scalar_one()
    before = await rows_about(engine, user_id)
    # every table of ours is about a person, and this person is in every one of them
    assert set(before) == {t.name for t in Base.metadata.sorted_tables} - KEYED_BY_EVENT
    assert all(before.values()), before
    async with engine.sessions() as s:
        assert (
            await s.execute(
                select(func.count()).where(
                    OutboxMessage.user_id == user_id,
                    OutboxMessage.dedupe_key.like("summary:%"),
                    OutboxMessage.status == "pending",
                )
            )
        ).scalar_one() == 1
    await chat.say("/delete")
    replies = await chat.tap("Yes, delete everything")
    assert "everything about you has been deleted" in chat.texts(replies)
    assert set((await rows_about(engine, user_id)).values()) == {0}
    assert (await rows_about(engine, other_id))["users"] == 1  # only the person asked is erased
    # nothing queued for them can come back: the tick after the summary's due time sends nothing
    before_sent = len(chat.sender.sent)
    await chat.advance(timedelta(days=8))
    to_whom = [user.user_id for user, _ in chat.sender.sent[before_sent:]]
    assert "u1" not in to_whom and "u2" in to_whom  # the other person's summary still goes out
    async with engine.sessions() as s:
        assert (
            await s.execute(select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.user_id == user_id))
        ).scalar_one() == 0


async def test_every_table_is_ours_or_a_workspace_install(engine: Engine) -> None:
    """No table outside Base.metadata can hold a person: only Alembic's version and Slack workspace installs."""
    async with engine.db.connect() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    ours = {t.name for t in Base.metadata.sorted_tables}
    assert ours <= names
    assert names - ours <= NOT_ABOUT_PEOPLE, names - ours
    for table in Base.metadata.sorted_tables:  # every row of ours hangs off a user, so the scan above is complete
        assert table.name == "users" or table.name in KEYED_BY_EVENT or "user_id" in table.c, table.name

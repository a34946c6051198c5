"""Shortcuts to put a test user at a given point of the conversation."""

from __future__ import annotations

from sqlalchemy import select

from adapters.testing.chat import Chat, Transcript
from bot.engine import Engine
from bot.storage.models import User
from content.loader import Content


async def to_pain_question(chat: Transcript, content: Content) -> None:
    """`/today` and "No" to every pre-check question: the pain question is next."""
    await chat.say("/today")
    for _ in content.safety.session_precheck:
        await chat.tap("No")


async def start_session_to_first_step(chat: Transcript, content: Content) -> None:
    """Onboarded, session started, pre-check passed, pain given, first exercise's first step showing."""
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.tap("4")
    await chat.tap("Start")
    assert "Step 1 of" in chat.texts(), chat.texts()


async def skipped_session_and_activity(chat: Chat, content: Content, *, pain: int, minutes: int) -> None:
    """A session stopped after skipping the first exercise, then some activity logged: a small history."""
    await to_pain_question(chat, content)
    await chat.tap(str(pain))
    await chat.tap("Skip")
    await chat.say("stop")
    await chat.say("/activity")
    await chat.say(str(minutes))
    await chat.tap("5")


async def user_row(engine: Engine, user_id: str = "u1") -> User:
    async with engine.sessions() as s:
        return (await s.execute(select(User).where(User.platform_user_id == user_id))).scalar_one()

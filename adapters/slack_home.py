"""The App Home tab: a read-only look at the person's plan, next reminder and this week's progress.

It only reads, through the repository (bot/storage/home_repo.py: no conversation logic, no writes, no SQL
here), so opening the tab can never change what the bot does next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.slack_render import escape
from bot.engine import Engine
from bot.flows import settings
from bot.flows.common import zone_named
from bot.state import Profile
from bot.storage import home_repo
from bot.storage import repository as repo
from bot.types import UserRef
from content.loader import Content

HOME_ACTION_PREFIX = "bc-home-"


@dataclass(frozen=True)
class HomeSummary:
    onboarded: bool
    exercises: list[str]
    next_reminder: datetime | None  # local time
    reminders_on: bool
    paused_until: datetime | None  # local time
    held: bool
    sessions_7d: int
    activity_minutes_7d: int
    activity_days_7d: int


async def home_summary(engine: Engine, workspace: str, user_id: str) -> HomeSummary | None:
    """What the Home tab shows; None for someone the bot has not met yet. Read-only."""
    now = engine.clock.now()
    async with engine.sessions() as session:
        found = await session.run_sync(home_repo.home_row, workspace, user_id, now)
    if found is None:
        return None
    user, history, sessions_7d = found.user, found.history, found.sessions_7d
    zone = zone_named(user.timezone)
    profile = Profile.model_validate(user.profile or {})
    names = {ex.id: ex.name for ex in engine.content.program.exercises}
    return HomeSummary(
        onboarded=profile.onboarded,
        exercises=[names.get(ex, ex) for ex in profile.exercises],
        next_reminder=user.next_fire_at.astimezone(zone) if user.next_fire_at else None,
        reminders_on=user.reminders_on,
        paused_until=user.paused_until.astimezone(zone) if user.paused_until and user.paused_until > now else None,
        held=bool(user.hold_reason),
        sessions_7d=int(sessions_7d),
        activity_minutes_7d=history.activity_minutes_7d,
        activity_days_7d=history.activity_days_7d,
    )


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def home_view(summary: HomeSummary | None, content: Content) -> dict[str, Any]:
    """The Block Kit `home` view for views.publish."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": content.msg("home.title")}}
    ]
    if summary is None or not summary.onboarded:
        blocks.append(_section(content.msg("home.new")))
    else:
        plan = "\n".join(f"• {escape(name)}" for name in summary.exercises) or content.msg("home.plan_empty")
        blocks.append(_section(f"{content.msg('home.plan')}\n{plan}"))
        if summary.held:
            nxt = content.msg("home.next_held")
        elif summary.paused_until:
            nxt = content.msg("home.next_paused").format(until=f"{summary.paused_until:%a %d %b %H:%M}")
        elif summary.reminders_on and summary.next_reminder:
            nxt = f"{summary.next_reminder:%A %d %B, %H:%M} ({summary.next_reminder.tzname()})"
        else:
            nxt = content.msg("home.next_off")
        blocks.append(_section(f"{content.msg('home.next')}\n{nxt}"))
        week = content.msg("home.week_line").format(
            goal=content.program.general_activity.daily_minutes.low,
            sessions=summary.sessions_7d,
            minutes=summary.activity_minutes_7d,
            days=summary.activity_days_7d,
        )
        blocks.append(_section(f"{content.msg('home.week')}\n{week}"))
    if summary is not None and summary.onboarded:
        buttons = [
            ("today", "home.start_now", "primary"),
            ("pause", "home.pause", None),
            ("settings", "home.settings", None),
        ]
        elements = []
        for what, key, style in buttons:
            button: dict[str, Any] = {
                "type": "button",
                "action_id": f"{HOME_ACTION_PREFIX}{what}",
                "text": {"type": "plain_text", "text": content.msg(key)},
                "value": what,
            }
            if style:
                button["style"] = style
            elements.append(button)
        blocks.append({"type": "actions", "block_id": "bc-home", "elements": elements})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": content.msg("home.disclaimer")}]})
    return {"type": "home", "blocks": blocks}


async def settings_values(engine: Engine, workspace: str, user_id: str) -> dict[str, str] | None:
    """The person's settings as the modal's fields; None before onboarding. Read-only."""
    async with engine.sessions() as session:
        user = await session.run_sync(home_repo.slack_user, workspace, user_id)
    if user is None:
        return None
    view = repo.to_view(user, UserRef("slack", workspace, user_id, user.chat_id), None)
    return settings.form_values(view, engine.content) if view.profile.onboarded else None


async def wants_timezone_hint(engine: Engine, workspace: str, user_id: str) -> bool:
    """True when this event may start onboarding, the only time the core uses a time-zone hint.

    Sending the hint at other times could override a zone the person types, so it is asked for only here.
    """
    async with engine.sessions() as session:
        row = await session.run_sync(home_repo.onboarding_state, workspace, user_id)
    return row is None or hint_wanted(*row)


def hint_wanted(profile: dict[str, Any], conversation: dict[str, Any]) -> bool:
    """From the stored profile and conversation: not onboarded and not already onboarding."""
    return not profile.get("onboarded") and conversation.get("flow", "new") != "onboarding"

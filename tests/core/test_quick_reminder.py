"""The reminder claim's cheap path (`dispatch.quick_reminder`, built from the stored row) gives exactly what
the whole flow gives for a SYSTEM "reminder" event: the same replies (text, stamped buttons and their
styles, kinds, the close of a live question) and the same new conversation, across the profile and
conversation variants a due person can be in. Where it declines (None), the claim runs the flow."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.flows import dispatch
from bot.flows.common import normalise
from bot.state import Conversation, History, Profile, Schedule, UserView
from bot.types import Inbound, InboundKind, UserRef
from content.loader import Content

REF = UserRef("telegram", "", "7", "7")
NOW = datetime(2026, 3, 4, 7, 0, 30, tzinfo=UTC)  # a Wednesday
ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati")


def _idle_prompt(content: Content, seq: int) -> dict[str, Any]:
    labels = {"g.today": content.msg("button.start_now"), "g.activity": content.msg("button.log_activity")}
    return {
        "flow": "idle",
        "seq": seq,
        "asked": content.msg("idle.ask"),
        "options": labels,
        "choices": {normalise(label): action for action, label in labels.items()},
    }


def conversations(content: Content) -> dict[str, dict[str, Any]]:
    return {
        "idle": {"flow": "idle", "step": "", "ctx": {}, "seq": 4},
        "idle, nothing stored yet": {"flow": "idle"},
        "idle, its question live": _idle_prompt(content, 9),
        "yesterday's reminder still offered": {
            "flow": "reminder",
            "step": "offered",
            "ctx": {"date": "2026-03-03"},
            "seq": 12,
            "asked": "yesterday",
            "options": {"g.remind.start:2026-03-03": "Start"},
        },
        "the skip reason asked": {"flow": "reminder", "step": "reason", "ctx": {"date": "2026-03-03"}, "seq": 3},
        "in a session": {
            "flow": "session",
            "step": "exercise",
            "ctx": {"started_at": NOW.isoformat(), "last_at": NOW.isoformat(), "local_date": NOW.date().isoformat()},
            "seq": 5,
        },
        "a settings question": {"flow": "settings", "step": "time", "seq": 6, "asked": "When?"},
        "brand new": {"flow": "new"},
    }


def profiles(today: date) -> dict[str, dict[str, Any]]:
    plan = {"consented": True, "onboarded": True, "exercises": ["knee_rolls", "pelvic_tilts"]}
    return {
        "plain": plan,
        "quiet hours": {**plan, "quiet_start": "22:00", "quiet_end": "07:30"},
        "session ended yesterday": {**plan, "session_ended_on": (today - timedelta(days=1)).isoformat()},
        "session ended today": {**plan, "session_ended_on": today.isoformat()},
        "not onboarded": {"consented": True},
        "paused by hand": {**plan, "paused_manually": True},
    }


SCHEDULES = {
    "every day": Schedule(timezone="UTC", reminder_time="07:00", weekdays=0b1111111, reminders_on=True),
    "weekdays": Schedule(timezone="UTC", reminder_time="07:00", weekdays=0b0011111, reminders_on=True),
    "pause ended": Schedule(reminders_on=True, paused_until=NOW - timedelta(hours=1), reminder_time="07:00"),
    "resting (a pause ahead)": Schedule(reminders_on=True, paused_until=NOW + timedelta(days=2), reminder_time="07:00"),
    "held": Schedule(reminders_on=True, hold_reason="red_flag", reminder_time="07:00"),
}


def full_flow(
    profile: dict[str, Any], conversation: dict[str, Any], schedule: Schedule, day: date, ignored: int, content: Content
) -> tuple[list[Any], Conversation]:
    view = UserView(
        user_id=1,
        ref=REF,
        active=True,
        profile=Profile.model_validate(profile),
        conversation=Conversation.model_validate(conversation),
        schedule=schedule,
        loaded_history=History(pain_skips_14d=0, reminders_ignored=ignored),
    )
    event = Inbound(user=REF, kind=InboundKind.SYSTEM, action="reminder", text=day.isoformat())
    out = dispatch.handle(view, event, NOW, content)
    return out.replies, out.view.conversation


@pytest.mark.parametrize("zone", ZONES)
def test_the_quick_reminder_is_the_flows_reminder(content: Content, zone: str) -> None:
    compared = declined = 0
    for (schedule_name, schedule), ignored, late in itertools.product(SCHEDULES.items(), (0, 2, 3, 6), (0, 1)):
        schedule = schedule.model_copy(update={"timezone": zone})
        today = NOW.astimezone(ZoneInfo(zone)).date()
        day = today - timedelta(days=late)  # a reminder sent late may belong to yesterday
        for (p_name, profile), (c_name, conversation) in itertools.product(
            profiles(today).items(), conversations(content).items()
        ):
            case = f"{zone} / {schedule_name} / {p_name} / {c_name} / ignored {ignored} / day {day}"
            replies, after = full_flow(profile, conversation, schedule, day, ignored, content)
            quick = dispatch.quick_reminder(profile, conversation, day, today, ignored, content)
            if quick is None:
                declined += 1
                continue
            compared += 1
            quick_replies, quick_conversation = quick
            assert quick_replies == replies, case  # text, buttons (label, stamped action, style), kind, target
            assert Conversation.model_validate(quick_conversation) == after, case
    assert compared and declined  # both paths were exercised in this zone


def test_the_quick_path_covers_the_plain_cases_and_declines_the_rest(content: Content) -> None:
    today = NOW.date()
    convs, profs = conversations(content), profiles(today)
    takes = dispatch.quick_reminder
    for c_name in ("idle", "idle, nothing stored yet", "idle, its question live", "yesterday's reminder still offered"):
        assert takes(profs["plain"], convs[c_name], today, today, 0, content) is not None, c_name
    for c_name in ("in a session", "a settings question", "brand new"):
        assert takes(profs["plain"], convs[c_name], today, today, 0, content) is None, c_name
    assert takes(profs["session ended today"], convs["idle"], today, today, 0, content) is None
    assert takes(profs["not onboarded"], convs["idle"], today, today, 0, content) is None
    gentle, _ = takes(profs["plain"], convs["idle"], today, today, 3, content) or ([], {})
    assert content.msg("reminder.gentle") in gentle[0].text
    live, _ = takes(profs["plain"], convs["idle, its question live"], today, today, 0, content) or ([], {})
    assert [r.kind.value for r in live][-1] != live[0].kind.value  # the live idle question is closed after it

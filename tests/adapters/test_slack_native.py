"""Slack feels native: the settings modal round trip, App Home's buttons, the pointer from a channel, and
living messages (the tapped question becomes the next one). Real slack-bolt on 127.0.0.1, signed requests."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from adapters.slack import SlackOptions, build_slack
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.slack_client import SlackSide, serve, slack_settings
from bot.engine import Engine
from bot.flows import preferences
from bot.flows import settings as settings_flow
from bot.storage.models import User
from content.loader import Content
from tests.adapters.slack_fixtures import fake_slack  # noqa: F401  (fixture `fake`)
from tests.adapters.test_slack import DM, TEAM, USER, onboard


async def user_row(engine: Engine) -> User | None:
    async with engine.sessions() as s:
        return (await s.execute(select(User).where(User.platform == "slack"))).scalar_one_or_none()


@pytest.fixture
async def slack(engine: Engine, fake: FakeSlack) -> AsyncIterator[SlackSide]:
    adapter = build_slack(slack_settings(fake, SLACK_BOT_TOKEN="xoxb-one"), engine, SlackOptions(_env_file=None))
    async for side in serve(adapter, fake):
        yield side


def submission(values: dict[str, Any], view_id: str = "V1") -> str:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "x"},
        "user": {"id": USER, "team_id": TEAM},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": f"trig{time.time_ns()}",
        "view": {
            "id": view_id,
            "hash": f"h{time.time_ns()}",
            "type": "modal",
            "callback_id": "bc-settings",
            "team_id": TEAM,
            "state": {"values": values},
        },
    }
    return urlencode({"payload": json.dumps(payload)})


def form_state(
    time_: str | None, days: list[str], exercises: list[str], quiet: tuple[str, str] | None = None
) -> dict[str, Any]:
    def picked(value: str | None) -> dict[str, Any]:
        return {"value": {"type": "timepicker", "selected_time": value}}

    def checked(values: list[str]) -> dict[str, Any]:
        return {"value": {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}}

    return {
        "time": picked(time_),
        "days": checked(days),
        "quiet_start": picked(quiet[0] if quiet else None),
        "quiet_end": picked(quiet[1] if quiet else None),
        "exercises": checked(exercises),
    }


async def test_settings_modal_round_trip(slack: SlackSide, fake: FakeSlack, engine: Engine, content: Content) -> None:
    await onboard(slack)
    await slack.command(TEAM, USER, "settings", channel=DM)
    (opened,) = fake.of("views.open")
    view = opened.args["view"]
    assert opened.args["trigger_id"].startswith("trig") and view["callback_id"] == "bc-settings"
    fields = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert fields["time"]["initial_time"] == "07:00"
    assert len(fields["days"]["initial_options"]) == 7
    assert len(fields["exercises"]["initial_options"]) == len(content.program.exercises)
    assert not slack.messages(), "settings open in a modal, not as a chain of DM messages"

    ids = [e.id for e in content.program.exercises]
    bad = await slack.post(
        submission(form_state("08:30", [], ids[:2], quiet=("22:00", ""))), "application/x-www-form-urlencoded"
    )
    answer = json.loads(bad.text)
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"days", "quiet_end"}
    # the chat's own words for the same mistakes (one validation: bot/flows/preferences.py)
    assert answer["errors"]["days"] == content.msg("days.pick_none")
    assert answer["errors"]["quiet_end"] == content.msg("error.quiet")
    row = await user_row(engine)
    assert row is not None and row.reminder_time == "07:00"  # nothing saved from a refused form

    good = await slack.post(
        submission(form_state("08:30", ["0", "2", "4"], ids[:2], quiet=("22:00", "07:00"))),
        "application/x-www-form-urlencoded",
    )
    assert good.status == 200 and not good.text
    row = await user_row(engine)
    assert row is not None
    assert (row.reminder_time, row.weekdays, row.reminders_on) == ("08:30", 0b10101, True)
    assert (row.profile["quiet_start"], row.profile["quiet_end"], row.profile["exercises"]) == (
        "22:00",
        "07:00",
        ids[:2],
    )
    assert "08:30" in slack.last_texts()  # saved, said in the DM
    assert fake.of("views.publish"), "App Home shows the new settings"


@pytest.mark.parametrize(
    ("start", "end"), [("22:00", "07:00"), ("07:00", "07:00"), ("22:00", ""), ("", "07:00"), ("23:30", "00:15")]
)
def test_the_modal_and_the_chat_accept_the_same_quiet_hours(start: str, end: str, content: Content) -> None:
    typed = preferences.parse_quiet_hours(f"{start}-{end}")
    errors = settings_flow.form_errors(
        {"time": "", "days": "", "quiet_start": start, "quiet_end": end, "exercises": "pelvic_tilt"}, content
    )
    assert ("quiet_start" in errors or "quiet_end" in errors) is (typed is None)
    assert set(errors.values()) <= {content.msg("error.quiet")}


@pytest.mark.parametrize("days", [[], ["0"], ["0", "2", "4"], ["7"], ["0", "1", "2", "3", "4", "5", "6"]])
def test_the_modal_and_the_chat_accept_the_same_days(days: list[str], content: Content) -> None:
    mask = preferences.weekday_mask(int(d) for d in days)
    errors = settings_flow.form_errors(
        {"time": "08:00", "days": ",".join(days), "quiet_start": "", "quiet_end": "", "exercises": "pelvic_tilt"},
        content,
    )
    assert ("days" in errors) is (mask is None)
    assert errors.get("days", content.msg("days.pick_none")) == content.msg("days.pick_none")


async def test_app_home_buttons(slack: SlackSide, fake: FakeSlack, content: Content) -> None:
    await onboard(slack)
    await slack.home(TEAM, USER)
    home = fake.of("views.publish")[-1].args["view"]
    (actions,) = [b for b in home["blocks"] if b["type"] == "actions"]
    ids = [e["action_id"] for e in actions["elements"]]
    assert ids == ["bc-home-today", "bc-home-pause", "bc-home-settings"]

    async def press(action_id: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": USER, "team_id": TEAM},
            "team": {"id": TEAM, "domain": "x"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trig{time.time_ns()}",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home"},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "bc-home",
                    "value": action_id[8:],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        await slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    await press("bc-home-today")
    assert "safety check" in slack.last_texts()  # the session starts in the DM
    assert all(c.args["channel"] == DM for c in slack.messages())
    await press("bc-home-pause")
    assert content.msg("pause.ask") in slack.last_texts()
    await press("bc-home-settings")
    assert fake.of("views.open")[-1].args["view"]["callback_id"] == "bc-settings"


async def test_a_command_in_a_channel_gets_an_ephemeral_pointer(
    slack: SlackSide, fake: FakeSlack, content: Content
) -> None:
    await slack.command(TEAM, USER, "help", channel="C42")
    (pointer,) = fake.of("chat.postEphemeral")
    assert (pointer.args["channel"], pointer.args["user"]) == ("C42", USER)
    assert pointer.args["text"] == content.msg("slack.channel_pointer")
    assert slack.messages() and all(c.args["channel"] == DM for c in slack.messages())  # the answer is private
    await slack.command(TEAM, USER, "help", channel=DM)
    assert len(fake.of("chat.postEphemeral")) == 1  # no pointer when already in the DM

"""Slack rendering limits and escaping, file uploads and error mapping of the sender, and the
installation-store migration matching slack_sdk's own table definitions."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import slack_render as render
from adapters.slack import BOT_SCOPES, COMMAND, _web_client, command_text, unescape
from adapters.slack_send import SlackSender
from adapters.slack_store import installation_metadata
from adapters.testing.fake_slack import FakeSlack
from bot.types import Attachment, Button, Reply, UserRef
from scheduler.sender import TransientError

USER = UserRef("slack", "T1", "U1", "DU1")


def test_mrkdwn_escaping_follows_slacks_three_rules() -> None:
    assert render.escape("A&E <now> & 1 > 0") == "A&amp;E &lt;now&gt; &amp; 1 &gt; 0"
    assert render.escape("&amp;") == "&amp;amp;"  # already-looking entities are the person's text, escaped too
    assert render.message(Reply("Pain <3 & rising"))["blocks"][0]["text"]["text"] == "Pain &lt;3 &amp; rising"
    assert unescape("I &lt;3 this &amp; that &gt; before") == "I <3 this & that > before"


def test_many_buttons_are_split_into_actions_blocks_of_25_with_short_labels() -> None:
    buttons = tuple(Button(f"Option {i} " + "x" * 100, f"7:opt{i}") for i in range(30))
    blocks = render.blocks(Reply("Pick one", buttons))
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    elements = [e for a in actions for e in a["elements"]]
    assert len({e["action_id"] for e in elements}) == 30
    assert [e["value"] for e in elements] == [f"7:opt{i}" for i in range(30)]
    assert all(len(e["text"]["text"]) <= 75 for e in elements) and elements[0]["text"]["text"].endswith("…")


def test_long_text_is_split_into_sections_without_breaking_an_entity() -> None:
    text = "&" * 2000 + "\n" + "word " * 900
    sections = [b["text"]["text"] for b in render.blocks(Reply(text)) if b["type"] == "section"]
    assert len(sections) >= 3 and all(len(s) <= render.SECTION_MAX for s in sections)
    assert all(not s.endswith("&amp") and not s.startswith("amp;") for s in sections)
    assert "".join(sections).replace("\n", "") == render.escape(text).replace("\n", "")
    assert len(render.fallback_text(Reply(text))) <= render.FALLBACK_MAX


def test_urgent_replies_go_first_and_are_marked() -> None:
    replies = [Reply("a"), Reply("stop now", urgent=True), Reply("b")]
    assert [r.text for r in render.order_for_sending(replies)] == ["stop now", "a", "b"]
    assert render.fallback_text(replies[1]).startswith(":warning:")


def test_core_commands_read_as_the_slash_command() -> None:
    assert render.native("Send /resume, or see /help.") == "Send /backcoach resume, or see /backcoach help."
    assert render.native("https://example.org/today and /unknown") == "https://example.org/today and /unknown"
    assert command_text("  pause  ") == "/pause" and command_text("") == "/help"


def test_tapped_message_keeps_its_text_and_loses_its_buttons() -> None:
    blocks = render.blocks(Reply("Ready?", (Button("Yes <sure>", "3:yes"),)))
    answered = render.answered(blocks, "Yes <sure>")
    assert [b["type"] for b in answered] == ["section", "context"]
    assert answered[-1]["elements"][0]["text"] == "✓ Yes &lt;sure&gt;"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.close()


def _sender(url: str) -> SlackSender:
    async def token(_workspace: str) -> str:
        return "xoxb-one"

    return SlackSender(_web_client(None, url, retry_429=False), token)


async def test_images_and_documents_are_uploaded_with_files_upload_v2(fake: FakeSlack) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    reply = Reply(
        "Here is how it looks",
        image=Attachment("wall-slide.png", "image/png", png),
        document=Attachment("history.csv", "text/csv", b"date,done\n"),
    )
    await _sender(fake.api_url).send(USER, [reply])
    methods = [c.method for c in fake.calls]
    assert methods == [  # no message of its own: the text is the first file's caption
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert fake.uploads == [png, b"date,done\n"]
    complete = fake.of("files.completeUploadExternal")
    assert all(c.args["channel_id"] == "DU1" and c.token == "xoxb-one" for c in complete)
    assert complete[0].args["files"][0]["title"] == "wall-slide.png"
    assert complete[0].args["initial_comment"] == "Here is how it looks" and "initial_comment" not in complete[1].args


async def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as sock:  # a port on 127.0.0.1 that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError):
        await _sender(f"http://127.0.0.1:{port}/api/").send(USER, [Reply("hello")])


async def test_migration_matches_slack_sdks_installation_tables(sqlite_db: AsyncEngine) -> None:
    def diff(connection) -> list:  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), installation_metadata())

    async with sqlite_db.connect() as conn:
        changes = await conn.run_sync(diff)
    slack_changes = [c for c in changes if "slack_" in repr(c)]
    assert slack_changes == []


def test_manifest_asks_for_exactly_the_scopes_and_events_used() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "slack-manifest.yaml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",
        "app_uninstalled",
        "message.im",
        "tokens_revoked",
    ]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True

"""Reply -> Slack Block Kit, within Slack's limits, with mrkdwn escaped. Pure functions, no I/O.

Limits (api.slack.com/reference/block-kit): a section's text ≤ 3000 chars, an actions block ≤ 25
elements, a button's text ≤ 75 chars and its value ≤ 2000, a message ≤ 50 blocks.
"""

from __future__ import annotations

import re
from typing import Any

from bot.flows.dispatch import COMMANDS
from bot.types import Button, ButtonStyle, Reply

SECTION_MAX = 3000
ACTIONS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
BLOCKS_MAX = 50
FALLBACK_MAX = 3000
URGENT_PREFIX = ":warning: "
ACTION_ID_PREFIX = "bc"  # every BackCoach button's action_id starts with this; one Bolt listener serves all
SLASH_COMMAND = "/backcoach"
STYLES = {ButtonStyle.GOOD: "primary", ButtonStyle.BAD: "danger"}
_COMMAND_WORDS = re.compile(r"(?<![\w/])/(" + "|".join(sorted(c[1:] for c in COMMANDS)) + r")\b")


def escape(text: str) -> str:
    """Slack's mrkdwn control characters: only &, < and > need escaping (in that order)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def native(text: str) -> str:
    """The core says "/today"; in Slack that is "/backcoach today" (one slash command, subcommands)."""
    return _COMMAND_WORDS.sub(SLASH_COMMAND + r" \1", text)


def _body(reply: Reply) -> str:
    return (URGENT_PREFIX if reply.urgent else "") + escape(native(reply.text))


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(text: str, limit: int) -> list[str]:
    """Split escaped text at line breaks where possible, never inside an &entity;."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
            amp = rest.rfind("&", cut - 5, cut)
            if amp != -1 and ";" not in rest[amp:cut]:
                cut = amp
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return [p for p in parts if p]


def button(index: int, item: Button) -> dict[str, Any]:
    if len(item.action) > BUTTON_VALUE_MAX:
        raise ValueError("button action too long for Slack")  # the core's actions are short; fail loudly
    out = {
        "type": "button",
        "action_id": f"{ACTION_ID_PREFIX}{index}",
        "text": {"type": "plain_text", "text": truncate(item.label, BUTTON_TEXT_MAX), "emoji": True},
        "value": item.action,
    }
    if item.style in STYLES:
        out["style"] = STYLES[item.style]
    return out


def blocks(reply: Reply) -> list[dict[str, Any]]:
    """Section(s) for the text, then actions blocks of at most 25 buttons each."""
    text = _body(reply)
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in _chunks(text, SECTION_MAX)
    ]
    for start in range(0, len(reply.buttons), ACTIONS_MAX):
        row = reply.buttons[start : start + ACTIONS_MAX]
        out.append(
            {
                "type": "actions",
                "block_id": f"bc-actions-{start // ACTIONS_MAX}",
                "elements": [button(start + i, b) for i, b in enumerate(row)],
            }
        )
    if len(out) > BLOCKS_MAX:
        raise ValueError("reply too long for one Slack message")
    return out


def fallback_text(reply: Reply) -> str:
    """The notification/preview text (plain, but still mrkdwn-escaped as Slack parses it too)."""
    return truncate(_body(reply), FALLBACK_MAX)


def message(reply: Reply) -> dict[str, Any]:
    """Keyword arguments for chat.postMessage (without the channel)."""
    return {"text": fallback_text(reply), "blocks": blocks(reply)}


def chosen_block(chosen: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"✓ {escape(chosen)}"}]}


def edited(reply: Reply) -> dict[str, Any]:
    """chat.update arguments (without channel and ts): the live question becomes this reply."""
    head = [chosen_block(reply.chosen)] if reply.chosen else []
    return {"text": fallback_text(reply), "blocks": head + blocks(reply)}


def closed(reply: Reply) -> dict[str, Any]:
    """chat.update arguments for a question that has moved on: its text, no buttons, the answer under it."""
    body = blocks(Reply(reply.text, urgent=reply.urgent))
    tail = [chosen_block(reply.chosen)] if reply.chosen else []
    return {"text": fallback_text(reply), "blocks": body + tail}


def answered(blocks_in: list[dict[str, Any]], chosen_label: str) -> list[dict[str, Any]]:
    """The tapped message again with its buttons replaced by what was chosen, so it cannot be tapped twice."""
    kept = [b for b in blocks_in if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"✓ {escape(chosen_label)}"}]})
    return kept


def order_for_sending(replies: list[Reply]) -> list[Reply]:
    """Urgent (safety) replies go first; otherwise the core's order is kept."""
    return sorted(replies, key=lambda r: not r.urgent)

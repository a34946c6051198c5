"""Small building blocks shared by the flows: the outcome type, prompts, and answer parsing."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.effects import Effect
from bot.state import FlowName, UserView
from bot.types import Button, Inbound, InboundKind, Reply, ReplyKind
from content.loader import Content

GLOBAL_PREFIX = "g."  # actions valid on any message, whatever question is current


@dataclass
class Outcome:
    view: UserView
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def say(self, text: str, *, urgent: bool = False) -> Outcome:
        self.replies.append(Reply(text=text, urgent=urgent))
        return self

    def toast(self, text: str) -> Outcome:
        """A short notice on the tap itself (a message of its own where the platform has no toast)."""
        self.replies.append(Reply(text=text, kind=ReplyKind.TOAST))
        return self

    def ask(self, text: str, buttons: list[Button], *, ask_location: bool = False) -> Outcome:
        """Ask a question; typed answers matching a button's label count as that button."""
        self.replies.append(Reply(text=text, buttons=tuple(buttons), ask_location=ask_location))
        self.view.conversation.choices = {normalise(b.label): b.action for b in buttons}
        return self


def normalise(text: str) -> str:
    """Lower-case, accents and punctuation folded, whitespace collapsed: for matching typed answers."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.replace("’", "'").lower()
    text = re.sub(r"[^a-z0-9:+\-/ ]+", " ", text)
    return " ".join(text.split())


def reset(view: UserView, flow: FlowName = FlowName.IDLE) -> None:
    """No question open (or, with FlowName.NEW, not set up): the step and the whole context go."""
    view.conversation.flow = flow
    view.conversation.step = ""
    view.conversation.clear_ctx()
    view.conversation.choices = {}


def idle_prompt(out: Outcome, content: Content) -> Outcome:
    """The question of the idle state: what the person can do from here."""
    buttons = [
        Button(content.msg("button.start_now"), "g.today"),
        Button(content.msg("button.log_activity"), "g.activity"),
        Button(content.msg("button.symptoms"), "g.symptoms"),
    ]
    return out.ask(content.msg("idle.ask"), buttons)


def zone_named(name: str | None) -> ZoneInfo:
    """The person's zone; UTC until they have chosen one (or if a stored name stopped being valid)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_of(view: UserView) -> ZoneInfo:
    return zone_named(view.schedule.timezone)


def local_today(view: UserView, now: datetime) -> date:
    return now.astimezone(zone_of(view)).date()


def answer_of(event: Inbound, view: UserView, content: Content) -> str:
    """The action a user chose: a tapped button, a typed label, a typed number, or a yes/no synonym."""
    if event.kind is InboundKind.BUTTON:
        return event.action
    text = normalise(event.text)
    if not text:
        return ""
    choices = view.conversation.choices
    if text in choices:
        return choices[text]
    for key in ("yes", "no", "done", "skip", "hurts"):
        synonyms = {normalise(s) for s in content.msg(f"synonyms.{key}").split(",")}
        if text in synonyms:
            wanted = {"hurts": "hurts", "done": "done", "skip": "skip", "yes": "yes", "no": "no"}[key]
            if wanted in choices.values() or not choices:
                return wanted
    return ""


def parse_int(text: str, low: int, high: int) -> int | None:
    """A whole number in [low, high] typed on its own or at the start ("7", "7/10", "about 5")."""
    match = re.search(r"-?\d+", text)
    if not match or len(text) > 40:
        return None
    value = int(match.group())
    return value if low <= value <= high else None


def yes_no(content: Content) -> list[Button]:
    return [Button(content.msg("button.yes"), "yes"), Button(content.msg("button.no"), "no")]


def scale_buttons(low: int, high: int, prefix: str) -> list[Button]:
    return [Button(str(n), f"{prefix}{n}") for n in range(low, high + 1)]

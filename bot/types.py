"""Platform-neutral event and reply types: the only language adapters and the core share."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class InboundKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    SYSTEM = "system"  # timers and check-ins delivered from the outbox
    FORM = "form"  # a submitted form (Slack's settings modal): `Inbound.form` holds its fields


@dataclass(frozen=True, slots=True)
class UserRef:
    """Whose conversation this is. Slack user ids are unique per workspace, so the workspace is part of it."""

    platform: str
    workspace: str
    user_id: str
    chat_id: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.platform, self.workspace, self.user_id)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a user (or the scheduler on their behalf) did."""

    user: UserRef
    kind: InboundKind
    text: str = ""
    action: str = ""  # a button's payload, or a system event's name
    event_id: str | None = None  # the platform's own id, used to drop duplicate deliveries
    timezone_hint: str | None = None  # e.g. Slack's users.info tz, or a Telegram location turned into a zone
    source: str = ""  # the platform id of the message whose button was tapped (Telegram message id, Slack ts)
    form: dict[str, str] = field(default_factory=dict)  # a submitted form (Slack's settings modal), by field


class ReplyKind(StrEnum):
    """What a reply is on a platform that can edit messages (the console prints every kind in turn)."""

    NEW = "new"  # a message of its own: something that needs attention, or an answer to typed text
    EDIT = "edit"  # shown in place of the live question the person just tapped: text, buttons, `chosen`
    CLOSE = "close"  # the live question has moved on: its buttons go and `chosen` is shown under its text
    TOAST = "toast"  # a short notice on the tap itself (Telegram's answerCallbackQuery); never safety advice


class ButtonStyle(StrEnum):
    """A colour hint where the platform has one; a label must still make sense without it."""

    PLAIN = ""
    GOOD = "good"  # Telegram "success", Slack "primary"
    BAD = "bad"  # Telegram and Slack "danger"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str
    style: ButtonStyle = ButtonStyle.PLAIN


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the user. `urgent` marks safety advice: adapters must never delay, fold or edit it.

    `kind` says how it is shown (bot/flows/living.py decides); `target` is the platform id of the message an
    EDIT or CLOSE changes, or "" for the person's live question (the adapter remembers its id)."""

    text: str
    buttons: tuple[Button, ...] = ()
    urgent: bool = False
    image: Attachment | None = None
    document: Attachment | None = None
    ask_location: bool = False  # Telegram can offer a "share location" keyboard here
    meta: dict[str, str] = field(default_factory=dict)
    kind: ReplyKind = ReplyKind.NEW
    chosen: str = ""  # the answer the person gave to the question this EDIT or CLOSE replaces
    target: str = ""

"""Platform-neutral event and reply types: the only language adapters and the core share."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class InboundKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    SYSTEM = "system"  # timers and check-ins delivered from the outbox


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


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the user. `urgent` marks safety advice: adapters must never delay or fold it."""

    text: str
    buttons: tuple[Button, ...] = ()
    urgent: bool = False
    image: Attachment | None = None
    document: Attachment | None = None
    ask_location: bool = False  # Telegram can offer a "share location" keyboard here
    meta: dict[str, str] = field(default_factory=dict)

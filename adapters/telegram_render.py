"""Telegram <-> neutral types, with no I/O: updates become `Inbound`, replies become Bot API calls.

Kept pure so escaping, keyboard layout and the 64-byte callback limit are tested without a network.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType

from bot.types import Attachment, Button, ButtonStyle, Inbound, InboundKind, Reply, UserRef

log = logging.getLogger(__name__)

PLATFORM = "telegram"
TEXT_LIMIT = 4096  # Bot API limit for a message, counted after escaping (entities are markup, not text)
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes, Bot API limit for callback_data

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
STYLES = {ButtonStyle.GOOD: "success", ButtonStyle.BAD: "danger"}  # Bot API 9.x button colours
ZoneFinder = Callable[[float, float], str | None]


@dataclass(frozen=True)
class Texts:
    """The few Telegram-only sentences, taken from content/messages.yaml at start-up."""

    share_location: str
    share_location_button: str


@dataclass(frozen=True)
class Outgoing:
    """One Bot API call: sendMessage (file is None), sendPhoto, sendDocument, editMessageText,
    editMessageReplyMarkup (message_id says which message) or answerCallbackQuery (query_id)."""

    method: str
    text: str  # HTML, already escaped; the caption for media
    markup: Markup | None = None
    file: Attachment | None = None
    message_id: int | None = None
    query_id: str | None = None

    @property
    def asks(self) -> bool:
        """Whether this call leaves a message with working buttons (the person's live question)."""
        return isinstance(self.markup, InlineKeyboardMarkup)


# --- inbound --------------------------------------------------------------------------------------


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def normalise_command(text: str) -> str:
    """ "/today@BackCoachBot extra" -> "/today extra": in a private chat the @suffix carries nothing."""
    head, sep, rest = text.partition(" ")
    return head.split("@", 1)[0] + sep + rest


def to_inbound(update: Update, find_zone: ZoneFinder) -> Inbound | None:
    """A private-chat message, location or button tap as a neutral event; anything else is None."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    ref = UserRef(PLATFORM, "", str(user.id), str(chat.id))
    event_id = f"tg:{update.update_id}"
    query = update.callback_query
    if query is not None:
        source = str(query.message.message_id) if query.message is not None else ""
        return Inbound(ref, InboundKind.BUTTON, action=query.data or "", event_id=event_id, source=source)
    message = update.message
    if message is None:
        return None
    if message.location is not None:  # turned into a zone here and forgotten: the location is never stored
        zone = find_zone(message.location.latitude, message.location.longitude)
        return Inbound(ref, InboundKind.TEXT, text="" if zone else "?", event_id=event_id, timezone_hint=zone)
    text = message.text or message.caption or ""
    if text.startswith("/"):
        return Inbound(ref, InboundKind.COMMAND, text=normalise_command(text), event_id=event_id)
    return Inbound(ref, InboundKind.TEXT, text=text, event_id=event_id)


# --- outbound -------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """HTML parse mode needs only <, > and & escaped; _ * ` and emoji are plain text there."""
    return html.escape(text, quote=False)


def callback_data(action: str) -> str:
    """The stamped action, cut at a character boundary if it would exceed Telegram's 64 bytes.

    A cut action is refused by the core like any unknown one ("please tap a button"), never misread.
    """
    raw = action.encode("utf-8")
    if len(raw) <= CALLBACK_LIMIT:
        return action
    log.warning("callback data too long, truncated", extra={"bytes": len(raw)})
    return raw[:CALLBACK_LIMIT].decode("utf-8", errors="ignore")


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup:
    """Short labels (a 0-10 scale, times) share rows; longer ones get a row each, as Telegram users expect."""
    longest = max(len(b.label) for b in buttons)
    per_row = 6 if longest <= 3 else 3 if longest <= 10 else 2 if longest <= 16 else 1
    keys = [
        InlineKeyboardButton(b.label, callback_data=callback_data(b.action), style=STYLES.get(b.style)) for b in buttons
    ]
    return InlineKeyboardMarkup([keys[i : i + per_row] for i in range(0, len(keys), per_row)])


def location_keyboard(texts: Texts) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(texts.share_location_button, request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Escaped chunks of at most `limit` characters, cut at line ends where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        piece = escape(line)
        while len(piece) > limit:  # one huge line: cut it, never inside an &entity;
            cut = piece.rfind("&", 0, limit)
            cut = cut if cut > limit - 8 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(piece[:cut])
            piece = piece[cut:]
        if len(current) + len(piece) > limit:
            chunks.append(current)
            current = ""
        current += piece
    if current or not chunks:
        chunks.append(current)
    return [c.rstrip("\n") or "…" for c in chunks]


def render(reply: Reply, texts: Texts) -> list[Outgoing]:
    """The Bot API calls for one reply, in order; its buttons go on the last one."""
    body = ("⚠️ " if reply.urgent else "") + reply.text
    inline = keyboard(reply.buttons) if reply.buttons else None
    media = [("sendPhoto", reply.image), ("sendDocument", reply.document)]
    media = [(method, file) for method, file in media if file is not None]
    out: list[Outgoing] = []
    chunks = split_text(body) if body.strip() or not media else []
    caption = ""
    if media and len(chunks) == 1 and len(chunks[0]) <= CAPTION_LIMIT:
        caption = chunks.pop()
    for chunk in chunks:
        out.append(Outgoing("sendMessage", chunk, None if reply.ask_location else ReplyKeyboardRemove()))
    for index, (method, file) in enumerate(media):
        out.append(Outgoing(method, caption if index == 0 else "", None, file))
    if inline is not None:
        last = out[-1]
        out[-1] = Outgoing(last.method, last.text, inline, last.file)
    if reply.ask_location:
        out.append(Outgoing("sendMessage", escape(texts.share_location), location_keyboard(texts)))
    return out


def chosen_line(chosen: str) -> str:
    return f"✓ <i>{escape(chosen)}</i>" if chosen else ""


def edit(reply: Reply, message_id: int) -> Outgoing | None:
    """The live question's message becomes this reply (the answer just given on top); None when it does not
    fit one message, and is sent as new messages instead."""
    chunks = split_text(reply.text)
    head = chosen_line(reply.chosen)
    text = f"{head}\n\n{chunks[0]}" if head else chunks[0]
    if len(chunks) > 1 or len(text) > TEXT_LIMIT:
        return None
    inline = keyboard(reply.buttons) if reply.buttons else None
    return Outgoing("editMessageText", text, inline, message_id=message_id)


def close(reply: Reply, message_id: int) -> Outgoing:
    """Take a question's buttons away; with its text known, show the answer under it."""
    if not (reply.text and reply.chosen):
        return Outgoing("editMessageReplyMarkup", "", None, message_id=message_id)
    body = split_text(("⚠️ " if reply.urgent else "") + reply.text)[-1]
    text = f"{body}\n\n{chosen_line(reply.chosen)}"
    if len(text) > TEXT_LIMIT:
        return Outgoing("editMessageReplyMarkup", "", None, message_id=message_id)
    return Outgoing("editMessageText", text, None, message_id=message_id)

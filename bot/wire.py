"""Replies to and from JSON, for the outbox (a message queued now, sent later)."""

from __future__ import annotations

import base64
from typing import Any

from bot.render_jobs import RENDER
from bot.types import Attachment, Button, ButtonStyle, Reply, ReplyKind

_DRAWN = (RENDER, "spec")  # a render job's keys in a reply's meta: what the picture or document will show


def _attachment_to_json(a: Attachment | None) -> dict[str, str] | None:
    if a is None:
        return None
    return {"filename": a.filename, "mime_type": a.mime_type, "data": base64.b64encode(a.data).decode("ascii")}


def _attachment_from_json(raw: dict[str, str] | None) -> Attachment | None:
    if not raw:
        return None
    return Attachment(raw["filename"], raw["mime_type"], base64.b64decode(raw["data"]))


def replies_to_json(replies: tuple[Reply, ...] | list[Reply]) -> list[dict[str, Any]]:
    return [
        {
            "text": r.text,
            "buttons": [[b.label, b.action, b.style.value] for b in r.buttons],
            "urgent": r.urgent,
            "image": _attachment_to_json(r.image),
            "document": _attachment_to_json(r.document),
            "ask_location": r.ask_location,
            "meta": dict(r.meta),
            "kind": r.kind.value,
            "chosen": r.chosen,
            "target": r.target,
        }
        for r in replies
    ]


def replies_from_json(raw: list[dict[str, Any]]) -> list[Reply]:
    return [
        Reply(
            text=item["text"],
            buttons=tuple(Button(b[0], b[1], ButtonStyle(b[2] if len(b) > 2 else "")) for b in item.get("buttons", [])),
            urgent=bool(item.get("urgent", False)),
            image=_attachment_from_json(item.get("image")),
            document=_attachment_from_json(item.get("document")),
            ask_location=bool(item.get("ask_location", False)),
            meta=dict(item.get("meta", {})),
            kind=ReplyKind(item.get("kind", "new")),
            chosen=str(item.get("chosen", "")),
            target=str(item.get("target", "")),
        )
        for item in raw
    ]


def has_attachments(raw: list[dict[str, Any]]) -> bool:
    """Stored replies carrying a file (the export's CSV), a picture, or a render job's data (the PDF's record,
    the week's chart): health data that need not outlive the send."""
    return any(item.get("image") or item.get("document") or RENDER in item.get("meta", {}) for item in raw)


def without_attachments(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stored replies with every file, picture and render job removed (once sent, dropped or
    given up: the row is kept 30 days for its status, not for its files)."""
    return [
        item
        | {
            "image": None,
            "document": None,
            "meta": {k: v for k, v in item.get("meta", {}).items() if k not in _DRAWN},
        }
        for item in raw
    ]

"""Replies to and from JSON, for the outbox (a message queued now, sent later).

Two forms of a stored reply, told apart by their keys, both read by `replies_from_json`:
- words (`replies_to_json`): {"text": ..., "buttons": [[label, action, style], ...], the other fields}. Rows
  stored before issue 16 hold this form with every field; an event's own replies still are words (sent at
  once, kept a day), without the fields at their defaults.
- render inputs (`replies_to_inputs`), for queued messages: {"t": segments} instead of the text, each segment
  words or a message key with its values (bot/phrasebook.py); a button's label likewise; the actions' common
  beginning and end once ("a": [prefix, suffix]); fields at their defaults left out. Made again from the
  content when sent. A text the phrasebook cannot make again exactly is kept as words ("text").
"""

from __future__ import annotations

import base64
from typing import Any

from bot.phrasebook import Phrasebook, Segment, phrasebook_of
from bot.render_jobs import RENDER
from bot.types import Attachment, Button, ButtonStyle, Reply, ReplyKind
from content.loader import Content

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
    """The replies as words (fields at their defaults left out: a row stored before kept them all)."""
    out = []
    for r in replies:
        item: dict[str, Any] = {"text": r.text}
        if r.buttons:
            item["buttons"] = [
                [b.label, b.action, b.style.value] if b.style.value else [b.label, b.action] for b in r.buttons
            ]
        out.append(_rest(r, item))
    return out


def _rest(r: Reply, item: dict[str, Any]) -> dict[str, Any]:
    """Every field but the text and buttons, where it is not at its default."""
    if r.urgent:
        item["urgent"] = True
    if r.image is not None:
        item["image"] = _attachment_to_json(r.image)
    if r.document is not None:
        item["document"] = _attachment_to_json(r.document)
    if r.ask_location:
        item["ask_location"] = True
    if r.meta:
        item["meta"] = dict(r.meta)
    if r.kind is not ReplyKind.NEW:
        item["kind"] = r.kind.value
    if r.chosen:
        item["chosen"] = r.chosen
    if r.target:
        item["target"] = r.target
    return item


def replies_to_inputs(replies: tuple[Reply, ...] | list[Reply], content: Content) -> list[dict[str, Any]]:
    """The replies as render inputs: what is needed to make their words again from `content`."""
    book = phrasebook_of(content.messages)
    return [_to_inputs(reply, book) for reply in replies]


def _to_inputs(r: Reply, book: Phrasebook) -> dict[str, Any]:
    item: dict[str, Any] = {}
    segments = book.segments(r.text) if r.text else None
    if segments is not None:
        item["t"] = list(segments)
    else:
        item["text"] = r.text
    if r.buttons:
        prefix, suffix = _common_ends([b.action for b in r.buttons])
        if prefix or suffix:
            item["a"] = [prefix, suffix]
        item["b"] = [
            [_label(b.label, book), b.action[len(prefix) : len(b.action) - len(suffix)]]
            + ([b.style.value] if b.style.value else [])
            for b in r.buttons
        ]
    return _rest(r, item)


def _label(label: str, book: Phrasebook) -> Segment:
    """A button's label as one message ([key] or [key, values]) where it is exactly one, else its words."""
    segments = book.segments(label) if label else None
    return segments[0] if segments is not None and len(segments) == 1 else label


def _common_ends(actions: list[str]) -> tuple[str, str]:
    """The beginning and end every action shares ("g9:g.remind." and ":2026-03-02"), if there are several."""
    if len(actions) < 2:
        return "", ""
    prefix = _shared_start(actions)
    suffix = _shared_start([a[len(prefix) :][::-1] for a in actions])[::-1]
    return prefix, suffix


def _shared_start(words: list[str]) -> str:
    """What all of `words` begin with: what the first and the last of them in sorted order share."""
    first, last = min(words), max(words)
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    return first[:n]


def replies_from_json(raw: list[dict[str, Any]], content: Content | None = None) -> list[Reply]:
    """Either form back to replies; render inputs need the `content` to make their words (KeyError when it
    no longer has a message they name)."""
    book = phrasebook_of(content.messages) if content is not None else None
    return [_from_json(item, book) for item in raw]


def _words(segments: list[Segment], book: Phrasebook | None) -> str:
    if book is None:
        raise ValueError("render inputs need the content to be made into words")
    return book.render(segments)


def _from_json(item: dict[str, Any], book: Phrasebook | None) -> Reply:
    text = str(item["text"]) if "text" in item else _words(item["t"], book)
    if "b" in item:
        prefix, suffix = item.get("a") or ("", "")
        buttons = tuple(
            Button(
                b[0] if isinstance(b[0], str) else _words([b[0]], book),
                f"{prefix}{b[1]}{suffix}",
                ButtonStyle(b[2] if len(b) > 2 else ""),
            )
            for b in item["b"]
        )
    else:
        buttons = tuple(Button(b[0], b[1], ButtonStyle(b[2] if len(b) > 2 else "")) for b in item.get("buttons", []))
    return Reply(
        text=text,
        buttons=buttons,
        urgent=bool(item.get("urgent", False)),
        image=_attachment_from_json(item.get("image")),
        document=_attachment_from_json(item.get("document")),
        ask_location=bool(item.get("ask_location", False)),
        meta=dict(item.get("meta", {})),
        kind=ReplyKind(item.get("kind") or "new"),
        chosen=str(item.get("chosen", "")),
        target=str(item.get("target", "")),
    )


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

"""messages.yaml turned around: the words of a reply as the messages they were made from.

A queued message (a reminder, a timer's or check-in's replies, the weekly summary) waits in the outbox and,
once sent, stays there for weeks. Its words are the content's sentences with a few values filled in, so the
row keeps what is needed to make them again: each sentence's key and its values (`{"t": [...]}` in
bot/wire.py), and the sender renders them from content when it sends. A reminder's row shrinks from about
800 bytes of words to a few keys.

Nothing has to say which sentences it used: `Phrasebook.segments` finds them in the text, line by line, from
templates compiled to regular expressions (each {field} one lazy group), so no flow changes. What it finds
is checked by rendering it back (`render`): a text it cannot make again exactly stays as words.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PREFIX = 4  # templates are indexed by this many leading characters of their first literal
Segment = str | list[Any]  # words as they are, or [key] / [key, {field: value}]; a value: words or segments


@dataclass(frozen=True)
class _Template:
    key: str
    pattern: re.Pattern[str]
    fields: int  # 0: the template is used as it is (content.msg without values returns it unformatted)
    leading: str  # the words every match starts with, up to PREFIX characters ("" when a field comes first)


def _compile(key: str, template: str) -> _Template | None:
    """A template as a regex that matches from a line's start to a line's end; None if it cannot be one
    (a field with a format spec, a conversion or an attribute: its value could not be captured as text)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    names = [name for _, name, _, _ in parsed if name is not None]
    if not names:
        return _Template(key, re.compile(re.escape(template) + r"(?=\n|\Z)"), 0, template[:PREFIX])
    seen: set[str] = set()
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(re.escape(literal))
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            return None
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^\\n]*?)")
        seen.add(name)
    return _Template(key, re.compile("".join(out) + r"(?=\n|\Z)"), len(seen), parsed[0][0][:PREFIX])


def _size(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False))


class Phrasebook:
    """One content's messages, indexed for finding them in text. Built once per content (`phrasebook_of`)."""

    def __init__(self, messages: Mapping[str, str]) -> None:
        self.messages = dict(messages)
        self._by_prefix: dict[str, list[_Template]] = {}
        self._loose: list[_Template] = []  # no leading literal to index by: tried at every line
        for key, template in self.messages.items():
            compiled = _compile(key, template)
            if compiled is None:
                continue
            lead = compiled.leading
            (self._by_prefix.setdefault(lead, []) if len(lead) == PREFIX else self._loose).append(compiled)
        self.segments = lru_cache(maxsize=4096)(self._segments)  # a day's reminder is the same for everyone

    def render(self, segments: list[Segment]) -> str:
        """The words again (KeyError, or a missing field's KeyError, if the content no longer has them)."""
        out = []
        for segment in segments:
            if isinstance(segment, str):
                out.append(segment)
            elif len(segment) > 1:
                values = {k: v if isinstance(v, str) else self.render(v) for k, v in segment[1].items()}
                out.append(self.messages[segment[0]].format(**values))
            else:
                out.append(self.messages[segment[0]])
        return "".join(out)

    def _segments(self, text: str) -> tuple[Segment, ...] | None:
        """The text as messages and words in between, or None when that is no smaller than the words."""
        found: list[Segment] = []
        i, end = 0, len(text)
        while i < end:
            made = self._best_at(text, i)
            if made is not None:
                segment, i = made
                found.append(segment)
            else:
                line_end = text.find("\n", i)
                i = _literal(found, text, i, end if line_end < 0 else line_end)
            newlines = i
            while newlines < end and text[newlines] == "\n":
                newlines += 1
            i = _literal(found, text, i, newlines)
        if not any(isinstance(s, list) for s in found) or _size(found) >= _size(text) or self.render(found) != text:
            return None
        return tuple(found)

    def _best_at(self, text: str, i: int) -> tuple[Segment, int] | None:
        """The template that covers the most literal characters of the line(s) from `i`, if worth storing."""
        best: tuple[int, Segment, int] | None = None
        for template in (*self._by_prefix.get(text[i : i + PREFIX], ()), *self._loose):
            match = template.pattern.match(text, i)
            if match is None:
                continue
            values: dict[str, Any] = {}
            for name, value in match.groupdict().items():  # a value may be a message too (a schedule line)
                inner = self.segments(value) if value and value != match.group(0) else None
                values[name] = list(inner) if inner is not None else value
            segment: Segment = [template.key, values] if template.fields else [template.key]
            saved = _size(match.group(0)) - _size(segment)
            if saved > 0 and (best is None or saved > best[0]):
                best = (saved, segment, match.end())
        return (best[1], best[2]) if best is not None else None


def _literal(found: list[Segment], text: str, start: int, stop: int) -> int:
    """Append text[start:stop] as words, joined to the words before it."""
    if stop > start:
        if found and isinstance(found[-1], str):
            found[-1] += text[start:stop]
        else:
            found.append(text[start:stop])
    return stop


_BOOKS: dict[int, tuple[object, Phrasebook]] = {}


def phrasebook_of(messages: Mapping[str, str]) -> Phrasebook:
    """The phrasebook of these messages (one per loaded content: the same mapping gives the same book)."""
    held = _BOOKS.get(id(messages))
    if held is not None and held[0] is messages:
        return held[1]
    book = Phrasebook(messages)
    if len(_BOOKS) > 8:  # a test run loads a handful of contents; keep only the latest few
        _BOOKS.clear()
    _BOOKS[id(messages)] = (messages, book)
    return book

"""Ordinary chat: greetings, thanks, "how do I stop the reminders?", "what does the pelvic tilt do?", activity
in words ("walked 20 minutes") and messages in another language.

Why word lists and not the learned model: each intent leads to a fixed, harmless answer, the lists are short
data a person can read (content/triage/chat.yaml), and none of this is consulted before the safety rules
have had their say.  Pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from content.loader import ChatWords

MAX_CHARS = 600
_WORD = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")
_APOSTROPHES = str.maketrans("", "", "'’‘`´ʼ")


@dataclass(frozen=True)
class Intent:
    """What an ordinary message asks for: `name` is an intent of content/triage/README.md or ""."""

    name: str = ""
    exercise_id: str = ""
    minutes: int = 0


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES))


def _phrases(terms: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted({tuple(_words(t)) for t in terms if _words(t)}, key=len, reverse=True))


def _has(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> int:
    """Index just after the first phrase found, or -1."""
    firsts = {p[0] for p in phrases}
    for i, word in enumerate(words):
        if word not in firsts:
            continue
        for phrase in phrases:
            if tuple(words[i : i + len(phrase)]) == phrase:
                return i + len(phrase)
    return -1


@dataclass(frozen=True)
class _Compiled:
    greeting: tuple[tuple[str, ...], ...]
    thanks: tuple[tuple[str, ...], ...]
    stop_words: tuple[tuple[str, ...], ...]
    reminder_words: tuple[tuple[str, ...], ...]
    stop_alone: tuple[tuple[str, ...], ...]
    question_words: tuple[tuple[str, ...], ...]
    aliases: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]
    activity: tuple[tuple[str, ...], ...]
    distance: tuple[tuple[str, ...], ...]
    english: frozenset[str]
    foreign: frozenset[str]


_CACHE: dict[int, tuple[ChatWords, _Compiled]] = {}


def _compiled(words: ChatWords) -> _Compiled:
    """Compiled once per ChatWords object (identity-checked)."""
    entry = _CACHE.get(id(words))
    if entry is None or entry[0] is not words:
        if len(_CACHE) > 8:
            _CACHE.clear()
        entry = _CACHE[id(words)] = (words, _build(words))
    return entry[1]


def _build(words: ChatWords) -> _Compiled:
    return _Compiled(
        _phrases(words.greeting),
        _phrases(words.thanks),
        _phrases(words.stop_words),
        _phrases(words.reminder_words),
        _phrases(words.stop_alone),
        _phrases(words.question_words),
        tuple((ex, _phrases(names)) for ex, names in words.exercise_aliases.items()),
        _phrases(words.activity_words),
        _phrases(words.distance_words),
        frozenset(words.english_words),
        frozenset(w for f in words.foreign_words for w in _words(f)),
    )


def minutes_in(text: str, words: ChatWords) -> int:
    """A duration written in words or digits ("20 mins", "half an hour", "1.5 hours"), in minutes; 0 if none."""
    tokens = _words(text)
    joined = " ".join(tokens)
    for phrase, minutes in sorted(words.duration_phrases.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(phrase)}\b", joined):
            return minutes
    units = {w: 1 for w in words.minute_words} | {w: 60 for w in words.hour_words}
    for i, tok in enumerate(tokens[:-1]):
        unit = units.get(tokens[i + 1])
        if unit is None:
            continue
        value = _number(tok, words)
        if value:
            return round(value * unit)
    return 0


def _distance(tokens: list[str], compiled: _Compiled) -> bool:
    """A number with a distance word after it ("2 miles", "5 k", "15 lengths", "10k steps") or a run
    named by its distance ("did a parkrun")."""
    singles = {p[0] for p in compiled.distance if len(p) == 1}
    for i, tok in enumerate(tokens):
        if tok in {"parkrun", "marathon"} or (tok == "park" and tokens[i + 1 : i + 2] == ["run"]):
            return True
        if tok[:1].isdigit() and i + 1 < len(tokens) and tokens[i + 1] in singles:
            return True
    return False


def _number(token: str, words: ChatWords) -> float:
    try:
        return float(token)
    except ValueError:
        return float(words.number_words.get(token, 0))


def other_language(text: str, words: ChatWords) -> bool:
    """Mostly a non-Latin script, or two or more common foreign words and over twice as many as English ones."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 2:
        latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
        if latin / len(letters) < 0.5:
            return True
    compiled = _compiled(words)
    tokens = _words(text)
    foreign = sum(t in compiled.foreign for t in tokens)
    english = sum(t in compiled.english for t in tokens)
    needed = 1 if len(tokens) <= 3 else 2  # "gracias", "merhaba": one word is enough in a short message
    return foreign >= needed and foreign > 2 * english


def detect(text: str, words: ChatWords) -> Intent:
    """The chat intent of a message that raised no safety rule ("" when it is none of them)."""
    if len(text) > MAX_CHARS:
        return Intent()  # a long message is a report, not "thanks" or "walked 20 minutes"
    compiled = _compiled(words)
    tokens = _words(text)
    if not tokens:
        return Intent()
    if other_language(text, words):
        return Intent("other_language")
    stop_at = _has(tokens, compiled.stop_words)
    if _has(tokens, compiled.stop_alone) >= 0 or (stop_at >= 0 and _has(tokens, compiled.reminder_words) >= 0):
        return Intent("stop_howto")
    if _has(tokens, compiled.question_words) >= 0 or text.strip().endswith("?"):
        for exercise_id, names in compiled.aliases:
            if _has(tokens, names) >= 0:
                return Intent("exercise_question", exercise_id=exercise_id)
    if _has(tokens, compiled.activity) >= 0 or _has(tokens, compiled.distance) >= 0:
        minutes = minutes_in(text, words)
        if 0 < minutes <= 24 * 60 and _has(tokens, compiled.activity) >= 0:
            return Intent("activity", minutes=minutes)
        if minutes == 0 and _distance(tokens, compiled):
            return Intent("activity")  # minutes 0: ask how many minutes it took (the sheet counts minutes)
    if len(tokens) <= words.max_words:
        if _has(tokens, compiled.thanks) >= 0:
            return Intent("thanks")
        if (
            tuple(tokens[:2]) in compiled.greeting
            or tuple(tokens[:1]) in compiled.greeting
            or any(tuple(tokens[: len(g)]) == g for g in compiled.greeting)
        ):
            return Intent("greeting")
    return Intent()

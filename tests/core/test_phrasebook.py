"""The phrasebook finds content's messages in a reply's words and makes exactly those words again; what it
cannot make again exactly stays words (bot/phrasebook.py, bot/wire.py's render inputs)."""

from __future__ import annotations

import string
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.flows import dispatch
from bot.phrasebook import Phrasebook, phrasebook_of
from bot.types import Button, ButtonStyle, Reply, ReplyKind
from bot.wire import replies_from_json, replies_to_inputs, replies_to_json
from content.loader import Content, default_content

CONTENT = default_content()
KEYS = sorted(CONTENT.messages)


def _filled(content: Content, key: str, fill: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(content.messages[key]) if name}
    return content.msg(key, **{name: f"{fill}{name}" for name in names}) if names else content.msg(key)


def test_every_message_comes_back_exactly(content: Content) -> None:
    for key in content.messages:
        text = _filled(content, key, "7 ")
        replies = [Reply(text), Reply(f"{text}\n\n{content.msg('reminder.stop_hint')}", buttons=(Button(text, "a"),))]
        assert replies_from_json(replies_to_inputs(replies, content), content) == replies, key


def test_a_reminder_is_keys_and_actions(content: Content) -> None:
    day = date(2026, 3, 3)
    conversation = {"flow": "idle", "seq": 4, "asked": content.msg("idle.ask")}
    replies, _ = dispatch.quick_reminder({"onboarded": True}, conversation, day, day, 0, content) or ([], {})
    stored = replies_to_inputs(replies, content)
    assert stored[0]["t"] == [["reminder.text"], "\n\n", ["reminder.stop_hint"]]
    assert stored[0]["a"] == ["g5:g.remind.", ":2026-03-03"], "the actions' shared ends once"
    assert stored[1] == {"t": [["idle.ask"]], "kind": "close"}
    assert replies_from_json(stored, content) == replies
    assert len(str(stored)) < 0.7 * len(str(replies_to_json(replies))), "well under the words, defaults left out"


def test_words_it_cannot_make_again_stay_words(content: Content) -> None:
    replies = [Reply("Something nobody wrote in messages.yaml"), Reply("")]
    assert [set(item) for item in replies_to_inputs(replies, content)] == [{"text"}, {"text"}]


def test_a_template_with_a_format_spec_is_left_alone() -> None:
    book = Phrasebook({"pi": "Pi is about {value:.2f} today, said the sheet", "plain": "said the sheet, again"})
    assert book.segments("Pi is about 3.14 today, said the sheet") is None
    assert book.segments("said the sheet, again") == (["plain"],)


def test_a_repeated_field_must_repeat() -> None:
    book = Phrasebook({"twice": "{x} and {x} again, and again"})
    assert book.segments("ab and ab again, and again") == (["twice", {"x": "ab"}],)
    assert book.segments("ab and cd again, and again") is None


_fills = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_pieces = st.one_of(
    st.tuples(st.sampled_from(KEYS), _fills).map(lambda kf: _filled(CONTENT, kf[0], kf[1])),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_pieces, st.sampled_from(["\n\n", "\n", " ", ""])), max_size=5), st.booleans())
def test_any_words_come_back_exactly(parts: list[tuple[str, str]], urgent: bool) -> None:
    """Messages with any values, words around them, any joins: rendered back, always the same reply."""
    text = "".join(piece + join for piece, join in parts)
    reply = Reply(
        text,
        buttons=(Button(text[:20], "7:x", ButtonStyle.GOOD), Button(CONTENT.msg("button.done"), "7:y")),
        urgent=urgent,
        kind=ReplyKind.EDIT,
        chosen="Yes",
    )
    book = phrasebook_of(CONTENT.messages)
    assert replies_from_json(replies_to_inputs([reply], CONTENT), CONTENT) == [reply]
    found = book.segments(text)
    assert found is None or book.render(list(found)) == text

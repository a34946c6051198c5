"""Free-text triage against the labelled messages, plus negation, priority and odd input.

The project's labelled set (content/triage/tuning_project.yaml, formerly tests/data/triage_labelled.yaml) was
written before the trigger phrases; these tests fail when a phrase edit in content/safety.yaml loses recall or
starts raising alarms on ordinary chat. The corpus format has no "unclear" label, so the vague messages the bot
should ask about (a yes/no question, no rule) are listed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.triage import TriageResult, classify, normalised, tokenize
from bot.triage_assess import assess, decide
from content.loader import Content, Safety, load_content
from tests.core.test_freetext import STATES, advice_first, put_in, reports
from tests.flow_helpers import user_row

LABELLED_PATH = Path(__file__).resolve().parents[2] / "content" / "triage" / "tuning_project.yaml"
UNCLEAR = [
    "my back feels a bit weird", "it hurts", "I'm sore today", "my back aches", "something feels strange",
    "it's getting worse", "a bit uncomfortable today", "my hip is sore", "not great, some pain",
    "achy this morning", "my knee hurts a little", "feeling stiff and sore",
]  # fmt: skip
RULE_IDS = [
    "crisis", "cauda_equina", "chest_pain", "same_day", "heart", "radiating",
    "neuro_change", "spasm_flare", "exercise_pain", "routine",
]  # fmt: skip
NEVER_ON_ORDINARY_CHAT = {"cauda_equina", "chest_pain", "heart"}  # emergency, chest, heart hold


@pytest.fixture(scope="module")
def safety() -> Safety:
    return load_content().safety


@pytest.fixture(scope="module")
def labelled() -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = {"unclear": list(UNCLEAR)}
    for item in yaml.safe_load(LABELLED_PATH.read_text(encoding="utf-8")):
        by_label.setdefault(str(item["rule"]), []).append(str(item["text"]))
    return by_label


def outcome(text: str, safety: Safety) -> str:
    result = classify(text, safety)
    return result.rule_id or ("unclear" if result.unclear else "none")


def test_labelled_set_is_big_enough_and_uses_known_labels(labelled: dict[str, list[str]]) -> None:
    assert set(labelled) == {*RULE_IDS, "none", "unclear"} - {"crisis"}
    for rule_id in set(RULE_IDS) - {"crisis"}:
        assert len(labelled[rule_id]) >= 12, rule_id
    assert len(labelled["none"]) >= 40
    assert len(labelled["unclear"]) >= 10


@pytest.mark.parametrize("rule_id", [r for r in RULE_IDS if r != "crisis"])
def test_recall_per_rule(rule_id: str, labelled: dict[str, list[str]], safety: Safety) -> None:
    messages = labelled[rule_id]
    missed = [m for m in messages if outcome(m, safety) != rule_id]
    assert 1 - len(missed) / len(messages) >= 0.9, missed


def test_overall_recall(labelled: dict[str, list[str]], safety: Safety) -> None:
    pairs = [(rule_id, m) for rule_id in RULE_IDS if rule_id != "crisis" for m in labelled[rule_id]]
    missed = [(r, m) for r, m in pairs if outcome(m, safety) != r]
    assert 1 - len(missed) / len(pairs) >= 0.95, missed


def test_unclear_lines_ask_instead_of_alarming(labelled: dict[str, list[str]], safety: Safety) -> None:
    results = [classify(m, safety) for m in labelled["unclear"]]
    assert all(r.rule_id is None for r in results)
    assert sum(r.unclear for r in results) / len(results) >= 0.9


def test_ordinary_lines_raise_no_emergency_and_at_most_one_alarm(
    labelled: dict[str, list[str]], safety: Safety
) -> None:
    alarms = [(m, r) for m in labelled["none"] if (r := classify(m, safety).rule_id) is not None]
    assert not [a for a in alarms if a[1] in NEVER_ON_ORDINARY_CHAT], alarms
    assert len(alarms) <= 1, alarms


@pytest.mark.parametrize(
    "text",
    [
        "no chest pain",
        "my legs don't tingle",
        "my legs don’t tingle",  # curly apostrophe
        "without numbness",
        "I have not had a heart attack",
        "never noticed any numbness",
        "no numbness, tingling or pain",
        "I do not have any bladder problems",
        "No pain today. No flare-ups either.",
        "nothing hurts",
    ],
)
def test_negated_symptoms_do_not_count(text: str, safety: Safety) -> None:
    assert (classify(text, safety).rule_id, classify(text, safety).unclear) == (None, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no pain but my foot tingles", "neuro_change"),  # "but" ends the negation
        ("No, my leg is numb", "neuro_change"),  # an answer, not a negation
        ("never sure, my foot is numb", "neuro_change"),  # 4 words away: outside the window
        ("I can't control my bladder", "cauda_equina"),  # "can't" is not a negation
        ("I haven't been able to pee today", "cauda_equina"),
        ("it's not getting any better", "routine"),
        ("it does not ease when I rest", "same_day"),  # "does not" folded to "doesnt"
        ("no chest pain. my chest feels tight though", "chest_pain"),  # new sentence, new window
    ],
)
def test_negation_window_limits(text: str, expected: str, safety: Safety) -> None:
    assert classify(text, safety).rule_id == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chest pain and my leg is tingling", "chest_pain"),
        ("my leg is tingling and I have chest pain", "chest_pain"),
        ("numb around my bum and some chest pain", "cauda_equina"),
        ("having a flare-up and the pain shoots down my leg", "radiating"),
        ("this stretch hurts and now my foot is numb", "neuro_change"),
        ("had a heart attack last year and I've got a fever", "same_day"),
    ],
)
def test_most_urgent_rule_wins(text: str, expected: str, safety: Safety) -> None:
    assert classify(text, safety).rule_id == expected


def test_priorities_make_that_order(safety: Safety) -> None:
    assert [r.id for r in sorted(safety.rules, key=lambda r: r.priority)] == RULE_IDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the knee to chest hurts", "exercise_pain"),  # an exercise name, not chest pain
        ("bring my knee toward my chest, that one is sore", "exercise_pain"),
        ("knee to chest gives me chest pain", "chest_pain"),
        ("I feel the stretch in my buttock", None),  # the sheet says you should
        ("I did the number of reps", None),  # "numb" is a word, not a prefix
        ("my heart rate was 140 on the bike", None),
    ],
)
def test_exercise_words_are_not_symptoms(text: str, expected: str | None, safety: Safety) -> None:
    assert classify(text, safety).rule_id == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\n\n", "🙂", "💥💥💥", "👍🏽", "Нет боли", "背痛", "مرحبا", "\x00\x01", "-", "...", "’"],
)
def test_odd_input_is_harmless(text: str, safety: Safety) -> None:
    assert (classify(text, safety).rule_id, classify(text, safety).unclear) == (None, False)


def test_non_latin_mixed_with_english_still_triaged(safety: Safety) -> None:
    assert classify("боль в груди — chest pain 😟", safety).rule_id == "chest_pain"
    assert classify("背痛 my foot is tingling", safety).rule_id == "neuro_change"


def test_long_message(safety: Safety) -> None:
    filler = "I walked to the shops and back, it was a nice day. " * 100
    assert len(filler) >= 5000
    assert classify(filler, safety) == TriageResult(None, unclear=False)
    assert classify(filler + "Now my foot is numb.", safety).rule_id == "neuro_change"
    assert classify("x" * 5000, safety).rule_id is None


def test_one_long_sentence_keeps_context_local(safety: Safety) -> None:
    """A modifier reaches only its few words, however long the sentence: a "no" thousands of words earlier
    does not cancel a symptom at the end, a "no" just before it does, and many modifiers and mentions in
    one unpunctuated sentence are each judged on their own (the reach is walked once per modifier)."""
    middle = " and then we went to the park with the dog" * 600
    assert classify("no problems" + middle + " and my foot is numb", safety).rule_id == "neuro_change"
    assert classify("my day" + middle + " and no numbness in my foot", safety).rule_id is None
    mixed = " ".join(["no numbness", "my wife has sciatica", "we walked"] * 300) + " my chest feels tight"
    assert classify(mixed, safety).rule_id == "chest_pain"
    assert classify(mixed.rsplit(" my chest", 1)[0], safety).rule_id is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cp and palps", "chest_pain"),  # shorthand read as its words
        ("chestpain when walking", "chest_pain"),  # run-together words
        ("ches pain bad", "chest_pain"),  # a four-letter word that lost a letter
        ("fevr and bak pain", "same_day"),
        ("the knee to chest stretch hurts my back", "exercise_pain"),  # the exercise's name is not a chest
        ("knee to chest is making my chest hurt, like inside", "chest_pain"),  # ...but the chest beside it is
        ("if my back went into spasm would I stop?", None),  # a mention may start inside its modifier
        ("can sciatica go into both legs?", None),
        ("had a heart attack last year and I've got a fever", "same_day"),  # the present ends the past's reach
        ("I can't look after my kids because of my back", "routine"),  # "my kids" does not reach "my back"
        ("I've not had a wee since yesterday morning", "cauda_equina"),  # a negation inside the symptom
        ("I had sciatica 5 years ago and it's come back, down my left leg", "radiating"),  # recurrence
        ("after my accident in 2010 I had numb legs for a month but it all came back", None),  # feeling returned
        ("the pelvic tilt made my back pain worse and it hasn't settled", "exercise_pain"),  # not improving
        ("I had a numb lip at the dentist", None),  # numbness with a harmless cause named ("explained")
        ("chest pain in the cold", "chest_pain"),  # ...which never cancels chest pain or an emergency sign
        ("numb bum, I think from sitting on it, and I can't pee", "cauda_equina"),
    ],
)
def test_shorthand_spelling_and_modifier_edges(text: str, expected: str | None, safety: Safety) -> None:
    assert classify(text, safety).rule_id == expected


def test_every_rule_can_be_raised_from_free_text(safety: Safety) -> None:
    assert {p.rule for p in safety.phrases} == set(RULE_IDS)


def test_patterns_are_compiled_per_safety_object(safety: Safety) -> None:
    data = safety.model_dump()
    data["phrases"] = [{"rule": "heart", "patterns": [{"all_of": [["banana"]]}]}]
    other = Safety.model_validate(data)
    assert classify("banana", other).rule_id == "heart"
    assert classify("banana", safety).rule_id is None
    assert classify("no chest pain", other).rule_id is None


def test_tokenize_normalises() -> None:
    assert tokenize("I can’t   DO NOT cannot") == ["i", "cant", "dont", "cant"]
    assert tokenize("No, flare-up. OK") == ["no", ",", "flare", "up", ".", "ok"]


@pytest.mark.parametrize("text", ["no pain in my legs today", "nothing radiating down my legs", "no chest pain at all"])
def test_when_every_symptom_word_is_denied_the_model_may_not_ask(text: str, content: Content) -> None:
    result = classify(text, content.safety)
    assert result.rule_id is None and result.cancelled >= {"cauda_equina", "chest_pain", "radiating"}
    assert assess(text, content).describe() == "none"


@pytest.mark.parametrize(
    ("text", "word"),
    [("sorry I'm sending it late", "sorry"), ("swimming at the house", "house"), ("I stood up", "stood")],
)
def test_common_english_words_are_never_corrected_into_triggers(text: str, word: str, safety: Safety) -> None:
    """ "sorry" is not "lorry", "sending it" is not "ending it", "stood" is not "stool" (english_words.txt)."""
    assert word in normalised(text, safety)
    assert classify(text, safety).rule_id is None


def test_a_patterns_words_must_be_near_each_other(safety: Safety) -> None:
    """In a long message "legs" in one paragraph and "heavy" in another are not "heavy legs"
    (context.yaml group_window); in one sentence they are, as is a chest and its pain across a full stop."""
    far = "My legs were fine on the walk. " + "We went to the shops and then home for tea. " * 10 + "The bag was heavy."
    assert classify(far, safety).rule_id is None
    assert classify("My legs feel so heavy today.", safety).rule_id == "cauda_equina"
    assert classify("My chest. It's so tight.", safety).rule_id == "chest_pain"


# ---------------------------------------------------------------- rules and model, one decision
# (bot/triage_assess.decide; the bars are read from content/triage/model.yaml, never written here)


def _probabilities(content: Content, **given: float) -> dict[str, float]:
    """A probability per label: the given ones, the rest of the mass on "none"."""
    labels = [r.id for r in content.safety.rules]
    rest = max(0.0, 1.0 - sum(given.values()))
    return {label: given.get(label, 0.0) for label in labels} | {"none": given.get("none", rest)}


def test_crisis_words_are_never_disputed(content: Content) -> None:
    sure_harmless = _probabilities(content, none=1.0)
    for weak in (True, False):
        verdict = decide(TriageResult("crisis", unclear=False, weak=weak), sure_harmless, content)
        assert verdict is not None and verdict.rule_id == "crisis" and verdict.ask_rule is None


@pytest.mark.parametrize("rule_id", ["cauda_equina", "chest_pain"])
def test_a_clear_emergency_phrase_is_never_disputed(content: Content, rule_id: str) -> None:
    verdict = decide(TriageResult(rule_id, unclear=False, weak=False), _probabilities(content, none=1.0), content)
    assert verdict is not None and verdict.rule_id == rule_id


def test_a_weak_rule_hit_the_model_disputes_becomes_its_targeted_question(content: Content) -> None:
    bar = content.model_settings.dispute("neuro_change")
    weak = TriageResult("neuro_change", unclear=False, weak=True)
    disputed = decide(weak, _probabilities(content, none=bar), content)
    assert disputed is not None and (disputed.rule_id, disputed.ask_rule) == (None, "neuro_change")
    below = decide(weak, _probabilities(content, none=bar / 2, neuro_change=1 - bar / 2), content)
    assert below is not None and below.rule_id == "neuro_change", "a model that does not dispute leaves the advice"
    clear_bar = content.model_settings.dispute_clear_threshold
    clear = TriageResult("neuro_change", unclear=False)
    kept = decide(clear, _probabilities(content, none=clear_bar * 0.99), content)
    assert kept is not None and kept.rule_id == "neuro_change", "clear evidence needs the clear bar"
    asked = decide(clear, _probabilities(content, none=clear_bar), content)
    assert asked is not None and (asked.rule_id, asked.ask_rule) == (None, "neuro_change")


def test_a_long_message_is_never_disputed(content: Content) -> None:
    verdict = decide(TriageResult("neuro_change", unclear=False, weak=True), None, content)
    assert verdict is not None and verdict.rule_id == "neuro_change"


def test_a_confident_model_gives_direct_advice_only_for_the_rules_that_hold_nothing(content: Content) -> None:
    settings = content.model_settings
    silent = TriageResult(None, unclear=False)
    for rule_id in [r.id for r in content.safety.rules]:
        verdict = decide(silent, _probabilities(content, **{rule_id: 1.0}), content)
        assert verdict is not None
        if rule_id in settings.direct_rules:
            assert verdict.rule_id == rule_id
        else:
            assert (verdict.rule_id, verdict.ask_rule) == (None, rule_id), "asks first"
    assert not {"crisis", "cauda_equina", "chest_pain", "same_day", "heart"} & set(settings.direct_rules)


def test_the_model_does_not_ask_about_a_rule_the_context_cancelled(content: Content) -> None:
    cancelled = TriageResult(None, unclear=False, cancelled=frozenset({"radiating"}))
    assert decide(cancelled, _probabilities(content, radiating=0.99), content) is None


def test_a_more_urgent_rule_the_model_is_sure_of_is_asked_after_the_advice(content: Content) -> None:
    bar = content.model_settings.escalate_threshold
    hit = TriageResult("neuro_change", unclear=False)
    verdict = decide(hit, _probabilities(content, chest_pain=bar, none=0.0), content)
    assert verdict is not None and (verdict.rule_id, verdict.ask_rule) == ("neuro_change", "chest_pain")
    less = decide(hit, _probabilities(content, routine=1.0), content)
    assert less is not None and (less.rule_id, less.ask_rule) == ("neuro_change", None), "never a less urgent one"


# ---------------------------------------------------------------- the same, through Engine.handle


DISPUTED = "had a heart scare in 2015 but it turned out to be nothing, all tests clear"  # weak: "turned out"
DIRECT = "this stretch is making my low back throb"  # no trigger phrase; the model is sure: exercise pain
ESCALATED = "feels like indigestion but in my chest and its spreading to my shoulder"  # rules: spreading pain


@pytest.fixture
async def engine(sqlite_db: AsyncEngine, content: Content, clock: FakeClock) -> AsyncIterator[Engine]:
    engine = Engine(sqlite_db, content, clock)
    yield engine
    engine.close()


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


@pytest.mark.parametrize("state", STATES)
async def test_a_disputed_rule_hit_asks_and_yes_gives_the_advice(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    assert classify(DISPUTED, content.safety).rule_id == "heart", "precondition: the rules raise it"
    assert assess(DISPUTED, content).describe() == "ask:heart", "precondition: the model disputes it"
    await put_in(state, chat, content)
    replies = await chat.say(DISPUTED)
    assert not any(r.urgent for r in replies), "no advice before the answer"
    assert replies[-1].text == content.safety.rule("heart").ask and chat.labels(replies) == ["Yes", "No"]
    assert await reports(engine) == []
    advice_first(await chat.tap("Yes"), content, "heart")
    assert await reports(engine) == ["heart"]


@pytest.mark.parametrize("state", STATES)
async def test_a_disputed_rule_hit_no_goes_back_where_they_were(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    await put_in(state, chat, content)
    await chat.say(DISPUTED)
    replies = await chat.tap("No")
    assert content.msg("symptoms.none_reply") in chat.texts(replies)
    assert await reports(engine) == []
    if state != "first":
        assert (await user_row(engine)).hold_reason is None
    if state == "session":
        assert "Step 1 of" in chat.texts(replies)
    if state == "onboarding":
        assert content.safety.onboarding_screening[0].text in chat.texts(replies)


@pytest.mark.parametrize("state", STATES)
async def test_a_confident_model_gives_the_advice_directly(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    assert classify(DIRECT, content.safety).rule_id is None, "precondition: the rules are silent"
    assert assess(DIRECT, content).rule_id == "exercise_pain", "precondition: the model is sure"
    await put_in(state, chat, content)
    advice_first(await chat.say(DIRECT), content, "exercise_pain")
    assert await reports(engine) == ["exercise_pain"]


@pytest.mark.parametrize("state", STATES)
async def test_a_more_urgent_rule_is_asked_after_the_advice(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    assert assess(ESCALATED, content).describe() == "neuro_change+ask:chest_pain", "precondition"
    await put_in(state, chat, content)
    replies = await chat.say(ESCALATED)
    advice_first(replies, content, "neuro_change")
    assert replies[-1].text == content.safety.rule("chest_pain").ask
    assert chat.labels(replies[-1:]) == ["Yes", "No"]
    advice_first(await chat.tap("Yes"), content, "chest_pain")
    assert await reports(engine) == ["neuro_change", "chest_pain"]


@pytest.mark.parametrize("state", STATES)
async def test_no_to_the_more_urgent_question_keeps_the_first_advice(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    await put_in(state, chat, content)
    await chat.say(ESCALATED)
    replies = await chat.tap("No")
    assert content.msg("symptoms.none_reply") in chat.texts(replies)
    assert await reports(engine) == ["neuro_change"]
    if state not in ("first", "onboarding"):
        assert (await user_row(engine)).hold_reason is not None, "the numbness advice's hold stays"


@pytest.mark.parametrize("state", STATES)
async def test_crisis_help_is_unchanged_by_the_model(chat: Chat, engine: Engine, content: Content, state: str) -> None:
    text = "my wife says I look fine but I want to die"
    assert classify(text, content.safety).weak, "precondition: a context cue stands in the message"
    await put_in(state, chat, content)
    replies = await chat.say(text)
    advice_first(replies, content, "crisis")
    assert len(replies) == 1, "no question after crisis help"

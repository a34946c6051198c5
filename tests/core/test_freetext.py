"""Free text in the four states a person can be in (a brand-new person's first message, an answer during
onboarding, idle, mid-exercise), through Engine.handle on a real SQLite database: each pattern of issue 15,
the crisis path, the targeted question with Yes and No, a pending question that never traps, and chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import ActivityLog, SymptomReport
from bot.triage_assess import assess
from bot.types import Reply
from content.loader import Content
from tests.flow_helpers import start_session_to_first_step, user_row

STATES = ["first", "onboarding", "idle", "session"]

# issue 15's patterns, a few examples each: (message, the rule whose advice must come first)
RED_FLAGS = {
    "misspelling": [
        ("chest pian since this morning", "chest_pain"),
        ("sciattica down my leg", "radiating"),
        ("tingleing in my right foot", "neuro_change"),
    ],
    "possessive and units": [
        ("my leg's gone numb", "neuro_change"),
        ("temp of 38.5C and my back aches", "same_day"),
    ],
    "extra word in a phrase": [("I can't quite feel my foot", "neuro_change")],
    "everyday words and NHS signs": [
        ("I wet myself and didn't notice", "cauda_equina"),
        ("since my back went I can't get an erection", "cauda_equina"),
        ("my leg is getting weaker and my foot drags", "cauda_equina"),
    ],
    "heart attack": [("I think I'm having a heart attack", "chest_pain")],
    "shorthand": [("CP and SOB when I walked up the hill", "chest_pain")],
    "exercise name beside a real symptom": [
        ("doing knee to chest and I'm getting a pain in my actual chest", "chest_pain")
    ],
    "figurative": [("feels like an elephant is sitting on my chest", "chest_pain")],
    "accident other than a car": [("came off my horse and landed on my back", "cauda_equina")],
    "weakness in one leg": [("my knee keeps buckling, third time today", "cauda_equina")],
    "continence in plain words": [("I keep peeing myself without noticing", "cauda_equina")],
    "fever in plain words": [("temp's 38.2 and my back hurts", "same_day")],
}
HARMLESS = {
    "someone else": ["my neighbour has sciatica"],
    "past or resolved": ["chest pains years back, all clear now"],
    "improving": ["the tingling has almost gone"],
    "hypothetical": [
        "should I worry if my toes go numb?",
        "is sciatica the same as a slipped disc?",
        "if my back went into spasm would I stop?",
    ],
    "a film": ["I watched a film about a car crash"],
    "idiom": ["my heart sank when I saw the bill", "I was numb with shock"],
    "long denial": ["no numbness, no tingling, nothing in my legs or between them"],
}
CRISIS = ["I want to kill myself", "I feel like ending it all", "I don't see a way out", "feeling sucidal"]
TARGETED = "my left arm and jaw ache and I feel clammy"  # no chest word for the rules; the model asks about chest pain


@pytest.fixture
async def engine(sqlite_db: AsyncEngine, content: Content, clock: FakeClock) -> AsyncIterator[Engine]:
    engine = Engine(sqlite_db, content, clock)
    yield engine
    engine.close()


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


async def put_in(state: str, chat: Chat, content: Content) -> None:
    if state == "onboarding":
        await chat.say("/start")
        await chat.tap("I understand")
        assert content.safety.onboarding_screening[0].text in chat.texts()
    elif state == "idle":
        await chat.onboard()
    elif state == "session":
        await start_session_to_first_step(chat, content)


def advice_first(replies: list[Reply], content: Content, rule_id: str) -> None:
    rule = content.safety.rule(rule_id)
    assert replies, "no reply"
    assert replies[0].urgent and replies[0].text.startswith(rule.advice[:60]), [r.text for r in replies]
    assert not replies[0].buttons


async def reports(engine: Engine) -> list[str]:
    async with engine.sessions() as s:
        return list((await s.execute(select(SymptomReport.rule_id))).scalars())


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("pattern", "text", "rule_id"), [(p, t, r) for p, ex in RED_FLAGS.items() for t, r in ex])
async def test_red_flag_patterns_get_the_advice_first(
    chat: Chat, engine: Engine, content: Content, state: str, pattern: str, text: str, rule_id: str
) -> None:
    await put_in(state, chat, content)
    replies = await chat.say(text)
    advice_first(replies, content, rule_id)
    assert await reports(engine) == [rule_id]


async def test_a_heart_attack_gets_the_emergency_number_first(chat: Chat, content: Content) -> None:
    replies = await chat.say("I think I'm having a heart attack")
    assert replies[0].text.startswith("If the pain is severe, or you think you may be having a heart attack, call")
    assert "999" in replies[0].text.split(".")[0]


@pytest.mark.parametrize("state", STATES)
async def test_a_symptom_at_the_end_of_a_long_message_is_read(chat: Chat, content: Content, state: str) -> None:
    await put_in(state, chat, content)
    filler = "I walked to the shops and back, it was a nice day. " * 400
    assert len(filler) >= 20_000
    advice_first(await chat.say(filler + "Now my foot is numb."), content, "neuro_change")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("pattern", "text"), [(p, t) for p, ex in HARMLESS.items() for t in ex])
async def test_context_keeps_harmless_messages_harmless(
    chat: Chat, engine: Engine, content: Content, state: str, pattern: str, text: str
) -> None:
    await put_in(state, chat, content)
    replies = await chat.say(text)
    assert not any(r.urgent for r in replies), chat.texts(replies)
    assert await reports(engine) == []
    if state != "first":
        assert (await user_row(engine)).hold_reason is None


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text", CRISIS)
async def test_crisis_help_at_once_and_nothing_after_it(
    chat: Chat, engine: Engine, content: Content, state: str, text: str
) -> None:
    await put_in(state, chat, content)
    replies = await chat.say(text)
    advice_first(replies, content, "crisis")
    assert "116 123" in replies[0].text and "988" in replies[0].text and "999" in replies[0].text
    assert len(replies) == 1, "no exercise prompt, no question after crisis help"
    again = await chat.say("you misunderstood me")
    assert "116 123" in chat.texts(again)
    assert (await user_row(engine)).hold_reason == "crisis", "one 'you misunderstood' does not wipe it out"


async def test_after_crisis_resume_repeats_the_help_and_asks_before_lifting(
    chat: Chat, engine: Engine, content: Content
) -> None:
    await chat.onboard()
    await chat.say("I want to kill myself")
    replies = await chat.say("/resume")
    assert "116 123" in replies[0].text
    assert (await user_row(engine)).hold_reason == "crisis", "a second, explicit answer is needed"


@pytest.mark.parametrize("state", STATES)
async def test_targeted_question_yes_gives_that_rules_advice(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    assert assess(TARGETED, content).ask_rule == "chest_pain", "precondition: only the model sees this one"
    await put_in(state, chat, content)
    replies = await chat.say(TARGETED)
    assert replies[-1].text == content.safety.rule("chest_pain").ask
    assert chat.labels(replies) == ["Yes", "No"]
    advice_first(await chat.tap("Yes"), content, "chest_pain")
    assert await reports(engine) == ["chest_pain"]


@pytest.mark.parametrize("state", STATES)
async def test_targeted_question_no_goes_back_where_they_were(
    chat: Chat, engine: Engine, content: Content, state: str
) -> None:
    await put_in(state, chat, content)
    await chat.say(TARGETED)
    replies = await chat.tap("No")
    assert content.msg("symptoms.none_reply") in chat.texts(replies)
    assert await reports(engine) == []
    if state == "session":
        assert "Step 1 of" in chat.texts(replies)
    if state == "onboarding":
        assert content.safety.onboarding_screening[0].text in chat.texts(replies)


@pytest.mark.parametrize("state", ["idle", "session"])
async def test_a_pending_question_never_traps(chat: Chat, engine: Engine, content: Content, state: str) -> None:
    await put_in(state, chat, content)
    await chat.say(TARGETED)
    advice_first(await chat.say("my foot is tingling"), content, "neuro_change")
    await chat.say("my back feels a bit weird")
    replies = await chat.say("what does the pelvic tilt do?")
    assert content.program.exercise("pelvic_tilt").purpose in chat.texts(replies)


async def test_a_new_persons_first_symptom_is_not_dropped(chat: Chat, engine: Engine, content: Content) -> None:
    replies = await chat.say("my foot is tingling")
    advice_first(replies, content, "neuro_change")
    assert "/start" in chat.texts(replies)
    assert await reports(engine) == ["neuro_change"]


async def test_activity_in_words_is_logged_after_one_tap(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    replies = await chat.say("swam for half an hour")
    assert content.msg("chat.activity_confirm", minutes=30) in chat.texts(replies)
    await chat.tap("Yes")
    async with engine.sessions() as s:
        assert list((await s.execute(select(ActivityLog.minutes))).scalars()) == [30]
    await chat.say("I walked 20 minutes today")
    await chat.tap("No")
    async with engine.sessions() as s:
        assert list((await s.execute(select(ActivityLog.minutes))).scalars()) == [30]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("thanks", "chat.thanks"),
        ("hello", "chat.greeting"),
        ("how do I stop the reminders?", "chat.stop_howto"),
        ("stop reminding me", "chat.stop_howto"),
        ("alright mate", "chat.greeting"),
        ("me duele mucho la espalda", "chat.other_language"),
    ],
)
async def test_chat_intents_when_idle(chat: Chat, content: Content, text: str, key: str) -> None:
    await chat.onboard()
    assert content.msg(key) in chat.texts(await chat.say(text))


async def test_another_language_gets_the_emergency_advice_in_plain_words(chat: Chat, content: Content) -> None:
    replies = await chat.say("me duele mucho la espalda")
    assert "only understand English" in replies[0].text and "999" in replies[0].text


@pytest.mark.parametrize("exercise_id", ["pelvic_tilt", "hamstring_stretch", "wall_slides"])
async def test_what_does_an_exercise_do(chat: Chat, content: Content, exercise_id: str) -> None:
    await start_session_to_first_step(chat, content)
    name = content.program.exercise(exercise_id).name.lower()
    replies = await chat.say(f"what does the {name} do?")
    assert content.program.exercise(exercise_id).purpose in chat.texts(replies)
    assert "Step 1 of" in chat.texts(replies), "mid-exercise: the step is shown again"


async def test_the_weekly_check_in_after_crisis_help_fits_it(chat: Chat, engine: Engine, content: Content) -> None:
    """Not "have you had guidance from your medical team": how they are, the help again with its named sources,
    and the exercises only when they say they are ready."""
    await chat.onboard()
    await chat.say("I want to kill myself")
    sent = await chat.advance(timedelta(days=7, hours=1))
    text = " ".join(r.text for r in sent)
    assert "How are you doing?" in text
    assert "116 123" in text and "988" in text and "Samaritans" in text
    assert "medical team" not in text
    assert "I'm ready to restart" in chat.labels(sent)
    replies = await chat.tap("Not yet", sent)
    assert content.msg("hold.not_yet_crisis") in chat.texts(replies)
    assert (await user_row(engine)).hold_reason == "crisis"
    await chat.say("/resume")
    assert content.msg("hold.ask_ready_crisis_resume") in chat.texts()
    await chat.tap("I'm ready to restart")
    assert (await user_row(engine)).hold_reason is None


@pytest.mark.parametrize("text", ["I walked 2 miles", "did a 5k this morning", "swam 20 lengths"])
async def test_a_distance_asks_for_minutes_and_converts_nothing(
    chat: Chat, engine: Engine, content: Content, text: str
) -> None:
    await chat.onboard()
    replies = await chat.say(text)
    assert content.msg("chat.activity_minutes") in chat.texts(replies)
    assert "30 min" in chat.labels(replies) and "Don't log it" in chat.labels(replies)
    await chat.tap("30 min")
    assert await logged(engine) == [30]


async def test_a_distance_then_typed_minutes_or_dont_log(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    await chat.say("walked 3 km with the dog")
    await chat.say("about 40")
    assert await logged(engine) == [40]
    await chat.say("hiked 5 miles today")
    await chat.say("2 miles in 50 mins")
    assert await logged(engine) == [40, 50], "the duration, not the first number"
    await chat.say("did a parkrun")
    replies = await chat.tap("Don't log it")
    assert content.msg("chat.activity_not_logged") in chat.texts(replies)
    assert await logged(engine) == [40, 50]


async def test_a_symptom_instead_of_minutes_gets_the_advice(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    await chat.say("I walked 2 miles")
    replies = await chat.say("my chest feels tight and heavy")
    advice_first(replies, content, "chest_pain")
    assert await logged(engine) == []


async def logged(engine: Engine) -> list[int]:
    async with engine.sessions() as s:
        return list((await s.execute(select(ActivityLog.minutes).order_by(ActivityLog.id))).scalars())

"""Sessions, timers and progression hang together (issue 12), through `Engine.handle`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import ExerciseSession
from content.loader import Content
from scheduler.runner import tick
from tests.flow_helpers import start_session_to_first_step, to_pain_question, user_row


async def statuses(engine: Engine) -> list[str]:
    async with engine.sessions() as s:
        return list((await s.execute(select(ExerciseSession.status).order_by(ExerciseSession.id))).scalars())


async def test_a_session_left_for_days_closes_as_unfinished_and_the_next_starts_afresh(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await chat.onboard()
    await chat.say("/today")
    await chat.tap("No")
    await chat.tap("No")  # "Step 3 of 4" of the safety check is next
    old = chat.last
    clock.advance(timedelta(days=3))
    replies = await chat.tap("No", old)
    said = chat.texts(replies)
    assert "left unfinished" in said and "saved as not finished" in said
    assert content.safety.session_precheck[2].text not in said, "a three-day-old safety check does not go on"
    assert await statuses(engine) == ["unfinished"]
    await chat.say("/today")
    assert content.safety.session_precheck[0].text in chat.texts(), "a fresh safety check"


async def test_a_session_resumed_months_later_by_a_new_process_does_not_go_on(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await start_session_to_first_step(chat, content)
    engine.close()
    clock.advance(timedelta(days=240))
    restarted = Engine(engine.db, content, clock)
    try:
        later = Chat(restarted)
        said = chat.texts(await later.say("done"))
        assert "left unfinished" in said and "Step 2 of" not in said
        assert await statuses(restarted) == ["unfinished"]
    finally:
        restarted.close()


async def test_hours_of_silence_close_a_session_but_a_short_break_does_not(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await start_session_to_first_step(chat, content)
    clock.advance(timedelta(hours=content.program.session.idle_hours - 1))
    await chat.tap("Done")
    assert "Step 2 of" in chat.texts()
    clock.advance(timedelta(hours=content.program.session.idle_hours))
    await chat.tap("Done")
    assert "left unfinished" in chat.texts() and "Step 3 of" not in chat.texts()


async def test_a_reminder_after_an_abandoned_session_still_comes(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00")
    await chat.say("/today")  # 07:00 London: started, then left
    clock.advance(timedelta(days=1, minutes=1))
    before = len(chat.sender.sent)
    await tick(chat.engine, {chat.user.platform: chat.sender}, clock.now(), grace=timedelta(hours=2))
    texts = chat.texts([r for _, r in chat.sender.sent[before:]])
    assert "left unfinished" in texts and "Time for your back exercises" in texts


async def test_a_restart_during_a_hold_sends_each_prompt_once(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    stretch = next(e for e in content.program.exercises if e.dosage.sides == "both")
    await start_session_to_first_step(chat, content)
    await chat.tap("Skip")
    for _ in range(content.program.exercises.index(stretch) - 1):
        await chat.tap("Skip")
    await chat.tap("Start")
    for _ in stretch.steps:
        await chat.tap("Done")
    assert chat.texts().count("I'll message you in") == 1
    engine.close()
    restarted = Engine(engine.db, content, clock)
    try:
        later = Chat(restarted)
        sent = await later.advance(timedelta(seconds=45))
        texts = chat.texts(sent)
        assert texts.count("Time's up") == 1 and texts.count("switch sides") == 1
        assert "I'll message you in" not in texts, "the second side waits for Ready"
        await later.tap("Ready", sent)
        assert later.texts().count("on this side too") == 1
        assert await later.advance(timedelta(seconds=1)) == []
    finally:
        restarted.close()


async def test_wall_slides_say_hold_this_position_once(chat: Chat, content: Content) -> None:
    """The sheet's last step is the hold itself: it is said once, as that step, and Done ends the exercise."""
    slides = content.program.exercise("wall_slides")
    await start_session_to_first_step(chat, content)  # wall slides are the first exercise
    said: list[str] = [chat.texts()]
    for _ in slides.steps:
        said.append(chat.texts(await chat.tap("Done")))
    whole = "\n".join(said)
    assert whole.count("Hold this position") == 1, whole
    assert f"Step {len(slides.steps)} of {len(slides.steps)}" in said[-2] and "Hold this position" in said[-2]
    assert f"Done: {slides.name}" in said[-1] and "I'll message you in" not in whole


async def test_the_hip_rotator_stretch_offers_the_rolled_towel_variant(chat: Chat, content: Content) -> None:
    hip = content.program.exercise("hip_rotator_stretch")
    await start_session_to_first_step(chat, content)
    await chat.tap("Skip")
    for _ in range(content.program.exercises.index(hip) - 1):
        await chat.tap("Skip")
    await chat.tap("Start")
    for _ in range((hip.variant_step or 1) - 1):
        assert "rolled towel" not in chat.texts()
        await chat.tap("Done")
    assert "rolled towel behind your knee" in chat.texts() and "From the sheet" in chat.texts()


async def session_with_pelvic_tilt(chat: Chat, content: Content, *, before: int, after: int, felt: str) -> str:
    """Only the pelvic tilt, done at today's dose; returns what the end of the session said."""
    await to_pain_question(chat, content)
    await chat.tap(str(before))
    if "Before any exercise" in chat.texts():
        await chat.tap("No")
    await chat.tap("Skip")  # wall slides
    await chat.tap("Start")
    tilt = content.program.exercise("pelvic_tilt")
    for _ in tilt.steps:
        await chat.tap("Done")
    while "Repetition" in chat.texts():
        await chat.tap("Done")
    while "Exercise" in chat.texts() and "Skip" in chat.labels():
        await chat.tap("Skip")
    await chat.tap(str(after))
    await chat.tap(felt)
    await chat.tap("That's all")
    await chat.tap("Not now")
    return chat.texts()


async def test_progression_only_when_it_felt_fine_and_pain_did_not_rise(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    tilt = content.program.exercise("pelvic_tilt").dosage
    assert tilt.repetitions_first is not None and tilt.repetitions_start is not None
    await chat.onboard()
    said = await session_with_pelvic_tilt(chat, content, before=3, after=5, felt="Fine")
    assert "Your pain went up (3 → 5)" in said
    assert "pelvic_tilt" not in (await user_row(engine)).profile["progress"]
    clock.advance(timedelta(days=1))
    said = await session_with_pelvic_tilt(chat, content, before=3, after=3, felt="Too much")
    assert "too much" in said and "pelvic_tilt" not in (await user_row(engine)).profile["progress"]
    clock.advance(timedelta(days=1))
    said = await session_with_pelvic_tilt(chat, content, before=3, after=2, felt="Fine")
    reps = tilt.repetitions_first + tilt.repetitions_step
    assert "felt fine and your pain did not go up (3 → 2)" in said
    assert "the size of each step is BackCoach's choice" in said  # the step is ours, not the sheet's: said so
    assert f"Pelvic tilt: {reps} repetitions next time (the sheet: up to {tilt.repetitions_goal})" in said
    assert (await user_row(engine)).profile["progress"]["pelvic_tilt"]["repetitions"] == reps


async def test_progression_never_leaves_the_sheets_range(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    tilt = content.program.exercise("pelvic_tilt").dosage
    assert tilt.repetitions_goal and tilt.repetitions_first
    await chat.onboard()
    for _ in range(tilt.repetitions_goal - tilt.repetitions_first + 1):
        said = await session_with_pelvic_tilt(chat, content, before=2, after=2, felt="Fine")
        clock.advance(timedelta(days=1))
    assert f"{tilt.repetitions_goal} repetitions, the most the sheet suggests" in said
    assert (await user_row(engine)).profile["progress"]["pelvic_tilt"]["repetitions"] == tilt.repetitions_goal


async def test_very_high_pain_asks_the_sheets_spasm_question_before_any_exercise(
    chat: Chat, engine: Engine, content: Content
) -> None:
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.tap(str(content.program.session.high_pain))
    said = chat.texts()
    assert "which is high" in said and "Exercise 1" not in said
    assert "spasm or flare-up now, or have you had one in the last 1 to 3 days" in said
    replies = await chat.tap("Yes")
    assert replies[0].text.startswith(content.safety.rule("spasm_flare").advice[:60])
    assert "Exercise 1" not in chat.texts()


async def test_pain_ten_gets_a_comment_and_the_nhs_advice(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.tap("10")
    assert "worst pain on the scale" in chat.texts() and "Exercise 1" not in chat.texts()
    replies = await chat.tap("No")
    assert replies[0].text.startswith(content.safety.rule("routine").advice[:60])
    assert content.safety.rule("exercise_pain").advice in chat.texts()
    assert "Exercise 1 of" in chat.texts()

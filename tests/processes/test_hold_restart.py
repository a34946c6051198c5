"""Issue 12, "after a restart the hold prompt is sent twice": a real `backcoach run` (Telegram long polling
against the fake), a person walked into a stretch's timed hold, the process killed with -9 (or stopped with
SIGTERM) while the hold runs, a new process started. What the fake recorded is counted: the hold prompt
reached the person once, "Time's up" once (from the new process), and the second side waited for "Ready"
(its hold is then ended with Done: the second side's timer is proven by the in-process session tests).
Every wait is on a condition (what the fake has recorded), never on elapsed time.

The hold's 20 seconds are not waited out: once the new process runs, the test makes the timer the dead
process left in the outbox due now (after checking it was written for the sheet's 20 seconds), as if the
restart had taken that long. What fires it is still the new process's own tick, from the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select, update

from adapters.testing.fake_telegram import TOKEN, Call, FakeTelegram, Fault, callback_update, text_update
from bot.bench.crash import BotProcess, TelegramWave, wait_for, wave_env
from bot.bench.serve import free_port
from bot.storage.db import sqlite_begin_immediate, sqlite_no_implicit_begin
from bot.storage.models import OutboxMessage
from content.loader import Content

CHAT = 5151
PATIENCE = 90  # bounds a hang on a busy machine; not a speed assertion
SHOWN = {"sendMessage", "editMessageText"}
DB = "hold.sqlite3"


class Phone:
    """The person's side: push an update, wait until the bot has said what is expected."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    def shown(self, since: int = 0) -> list[Call]:
        """Messages that reached the person (sent, or edited to new words), from call `since` on."""
        return [
            c
            for c in self.fake.calls[since:]
            if c.method in SHOWN and c.answered and not c.lost and str(c.params.get("chat_id")) == str(CHAT)
        ]

    async def send(self, update: dict[str, object], expect: str) -> None:
        """Push the update; wait until a new message shows `expect` (in its words or as a button)."""
        mark = len(self.fake.calls)
        self.fake.push(update)

        def arrived() -> bool:
            for c in self.shown(mark):
                if expect in str(c.params.get("text", "")) or any(t.startswith(expect) for t, _ in c.buttons()):
                    return True
            return False

        await wait_for(arrived, PATIENCE, f"no {expect!r}: {[c.params.get('text') for c in self.shown(mark)]}")

    async def say(self, text: str, expect: str) -> None:
        await self.send(text_update(CHAT, text), expect)

    def button(self, label: str) -> tuple[str, int]:
        """(callback data, message id) of the newest button the person sees with this label."""
        for call in reversed(self.shown()):
            for text, data in call.buttons():
                if text.lower().startswith(label.lower()):
                    return data, int(call.params.get("message_id") or call.message_id or 0)
        raise AssertionError(f"no button {label!r}")

    async def tap(self, label: str, expect: str) -> None:
        data, message_id = self.button(label)
        await self.send(callback_update(CHAT, data, message_id), expect)

    def count(self, words: str) -> int:
        """How many times the person was shown a message with these words (an edit that only takes a
        message's buttons away shows nothing new, so it is not counted)."""
        seen: dict[int, str] = {}
        n = 0
        for c in self.shown():
            text = str(c.params.get("text", ""))
            mid = int(c.params.get("message_id") or c.message_id or 0)
            if words in text and seen.get(mid) != text:
                n += 1
            seen[mid] = text
        return n


def start(fake: FakeTelegram, tmp_path: Path) -> BotProcess:
    port = free_port()
    env = wave_env(port, f"sqlite+aiosqlite:///{tmp_path / DB}", TelegramWave(fake, TOKEN).env(port))
    env = {k: v for k, v in env.items() if k not in ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET")}
    return BotProcess(env, tmp_path, command="run")


def the_hold_runs_out(tmp_path: Path, seconds: int) -> None:
    """The hold's time passes at once: the one hold timer in the outbox, written for `seconds` after the
    hold began, becomes due now (unless a tick has fired it already). Nothing else is touched."""
    db = create_engine(f"sqlite:///{tmp_path / DB}", connect_args={"timeout": 30})  # waits out the process's lock
    event.listen(db, "connect", sqlite_no_implicit_begin)  # the write lock from the start, as the process takes it
    event.listen(db, "begin", sqlite_begin_immediate)
    try:
        with db.begin() as conn:
            timers = conn.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith("timer:"))).all()
            assert len(timers) == 1, timers
            assert timers[0].not_before - timers[0].created_at == timedelta(seconds=seconds)
            conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == timers[0].id, OutboxMessage.sent_at.is_(None))
                .values(not_before=datetime.now(UTC))
            )
    finally:
        db.dispose()


async def into_a_hold(phone: Phone, content: Content, *, in_flight: bool) -> str:
    """Sign up, start a session, skip to the hamstring stretch and walk its steps; returns the hold's words.
    `in_flight`: the last Done's reply (the hold prompt) is left hanging at the platform."""
    screening = [q.text for q in content.safety.onboarding_screening]
    precheck = [q.text for q in content.safety.session_precheck]
    await phone.say("/start", content.msg("button.agree"))
    await phone.tap(content.msg("button.agree"), screening[0])
    for following in [*screening[1:], "All of them"]:
        await phone.tap("No", following)
    await phone.tap("All of them", "07:00")
    await phone.tap("07:00", "London")
    await phone.tap("London", "all set")
    await phone.say("/today", precheck[0])
    for following in [*precheck[1:], "10"]:
        await phone.tap("No", following)
    await phone.tap("3", "Exercise 1 of")
    stretch = content.program.exercise("hamstring_stretch")
    for n in range(content.program.exercises.index(stretch)):
        await phone.tap("Skip", f"Exercise {n + 2} of")
    await phone.tap("Start", "Step 1 of")
    for k in range(len(stretch.steps) - 1):
        await phone.tap("Done", f"Step {k + 2} of")
    if not in_flight:
        await phone.tap("Done", "I'll message you in 20 seconds")
        return stretch.dosage.hold_text
    for method in SHOWN:  # the platform takes the hold prompt (an edit of the living message) and never answers
        phone.fake.fail(method, Fault.slow(3600))
    mark = len(phone.fake.calls)
    data, message_id = phone.button("Done")
    phone.fake.push(callback_update(CHAT, data, message_id))
    await wait_for(
        lambda: any("I'll message you in" in str(c.params.get("text", "")) for c in phone.fake.calls[mark:]),
        PATIENCE,
        "the hold prompt never left",
    )
    return stretch.dosage.hold_text


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM", "kill -9 with the prompt in flight"])
async def test_a_restart_during_a_hold_shows_the_hold_prompt_once(
    fake_tg: FakeTelegram, tmp_path: Path, content: Content, how: str
) -> None:
    phone = Phone(fake_tg)
    stretch = content.program.exercise("hamstring_stretch")
    first = start(fake_tg, tmp_path)
    await first.start()
    try:
        await wait_for(lambda: any(c.method == "setMyCommands" for c in fake_tg.calls), PATIENCE, "run never started")
        hold = await into_a_hold(phone, content, in_flight="in flight" in how)
    finally:
        if how.startswith("kill -9"):
            await first.kill()
        else:
            await first.stop()
        fake_tg.faults.clear()  # the new process finds a platform that answers
    assert phone.count(hold) == (0 if "in flight" in how else 1)
    second = start(fake_tg, tmp_path)
    await second.start()
    try:
        if "in flight" in how:  # the new process sends the prompt the dead one left (after its lease), once
            await wait_for(lambda: phone.count(hold) >= 1, PATIENCE, "the hold prompt was lost")
        assert stretch.dosage.hold_seconds is not None
        the_hold_runs_out(tmp_path, stretch.dosage.hold_seconds.low)
        await wait_for(lambda: phone.count("Time's up") >= 1, PATIENCE, "the hold's timer never came")
        # the second side waits for Ready: its hold is not started by the restart or by the first timer
        assert phone.count("on this side too") == 0, [str(c.params.get("text", "")) for c in phone.shown()]
        await phone.tap("Ready", "on this side too")
        # The second side's own timer is the in-process tests' business (test_coach_sessions.py,
        # test_session_flow.py); here Done ends it, so the new process's second hold is shown but not awaited.
        await phone.tap("Done", content.msg("exercise.well_done", name=stretch.name))
    finally:
        await second.kill()
    log = [str(c.params.get("text", "")) for c in phone.shown()]
    assert phone.count(hold) == 1, log  # the first side's prompt: once, not again after the restart
    assert phone.count("on this side too") == 1, log
    assert phone.count("Time's up") == 1, log  # the first side's, once; the second side ended with Done
    assert phone.count("I'll message you in 20 seconds") == 2, log
    assert phone.count(content.msg("exercise.well_done", name=stretch.name)) == 1, log

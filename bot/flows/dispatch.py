"""The one entry point of the functional core: (state, event, now, content) -> (state, replies, effects).

Order matters and is the safety contract: stale buttons are refused first, then commands and "stop",
then free-text symptom triage (so a red flag typed anywhere is answered before anything else), and only
then the current flow gets the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.effects import EraseUser
from bot.flows import (
    activity,
    commands,
    freetext,
    living,
    onboarding,
    registry,
    reminder,
    rest,
    session,
    settings,
    summary,
    symptoms,
)
from bot.flows.common import GLOBAL_PREFIX, Outcome, answer_of, idle_prompt, normalise, reset
from bot.flows.registry import AT_REST, Need
from bot.record import note_hold
from bot.state import FlowName, UserView
from bot.types import Button, ButtonStyle, Inbound, InboundKind, Reply, ReplyKind
from content.loader import Content

log = logging.getLogger(__name__)

STOP_WORDS = {"stop", "stop it", "quit", "exit", "cancel", "end", "end session", "stop session"}
COMMANDS = {
    "/start",
    "/today",
    "/symptoms",
    "/pause",
    "/resume",
    "/settings",
    "/history",
    "/help",
    "/stop",
    "/delete",
    "/activity",
    "/cancel",
    "/export",
}
# Side questions a brand-new person may be asked before consenting (a symptom in their very first message);
# anyone else who has not consented is in onboarding, or is sent there.
SIDE_QUESTIONS = frozenset({freetext.FLOW, symptoms.FLOW})
BEFORE_CONSENT = SIDE_QUESTIONS | {onboarding.FLOW}
# Where "stop" also turns the reminders off (nothing else to stop).
STOP_MEANS_REMINDERS = frozenset({FlowName.IDLE, reminder.FLOW})
# Colour hints for the buttons that have an obvious one (the labels say the same without colour).
STYLES = {"done": ButtonStyle.GOOD, "start": ButtonStyle.GOOD, "hurts": ButtonStyle.BAD}
# Events that read every record (bot/progress.Records): the engine loads them only for these.
RECORD_COMMANDS = ("/history", "/export")


def handle(view: UserView, event: Inbound, now: datetime, content: Content) -> Outcome:
    """Pure: never mutates `view`; returns the new view, replies (buttons stamped) and effects."""
    return handle_owned(copy_view(view), event, now, content)


def copy_view(view: UserView) -> UserView:
    """A deep, independent copy: dump and re-validate (pydantic-core builds new containers all the way
    down), about three times faster than `model_copy(deep=True)`, which was the core's largest cost."""
    return UserView.model_validate(view.model_dump())


def handle_owned(view: UserView, event: Inbound, now: datetime, content: Content) -> Outcome:
    """`handle` without the defensive copy, for a caller that hands over a view it will not read again
    (the reminder claim builds thousands of views a second; the deep copy was its largest cost)."""
    out = Outcome(view=view)  # the whole message is read, however long (bot/triage.py); nothing is stored
    before = living.Before.of(view.conversation)
    settings_before = _settings_of(view)
    session.close_expired(out, now, content)  # a session left unfinished never resumes days later
    held = view.schedule.hold_reason
    _route(out, event, now, content)
    note_hold(out.view.profile, held, out.view.schedule.hold_reason, now)  # the record's holds and clearances
    if event.kind is not InboundKind.SYSTEM:
        session.touch(out.view, now)
    if (
        event.kind is not InboundKind.SYSTEM
        and out.view.profile.onboarded
        and not any(isinstance(e, EraseUser) for e in out.effects)
    ):
        summary.plan(out, now)  # the first weekly summary, once onboarding is done (a no-op when planned)
    if event.kind is InboundKind.BUTTON and out.view.profile.onboarded and _settings_of(out.view) != settings_before:
        out.toast(content.msg("toast.saved"))
    _stamp(out)
    living.shape(before, event, out)
    out.view.conversation.flush()  # the typed context back into the stored shape (bot/state.FlowCtx)
    return out


def _settings_of(view: UserView) -> tuple[object, ...]:
    """What /settings can change: a tap that changes any of it gets a "Saved" toast."""
    s, p = view.schedule, view.profile
    return (
        s.timezone,
        s.reminder_time,
        s.weekdays,
        s.reminders_on,
        tuple(p.exercises),
        p.quiet_start,
        p.quiet_end,
        p.summary_day,
        p.summary_on,
    )


def needs(view: UserView, event: Inbound) -> Need:
    """What this event reads of the person's records, so the engine loads it before the flow runs: every
    record for /history, /export and the weekly summary; the figures for a reminder (how many went unanswered)
    and for any event in a flow that declares it reads them; nothing otherwise."""
    if wants_records(event):
        return Need.RECORDS
    if event.kind is InboundKind.SYSTEM and event.action in {"reminder", "reminder.snooze"}:
        return reminder.REMINDER_FLOW.needs
    if event.kind is InboundKind.SYSTEM and event.action != "timer":
        return Need.NOTHING
    flow = registry.current(view)
    return flow.needs if flow is not None else Need.NOTHING


def wants_records(event: Inbound) -> bool:
    """Whether this event needs the person's full records loaded (/history, /export, the weekly summary)."""
    if event.kind is InboundKind.SYSTEM:
        return event.action == summary.ACTION
    text = event.text.strip().lower()
    return text.startswith(RECORD_COMMANDS) and event.kind in {InboundKind.COMMAND, InboundKind.TEXT}


def records_range(event: Inbound) -> tuple[bool, date | None]:
    """Which of the person's records a full load reads: (any at all, from which local date). `/history` shows
    recent lists only, which `load_history` reads by date range itself: no records. The weekly summary shows
    its week against the week before: a fortnight. `/export` reads them all."""
    text = event.text.strip().lower()
    if event.kind in {InboundKind.COMMAND, InboundKind.TEXT} and text.startswith("/history"):
        return False, None
    if event.kind is InboundKind.SYSTEM and event.action == summary.ACTION:
        try:
            return True, date.fromisoformat(event.text) - timedelta(days=13)
        except ValueError:
            return True, None
    return True, None


def _route(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    if event.kind is InboundKind.SYSTEM:
        return _system(out, event, now, content)
    if event.kind is InboundKind.FORM:
        if not view.profile.onboarded:
            out.say(content.msg("start.setup_first"))
            return (
                onboarding.start(out, content, event.timezone_hint)
                if view.conversation.flow != onboarding.FLOW
                else out
            )
        return settings.apply_form(out, event.form, content)
    if event.kind is InboundKind.BUTTON:
        token, _, action = event.action.partition(":")
        if token == "g" or (token.startswith("g") and token[1:].isdigit()):  # "g12:" says which message
            return _global(out, action, now, content)
        if not action or token != str(view.conversation.seq):
            out.toast(content.msg("error.stale_button"))
            return reprompt(out, content)
        event = replace(event, action=action)
        if action.startswith(GLOBAL_PREFIX):
            return _global(out, action, now, content)
    text = event.text.strip()
    if event.kind is InboundKind.COMMAND or text.startswith("/"):
        return _command(out, text, event, now, content)
    if event.kind is InboundKind.TEXT and not text and not event.timezone_hint:
        out.say(content.msg("error.empty"))
        return reprompt(out, content)
    if event.kind is InboundKind.TEXT and normalise(text) in STOP_WORDS:
        return commands.stop(out, now, content, reminders_off=view.conversation.flow in STOP_MEANS_REMINDERS)
    if event.kind is InboundKind.TEXT and text:
        typed = answer_of(event, view, content)
        if typed.startswith(GLOBAL_PREFIX):
            return _global(out, typed, now, content)
        handled = freetext.handle(out, event, text, now, content)
        if handled is not None:
            return handled
    return _flow(out, event, now, content)


def _flow(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    flow = registry.current(view)
    if not view.profile.consented and (flow is None or flow.name not in BEFORE_CONSENT):
        return onboarding.start(out, content, event.timezone_hint)  # whatever was said: onboarding
    if flow is None:
        log.warning("unknown flow %r: recovered to the idle state", view.conversation.flow[:40])
        reset(view)
        out.say(content.msg("error.lost_place"))
        return idle_prompt(out, content)
    return flow.handle(out, event, now, content)


Command = Callable[[Outcome, str, Inbound, datetime, Content], Outcome]
Global = Callable[[Outcome, datetime, Content], Outcome]


def _start(out: Outcome, text: str, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    if view.profile.onboarded:
        out.say(content.msg("start.welcome_back"))
        return reprompt(out, content) if view.conversation.flow not in AT_REST else out
    return onboarding.start(out, content, event.timezone_hint)


def _today(out: Outcome, now: datetime, content: Content) -> Outcome:
    if registry.in_session(out.view):  # the activity question after a session included: it ends the session
        out.say(content.msg("session.already"))
        return registry.reprompt(out, content)
    return session.start(out, now, content)


def _not_yet(out: Outcome, now: datetime, content: Content) -> Outcome:
    crisis = out.view.schedule.hold_reason == "crisis"
    return out.say(content.msg("hold.not_yet_crisis" if crisis else "hold.not_yet"))


# The listener tables (slack-bolt's way: matching is data, one loop below). Commands that work before set-up:
ANY_TIME: dict[str, Command] = {
    "/help": lambda out, text, event, now, content: commands.help_text(out, content),
    "/delete": lambda out, text, event, now, content: commands.ask_delete(out, content),
    "/symptoms": lambda out, text, event, now, content: symptoms.symptom_menu(out, content),
    "/stop": lambda out, text, event, now, content: commands.stop(out, now, content, reminders_off=True),
    "/cancel": lambda out, text, event, now, content: commands.stop(out, now, content, reminders_off=False),
    "/start": _start,
}
# ...commands for a person who is set up (the others in COMMANDS are the global actions of the same name):
ONBOARDED: dict[str, Command] = {
    "/history": lambda out, text, event, now, content: commands.history(out, now, content),
    "/export": lambda out, text, event, now, content: commands.export(out, now, content, text),
}
# ...and the actions valid from any message, whatever question is current (all but the symptom report need
# set-up first).
GLOBALS: dict[str, Global] = {
    "today": _today,
    "activity": lambda out, now, content: activity.start(out, content),
    "settings": lambda out, now, content: settings.show(out, content),
    "pause": lambda out, now, content: commands.ask_pause(out, content),
    "resume": commands.resume,
    "rest": commands.keep_resting,
    "cleared": commands.cleared,
    "not_yet": _not_yet,
    "symptoms": lambda out, now, content: symptoms.symptom_menu(out, content),
}
NEED_SET_UP = frozenset(GLOBALS) - {"symptoms"}


def _command(out: Outcome, text: str, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    name = text.split()[0].lower() if text else ""
    if name not in COMMANDS:
        out.say(content.msg("error.unknown_command", command=name[:32]))
        return commands.help_text(out, content)
    if name in ANY_TIME:
        return ANY_TIME[name](out, text, event, now, content)
    if not view.profile.onboarded:
        out.say(content.msg("start.setup_first"))
        return (
            onboarding.start(out, content, event.timezone_hint)
            if view.conversation.flow != onboarding.FLOW
            else onboarding.reprompt(out, content)
        )
    if name in ONBOARDED:
        return ONBOARDED[name](out, text, event, now, content)
    return _global(out, GLOBAL_PREFIX + name[1:], now, content)


def _global(out: Outcome, action: str, now: datetime, content: Content) -> Outcome:
    """Actions valid from any message: start, pause, resume, settings, symptom report, check-in answers, and
    the reminder's and the activity log's own buttons (which carry their date or entry)."""
    view = out.view
    name = action.removeprefix(GLOBAL_PREFIX)
    if name in NEED_SET_UP and not view.profile.onboarded:
        return onboarding.start(out, content) if view.conversation.flow != onboarding.FLOW else reprompt(out, content)
    if name in GLOBALS:
        return GLOBALS[name](out, now, content)
    if reminder.is_action(name):
        return (
            _change_time(out, content) if reminder.changes_time(name) else reminder.on_action(out, name, now, content)
        )
    if activity.is_correction(name):
        return activity.correct(out, name, content)
    out.say(content.msg("error.stale_button"))
    return reprompt(out, content)


def _change_time(out: Outcome, content: Content) -> Outcome:
    """A reminder's "Change time": the settings' time question, unless a session is under way."""
    if registry.in_session(out.view):
        out.say(content.msg("session.already"))
        return registry.reprompt(out, content)  # the session's question, or the activity question after it
    reset(out.view)
    return settings.ask_time(out, content)


def _system(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    if event.action == "timer":
        return session.on_timer(out, event, now, content) if out.view.conversation.flow == session.FLOW else out
    if event.action == "checkin.rest":
        return rest.checkin(out, now, content)
    if event.action == "checkin.hold":
        return rest.hold_checkin(out, now, content)
    if event.action == summary.ACTION:
        return summary.fire(out, event.text, now, content)
    if event.action in {"reminder", "reminder.snooze"}:
        return reminder.fire(out, event, now, content, snoozed=event.action == "reminder.snooze")
    return out


def reprompt(out: Outcome, content: Content) -> Outcome:
    """Show the current question again, whichever flow it belongs to (before consent: onboarding's)."""
    view = out.view
    flow = registry.current(view)
    if flow is None or flow is registry.IDLE_FLOW:  # (an unknown flow too: what can be done from here)
        return idle_prompt(out, content) if view.profile.consented else onboarding.start(out, content)
    return flow.reprompt(out, content)


# Every flow a person can be in, each declared once in its own module (bot/flows/registry.py).
FLOWS = registry.FLOWS


def _stamp(out: Outcome) -> None:
    """Tie every button to the question it belongs to, so a tap on an older message can be refused (and a
    global button's tap still says which message it came from: bot/flows/living.py)."""
    conv = out.view.conversation
    if any(r.buttons for r in out.replies):
        conv.seq += 1
    stamped: list[Reply] = []
    for reply in out.replies:
        if not reply.buttons:
            stamped.append(reply)
            continue
        stamped.append(replace(reply, buttons=stamp_buttons(reply.buttons, conv.seq)))
    out.replies = stamped


def stamp_buttons(buttons: tuple[Button, ...] | list[Button], seq: int) -> tuple[Button, ...]:
    return tuple(
        Button(
            b.label,
            f"g{seq}:{b.action}" if b.action.startswith(GLOBAL_PREFIX) else f"{seq}:{b.action}",
            b.style or STYLES.get(b.action, ButtonStyle.PLAIN),
        )
        for b in buttons
    )


def quick_reminder(
    profile: dict[str, Any],
    conversation: dict[str, Any],
    day: date,
    today: date,
    ignored: int,
    content: Content,
    memo: dict[tuple[date, bool], Any] | None = None,
) -> tuple[list[Reply], dict[str, Any]] | None:
    """The daily reminder built straight from the stored row, without validating it into a view: the same
    replies (text, stamped buttons, the close of a live question) and the same new conversation as
    `handle_owned` gives for a SYSTEM "reminder" event, in the plain case only: onboarded, idle or at an
    earlier reminder, no session open, none ended today. None otherwise: the caller runs the flow.
    tests/core/test_quick_reminder.py holds the two to identical output."""
    if (
        profile.get("onboarded") is not True
        or conversation.get("flow") not in reminder.REPLACES
        or session.SessionCtx.open_in(conversation.get("ctx") or {})
        or profile.get("session_ended_on") == today.isoformat()
    ):
        return None
    gentle = ignored >= reminder.IGNORED_BEFORE_GENTLE
    made = memo.get((day, gentle)) if memo is not None else None
    if made is None:  # the same for everyone that day: a batch's caller keeps it in `memo`
        text = f"{content.msg('reminder.gentle' if gentle else 'reminder.text')}\n\n{content.msg('reminder.stop_hint')}"
        buttons = reminder.reminder_buttons(day, content)
        choices = {normalise(b.label): b.action for b in buttons}
        stored = reminder.ReminderCtx(date=day).stored("json")  # the context as the flow stores it
        made = (text, buttons, choices, {b.action: b.label for b in buttons}, stored)
        if memo is not None:
            memo[(day, gentle)] = made
    text, buttons, choices, options, stored = made
    seq = int(conversation.get("seq") or 0) + 1
    replies = [Reply(text=text, buttons=stamp_buttons(buttons, seq))]
    asked = str(conversation.get("asked") or "")
    if asked:  # the live question has moved on: closed, after the reminder (bot/flows/living.shape)
        replies.append(Reply(asked, kind=ReplyKind.CLOSE))
    new = {
        **conversation,
        "flow": reminder.FLOW,
        "step": reminder.Steps.OFFERED,
        "ctx": dict(stored),
        "seq": seq,
        "choices": dict(choices),
        "asked": text,
        "options": dict(options),
    }
    return replies, new

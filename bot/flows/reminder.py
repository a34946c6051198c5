"""The daily reminder and what a person can do with it: start, snooze an hour, skip (with an optional reason),
or say their back is worse.

Button design: the reminder's buttons are global actions carrying the reminder's local date
(`g.remind.snooze:2026-03-02`), so they stay valid whatever question was asked after them, until the day is
over — a reminder tapped a day late says so and changes nothing (Start now always works). Typed answers
("later", "not today", "start") work while the reminder is the current conversation (flow "reminder").
The optional skip reason is an ordinary (seq-stamped) question.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import Field

from bot.effects import ReminderAnswered, ScheduleEvent
from bot.flows import registry, session, symptoms
from bot.flows.common import GLOBAL_PREFIX, Outcome, local_today, normalise, reset, zone_of
from bot.flows.registry import Flow, Need, Step, go
from bot.schedule.planning import plan_next_fire
from bot.schedule.timing import snooze_until
from bot.state import FlowCtx, FlowName, UserView
from bot.types import Button, Inbound, Reply
from content.loader import Content

FLOW = FlowName.REMINDER
ACTION = "remind."  # after the global prefix: g.remind.<what>:<local date>
SNOOZE_MINUTES = 60
IGNORED_BEFORE_GENTLE = 3  # this many unanswered reminders in a row -> the gentle variant
PAIN_SKIPS_FOR_ADVICE = 3  # within 14 days, counting this one -> the routine "see your doctor" advice
REASONS = ("pain", "no_time", "other")


def fire(out: Outcome, event: Inbound, now: datetime, content: Content, *, snoozed: bool = False) -> Outcome:
    """The scheduler's reminder (or a snoozed one coming back). Nothing while a session is running:
    the day counts as served either way (the claim sets served_through)."""
    view = out.view
    # A snoozed reminder may come back after midnight (quiet hours): its buttons then act on today.
    day = local_today(view, now) if snoozed else (_day_of(event.text) or local_today(view, now))
    if registry.in_session(view) or not view.profile.onboarded:
        return out
    if view.profile.session_ended_on == local_today(view, now):
        return out  # today's session was ended for radiating pain: no "time for your exercises" today
    if snoozed and (
        not view.schedule.reminders_on
        or view.schedule.hold_reason
        or (view.schedule.paused_until and view.schedule.paused_until > now)
    ):
        return out
    if snoozed:
        text = content.msg("reminder.snoozed_text")
    elif view.history.reminders_ignored >= IGNORED_BEFORE_GENTLE:
        text = content.msg("reminder.gentle")
    else:
        text = content.msg("reminder.text")
    text = f"{text}\n\n{content.msg('reminder.stop_hint')}"
    buttons = reminder_buttons(day, content)
    if view.conversation.flow in REPLACES:
        reset(view)
        go(view, Steps.OFFERED)
        ReminderCtx.of(view).day = day
        return out.ask(text, buttons)
    # Another question is open (settings, a symptom menu...): leave it and its typed answers alone.
    out.replies.append(Reply(text=text, buttons=tuple(buttons)))
    return out


def reminder_buttons(day: date, content: Content) -> list[Button]:
    tag = day.isoformat()
    return [
        Button(content.msg("reminder.start"), f"{GLOBAL_PREFIX}{ACTION}start:{tag}"),
        Button(content.msg("reminder.snooze"), f"{GLOBAL_PREFIX}{ACTION}snooze:{tag}"),
        Button(content.msg("reminder.skip"), f"{GLOBAL_PREFIX}{ACTION}skip:{tag}"),
        Button(content.msg("reminder.worse"), f"{GLOBAL_PREFIX}{ACTION}worse:{tag}"),
        Button(content.msg("reminder.change_time"), f"{GLOBAL_PREFIX}{ACTION}time:{tag}"),
    ]


def is_action(name: str) -> bool:
    """`name` is a global action without its prefix, e.g. "remind.skip:2026-03-02"."""
    return name.startswith(ACTION)


def changes_time(name: str) -> bool:
    """ "Change time" from the reminder itself: bot/flows/dispatch.py asks the settings' time question."""
    return name.removeprefix(ACTION).partition(":")[0] == "time"


def on_action(out: Outcome, name: str, now: datetime, content: Content) -> Outcome:
    """A reminder button (or its typed equivalent); not "Change time" (`changes_time`)."""
    what, _, tag = name.removeprefix(ACTION).partition(":")
    day = _day_of(tag) or local_today(out.view, now)
    if what == "start":
        return _start(out, day, now, content)
    if what == "worse":
        return symptoms.symptom_menu(out, content)
    if day != local_today(out.view, now) and what in {"snooze", "skip"}:
        return out.say(content.msg("reminder.old"))
    if what == "snooze":
        return _snooze(out, day, now, content)
    if what == "skip":
        return _skip(out, day, now, content)
    out.say(content.msg("error.stale_button"))
    return out


class Steps(StrEnum):
    OFFERED = "offered"  # the reminder is the current question: typed "later", "not today", "start" work
    REASON = "reason"  # skipped: why (optional)


class ReminderCtx(FlowCtx):
    """Which day's reminder the question is about (stored as "date")."""

    day: date | None = Field(default=None, alias="date")


REPLACES = frozenset({FlowName.IDLE, FLOW})  # a reminder becomes the current question only over these


def _typed(event: Inbound, content: Content) -> str | None:
    """A typed snooze, skip or start, in the content's own words."""
    text = normalise(event.text)
    for key, what in (("synonyms.snooze", "snooze"), ("synonyms.skip_today", "skip"), ("synonyms.start_now", "start")):
        if text and text in {normalise(s) for s in content.msg(key).split(",")}:
            return what
    return None


def _day(view: UserView, now: datetime) -> date:
    return ReminderCtx.of(view).day or local_today(view, now)


def _on_offered(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    what = _typed(event, content)
    return on_action(out, f"{ACTION}{what}:{_day(out.view, now).isoformat()}", now, content) if what else None


def _on_reason(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    if answer.startswith("reason:"):
        return _reason(out, answer[7:], _day(out.view, now), now, content)
    reset(out.view)
    if _typed(event, content):
        return out.say(content.msg("reminder.reason_thanks"))
    return out.say(content.msg("idle.hint"))  # the reason is optional: anything else just moves on


def _ask_offered(out: Outcome, content: Content) -> Outcome:
    day = ReminderCtx.of(out.view).day
    if day is None:
        reset(out.view)
        return out
    return out.ask(content.msg("reminder.ask"), reminder_buttons(day, content))


def reprompt(out: Outcome, content: Content) -> Outcome:
    return REMINDER_FLOW.reprompt(out, content)


def _start(out: Outcome, day: date, now: datetime, content: Content) -> Outcome:
    if registry.in_session(out.view):
        out.say(content.msg("session.already"))
        return registry.reprompt(out, content)  # the session's question, or the activity question after it
    out.effects.append(ReminderAnswered(local_date=day, response="started", reason=None, at=now))
    if out.view.conversation.flow == FLOW:
        reset(out.view)
    return session.start(out, now, content)


def _snooze(out: Outcome, day: date, now: datetime, content: Content) -> Outcome:
    """Back in an hour of real time, pushed out of quiet hours, dropped if the next reminder is near."""
    view = out.view
    tz = zone_of(view)
    out.effects.append(ReminderAnswered(local_date=day, response="snoozed", reason=None, at=now))
    if view.conversation.flow == FLOW:
        reset(view)
    upcoming = next_regular(view, day, now)
    quiet_start, quiet_end = _quiet(view)
    due = snooze_until(
        now=now,
        minutes=SNOOZE_MINUTES,
        next_regular=upcoming or now + timedelta(days=2),
        tz=tz,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )
    if due is None:
        shown = (upcoming or now).astimezone(tz)
        return out.say(content.msg("reminder.snooze_covered", time=f"{shown:%H:%M}"))
    out.effects.append(
        ScheduleEvent(
            action="reminder.snooze",
            due_at=due,
            dedupe_key=f"reminder.snooze:{view.user_id}:{due.isoformat()}",
            data={"token": day.isoformat()},
        )
    )
    return out.say(content.msg("reminder.snoozed", time=f"{due.astimezone(tz):%H:%M}"))


def next_regular(view: UserView, day: date, now: datetime) -> datetime | None:
    """The next scheduled reminder after the one for `day` (which counts as served)."""
    schedule = view.schedule.model_copy()
    if schedule.served_through is None or schedule.served_through < day:
        schedule.served_through = day
    quiet_start, quiet_end = view.profile.quiet_start, view.profile.quiet_end
    return plan_next_fire(schedule, now, quiet_start=quiet_start, quiet_end=quiet_end)


def _skip(out: Outcome, day: date, now: datetime, content: Content) -> Outcome:
    """Recorded at once (apart from "done"); the reason is an optional second answer."""
    out.effects.append(ReminderAnswered(local_date=day, response="skipped", reason=None, at=now))
    reset(out.view)
    go(out.view, Steps.REASON)
    ReminderCtx.of(out.view).day = day
    return _ask_reason(out, content)


def _ask_reason(out: Outcome, content: Content) -> Outcome:
    return out.ask(
        content.msg("reminder.skipped"), [Button(content.msg(f"reminder.reason_{r}"), f"reason:{r}") for r in REASONS]
    )


def _reason(out: Outcome, reason: str, day: date, now: datetime, content: Content) -> Outcome:
    """A second row (response "reason") keeps the skip counted once; pain skips feed the routine advice."""
    reset(out.view)
    if reason not in REASONS:
        return out.say(content.msg("reminder.reason_thanks"))
    out.effects.append(ReminderAnswered(local_date=day, response="reason", reason=reason, at=now))
    if reason != "pain":
        return out.say(content.msg("reminder.reason_thanks"))
    out.say(content.msg("reminder.reason_pain_thanks"))
    if out.view.history.pain_skips_14d + 1 >= PAIN_SKIPS_FOR_ADVICE:
        symptoms.advise(out, "routine", "reminder", now, content)
    return out


def _quiet(view: UserView) -> tuple[time | None, time | None]:
    start, end = view.profile.quiet_start, view.profile.quiet_end
    if not start or not end:
        return None, None
    return time.fromisoformat(start), time.fromisoformat(end)


def _day_of(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


REMINDER_FLOW = Flow(
    FLOW,
    Steps,
    {Steps.OFFERED: Step(_on_offered, _ask_offered), Steps.REASON: Step(_on_reason, _ask_reason)},
    context=ReminderCtx,
    needs=Need.FIGURES,  # pain skips in the last 14 days (the routine advice)
)

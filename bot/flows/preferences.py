"""Questions shared by onboarding and /settings: exercises, reminder time, time zone, weekdays."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from bot.flows import registry
from bot.flows.common import Outcome, answer_of
from bot.flows.registry import go
from bot.schedule.zones import COMMON_ZONES, parse_local_time, parse_timezone
from bot.state import FlowCtx, UserView
from bot.types import Button, Inbound
from content.loader import Content

TIME_CHOICES = ("07:00", "08:00", "12:00", "18:00", "20:00")
WEEKDAYS_ONLY = 0b0011111
EVERY_DAY = 0b1111111
QUIET_CHOICES = (("22:00", "07:00"), ("21:00", "08:00"), ("23:00", "08:00"))


class PreferencesCtx(FlowCtx):
    """The choices being ticked (exercises, days) and the zone a shared location suggested; kept by whichever
    flow asks (onboarding or /settings). None: nothing ticked yet, the current plan or days to begin with."""

    picked: list[str] | None = None
    days: list[int] | None = None
    zone_hint: str | None = None


# Each `ask_*` takes the step (a Steps member of the flow that asks: onboarding or settings) and moves there;
# an answer that needs asking again stays in the flow that asked (`_again`).


def _again(view: UserView, question: str) -> StrEnum:
    """The current flow's own step for this question."""
    flow = registry.current(view)
    assert flow is not None, "a preference question is always asked by a registered flow"
    return flow.steps(question)


# ---- validation shared by the chat questions and the Slack settings modal ----------------------


def weekday_mask(days: Iterable[int]) -> int | None:
    """Bit 0 = Monday. None unless at least one day, each 0-6: reminders on no day at all is /stop's job."""
    chosen = set(days)
    if not chosen or not chosen <= set(range(7)):
        return None
    return sum(1 << d for d in chosen)


def days_of(mask: int) -> list[int]:
    return [d for d in range(7) if mask & (1 << d)]


def quiet_hours(start: str | None, end: str | None) -> tuple[str, str] | None:
    """Two local times ("22:00", "7am"), normalised to HH:MM; None if either is unreadable or they are equal."""
    first = parse_local_time(start or "")
    last = parse_local_time(end or "")
    if first is None or last is None or first == last:
        return None
    return first.strftime("%H:%M"), last.strftime("%H:%M")


def parse_quiet_hours(text: str) -> tuple[str, str] | None:
    """Typed quiet hours: "22:00-07:00", "10pm to 7am", "22:00 – 07:00"."""
    parts = re.split(r"\s*(?:-|–|—|\bto\b|\buntil\b)\s*", text.strip().lower(), maxsplit=1)
    return quiet_hours(parts[0], parts[1]) if len(parts) == 2 else None


def set_quiet_hours(view: UserView, hours: tuple[str, str] | None) -> None:
    """Save (or clear) quiet hours; the next reminder is then planned again around them."""
    view.profile.quiet_start, view.profile.quiet_end = hours if hours else (None, None)
    view.schedule.next_fire_at = None  # the shell replans a reminder with no next instant


def describe_quiet(view: UserView, content: Content) -> str:
    profile = view.profile
    if not profile.quiet_start or not profile.quiet_end:
        return content.msg("quiet.none")
    return content.msg("quiet.is", start=profile.quiet_start, end=profile.quiet_end)


def describe_days(mask: int, content: Content) -> str:
    if mask == EVERY_DAY:
        return content.msg("days.every")
    if mask == WEEKDAYS_ONLY:
        return content.msg("days.weekdays")
    names = content.msg("days.short_names").split(",")
    return content.msg("days.some", days=", ".join(names[d].strip() for d in days_of(mask)))


def ask_plan(out: Outcome, step: StrEnum, content: Content) -> Outcome:
    go(out.view, step)
    out.say(content.program.choice_note)
    return out.ask(
        content.msg("plan.ask"),
        [Button(content.msg("plan.all"), "plan:all"), Button(content.msg("plan.pick"), "plan:pick")],
    )


def ask_pick(out: Outcome, step: StrEnum, content: Content) -> Outcome:
    view = out.view
    go(view, step)
    ctx = PreferencesCtx.of(view)
    if ctx.picked is None:
        ctx.picked = list(view.profile.exercises)
    chosen = ctx.picked
    buttons = [Button(("✓ " if ex.id in chosen else "") + ex.name, f"pick:{ex.id}") for ex in content.program.exercises]
    buttons.append(Button(content.msg("button.done_choosing"), "pick:done"))
    return out.ask(content.msg("plan.pick_ask"), buttons)


def on_plan(out: Outcome, event: Inbound, content: Content) -> bool:
    """The plan step's answer (all exercises, or pick them). True when the plan is settled, False to re-ask.
    Each step has its own handler in the owning flow's table, so none of them looks at the step."""
    view = out.view
    answer = answer_of(event, view, content)
    if answer == "plan:all":
        view.profile.exercises = [e.id for e in content.program.exercises]
        return True
    if answer == "plan:pick":
        PreferencesCtx.of(view).picked = list(view.profile.exercises)  # the current plan, ticked
        ask_pick(out, _again(view, "pick"), content)
        return False
    out.say(content.msg("error.choose_button"))
    ask_plan(out, _again(view, "plan"), content)
    return False


def on_pick(out: Outcome, event: Inbound, content: Content) -> bool:
    """The pick step's answer: tick or untick an exercise, or Done. True when the plan is settled."""
    view = out.view
    answer = answer_of(event, view, content)
    ctx = PreferencesCtx.of(view)
    if ctx.picked is None:
        ctx.picked = []
    chosen = ctx.picked
    if answer == "pick:done":
        if not chosen:
            out.say(content.msg("plan.pick_none"))
            ask_pick(out, _again(view, "pick"), content)
            return False
        view.profile.exercises = [e.id for e in content.program.exercises if e.id in chosen]
        return True
    if answer.startswith("pick:"):
        ex = answer[5:]
        if any(e.id == ex for e in content.program.exercises):
            if ex in chosen:
                chosen.remove(ex)
            else:
                chosen.append(ex)
    else:
        out.say(content.msg("error.choose_button"))
    ask_pick(out, _again(view, "pick"), content)
    return False


def ask_time(out: Outcome, step: StrEnum, content: Content, *, allow_none: bool = True) -> Outcome:
    go(out.view, step)
    buttons = [Button(t, f"time:{t}") for t in TIME_CHOICES]
    if allow_none:
        buttons.append(Button(content.msg("button.no_reminders"), "time:none"))
    return out.ask(content.msg("time.ask"), buttons)


def on_time(out: Outcome, event: Inbound, content: Content) -> bool:
    """Set the reminder time from a button or typed text ("7:30am", "19:00"). True when settled."""
    view = out.view
    answer = answer_of(event, view, content)
    if answer == "time:none":
        view.schedule.reminders_on = False
        view.schedule.reminder_time = None
        out.say(content.msg("time.none"))
        return True
    chosen = answer[5:] if answer.startswith("time:") else None
    parsed = parse_local_time(chosen or event.text)
    if parsed is None:
        out.say(content.msg("error.time"))
        ask_time(out, _again(view, "time"), content)
        return False
    view.schedule.reminder_time = parsed.strftime("%H:%M")
    view.schedule.reminders_on = True
    return True


def ask_zone(out: Outcome, step: StrEnum, content: Content, hint: str | None = None) -> Outcome:
    go(out.view, step)
    if hint:
        PreferencesCtx.of(out.view).zone_hint = hint
        return out.ask(
            content.msg("zone.confirm_hint", zone=hint),
            [Button(content.msg("button.yes"), f"tz:{hint}"), Button(content.msg("zone.other"), "tz:other")],
        )
    buttons = [Button(label, f"tz:{key}") for label, key in COMMON_ZONES]
    return out.ask(content.msg("zone.ask"), buttons, ask_location=True)


def on_zone(out: Outcome, event: Inbound, content: Content) -> bool:
    """Set the time zone from a button, a shared location (hint) or typed city/zone/offset."""
    view = out.view
    answer = answer_of(event, view, content)
    if answer == "tz:other":
        PreferencesCtx.of(view).zone_hint = None
        ask_zone(out, _again(view, "zone"), content)
        return False
    zone = None
    if answer.startswith("tz:"):
        zone = parse_timezone(answer[3:])
    elif event.timezone_hint:
        zone = parse_timezone(event.timezone_hint)
    elif event.text:
        zone = parse_timezone(event.text)
    if zone is None:
        out.say(content.msg("error.zone"))
        ask_zone(out, _again(view, "zone"), content)
        return False
    view.schedule.timezone = zone
    return True


def ask_days(out: Outcome, step: StrEnum, content: Content) -> Outcome:
    go(out.view, step)
    return out.ask(
        content.msg("days.ask"),
        [
            Button(content.msg("days.every"), "days:all"),
            Button(content.msg("days.weekdays"), "days:weekdays"),
            Button(content.msg("days.pick"), "days:pick"),
        ],
    )


def _ticked_days(view: UserView) -> list[int]:
    ctx = PreferencesCtx.of(view)
    if ctx.days is None:
        ctx.days = days_of(view.schedule.weekdays)
    return ctx.days


def ask_day_pick(out: Outcome, step: StrEnum, content: Content) -> Outcome:
    """Tick individual days (the current ones ticked to begin with), then Done."""
    view = out.view
    go(view, step)
    chosen = _ticked_days(view)
    names = content.msg("summary_week.day_names").split(",")
    buttons = [Button(("✓ " if d in chosen else "") + names[d].strip(), f"day:{d}") for d in range(7)]
    buttons.append(Button(content.msg("button.done_choosing"), "day:done"))
    return out.ask(content.msg("days.pick_ask"), buttons)


def on_day_pick(out: Outcome, event: Inbound, content: Content) -> bool:
    """The days_pick step's answer: tick or untick a day, or Done. True when the days are settled."""
    view = out.view
    answer = answer_of(event, view, content)
    chosen = _ticked_days(view)
    if answer == "day:done":
        mask = weekday_mask(chosen)
        if mask is None:
            out.say(content.msg("days.pick_none"))
        else:
            view.schedule.weekdays = mask
            PreferencesCtx.of(view).days = None
            return True
    elif answer.startswith("day:") and answer[4:].isdigit() and int(answer[4:]) in range(7):
        day = int(answer[4:])
        if day in chosen:
            chosen.remove(day)
        else:
            chosen.append(day)
        chosen.sort()
    else:
        out.say(content.msg("error.choose_button"))
    ask_day_pick(out, _again(view, "days_pick"), content)
    return False


def on_days(out: Outcome, event: Inbound, content: Content) -> bool:
    """The days step's answer: every day, weekdays, or pick them. True when the days are settled."""
    view = out.view
    answer = answer_of(event, view, content)
    if answer == "days:all":
        view.schedule.weekdays = EVERY_DAY
        return True
    if answer == "days:weekdays":
        view.schedule.weekdays = WEEKDAYS_ONLY
        return True
    if answer == "days:pick":
        PreferencesCtx.of(view).days = days_of(view.schedule.weekdays)
        ask_day_pick(out, _again(view, "days_pick"), content)
        return False
    out.say(content.msg("error.choose_button"))
    ask_days(out, _again(view, "days"), content)
    return False


def clock_time(text: str) -> str | None:
    """A typed or picked local time as "HH:MM"; None when it is not one."""
    parsed = parse_local_time(text) if text.strip() else None
    return f"{parsed:%H:%M}" if parsed else None


def ask_quiet(out: Outcome, step: StrEnum, content: Content) -> Outcome:
    go(out.view, step)
    buttons = [Button(f"{a}–{b}", f"quiet:{a}-{b}") for a, b in QUIET_CHOICES]
    buttons.append(Button(content.msg("quiet.off_button"), "quiet:off"))
    return out.ask(content.msg("quiet.ask", now=describe_quiet(out.view, content)), buttons)


def on_quiet(out: Outcome, event: Inbound, content: Content) -> bool:
    """Quiet hours from a button or typed ("22:00-07:00", "10pm to 7am"). True when settled."""
    view = out.view
    answer = answer_of(event, view, content)
    if answer == "quiet:off":
        set_quiet_hours(view, None)
        return True
    hours = parse_quiet_hours(answer[6:] if answer.startswith("quiet:") else event.text)
    if hours is None:
        out.say(content.msg("error.quiet"))
        ask_quiet(out, _again(view, "quiet"), content)
        return False
    set_quiet_hours(view, hours)
    return True


def describe_schedule(out: Outcome, content: Content) -> str:
    schedule = out.view.schedule
    if not schedule.reminders_on or not schedule.reminder_time:
        return content.msg("schedule.off")
    days = describe_days(schedule.weekdays, content)
    said = content.msg("schedule.on", time=schedule.reminder_time, zone=schedule.timezone or "UTC", days=days)
    if schedule.hold_reason:  # a held program sends no reminders: never promise one
        return content.msg("schedule.held", schedule=said)
    return said

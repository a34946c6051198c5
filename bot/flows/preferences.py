"""Questions shared by onboarding and /settings: exercises, reminder time, time zone, weekdays."""

from __future__ import annotations

from bot.flows.common import Outcome, answer_of, go
from bot.types import Button, Inbound
from content.loader import Content
from scheduler.zones import COMMON_ZONES, parse_local_time, parse_timezone

TIME_CHOICES = ("07:00", "08:00", "12:00", "18:00", "20:00")
WEEKDAYS_ONLY = 0b0011111
EVERY_DAY = 0b1111111


def ask_plan(out: Outcome, flow: str, content: Content) -> Outcome:
    go(out.view, flow, "plan")
    out.say(content.program.choice_note)
    return out.ask(
        content.msg("plan.ask"),
        [Button(content.msg("plan.all"), "plan:all"), Button(content.msg("plan.pick"), "plan:pick")],
    )


def ask_pick(out: Outcome, flow: str, content: Content) -> Outcome:
    view = out.view
    go(view, flow, "pick")
    chosen = view.conversation.ctx.setdefault("picked", [])
    buttons = [Button(("✓ " if ex.id in chosen else "") + ex.name, f"pick:{ex.id}") for ex in content.program.exercises]
    buttons.append(Button(content.msg("button.done_choosing"), "pick:done"))
    return out.ask(content.msg("plan.pick_ask"), buttons)


def on_plan(out: Outcome, event: Inbound, content: Content) -> bool | None:
    """Handle the plan / pick steps. True when the plan is settled, False to re-ask, None if not ours."""
    view = out.view
    answer = answer_of(event, view, content)
    step = view.conversation.step
    if step == "plan":
        if answer == "plan:all":
            view.profile.exercises = [e.id for e in content.program.exercises]
            return True
        if answer == "plan:pick":
            view.conversation.ctx["picked"] = []
            ask_pick(out, view.conversation.flow, content)
            return False
        out.say(content.msg("error.choose_button"))
        ask_plan(out, view.conversation.flow, content)
        return False
    if step == "pick":
        chosen: list[str] = view.conversation.ctx.setdefault("picked", [])
        if answer == "pick:done":
            if not chosen:
                out.say(content.msg("plan.pick_none"))
                ask_pick(out, view.conversation.flow, content)
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
        ask_pick(out, view.conversation.flow, content)
        return False
    return None


def ask_time(out: Outcome, flow: str, content: Content, *, allow_none: bool = True) -> Outcome:
    go(out.view, flow, "time")
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
        ask_time(out, view.conversation.flow, content)
        return False
    view.schedule.reminder_time = parsed.strftime("%H:%M")
    view.schedule.reminders_on = True
    return True


def ask_zone(out: Outcome, flow: str, content: Content, hint: str | None = None) -> Outcome:
    go(out.view, flow, "zone")
    if hint:
        out.view.conversation.ctx["zone_hint"] = hint
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
        view.conversation.ctx.pop("zone_hint", None)
        ask_zone(out, view.conversation.flow, content)
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
        ask_zone(out, view.conversation.flow, content)
        return False
    view.schedule.timezone = zone
    return True


def ask_days(out: Outcome, flow: str, content: Content) -> Outcome:
    go(out.view, flow, "days")
    return out.ask(
        content.msg("days.ask"),
        [Button(content.msg("days.every"), "days:all"), Button(content.msg("days.weekdays"), "days:weekdays")],
    )


def on_days(out: Outcome, event: Inbound, content: Content) -> bool:
    answer = answer_of(event, out.view, content)
    if answer == "days:all":
        out.view.schedule.weekdays = EVERY_DAY
        return True
    if answer == "days:weekdays":
        out.view.schedule.weekdays = WEEKDAYS_ONLY
        return True
    out.say(content.msg("error.choose_button"))
    ask_days(out, out.view.conversation.flow, content)
    return False


def clock_time(text: str) -> str | None:
    """A typed or picked local time as "HH:MM"; None when it is not one."""
    parsed = parse_local_time(text) if text.strip() else None
    return f"{parsed:%H:%M}" if parsed else None


def describe_schedule(out: Outcome, content: Content) -> str:
    schedule = out.view.schedule
    if not schedule.reminders_on or not schedule.reminder_time:
        return content.msg("schedule.off")
    days = content.msg("days.every") if schedule.weekdays == EVERY_DAY else content.msg("days.weekdays")
    said = content.msg("schedule.on", time=schedule.reminder_time, zone=schedule.timezone or "UTC", days=days)
    if schedule.hold_reason:  # a held program sends no reminders: never promise one
        return content.msg("schedule.held", schedule=said)
    return said

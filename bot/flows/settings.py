"""`/settings`: see and change the plan, reminder time, zone, weekdays, and reminders on/off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from bot.flows import preferences, summary
from bot.flows.common import Outcome, answer_of, reset
from bot.flows.registry import Flow, On, Step, go
from bot.state import FlowName, UserView
from bot.types import Button, Inbound
from content.loader import Content

FLOW = FlowName.SETTINGS


def show(out: Outcome, content: Content) -> Outcome:
    view = out.view
    go(view, Steps.MENU)
    plan = view.profile.exercises or [e.id for e in content.program.exercises]
    names = ", ".join(
        content.program.exercise(ex).name for ex in plan if any(e.id == ex for e in content.program.exercises)
    )
    toggle = "button.reminders_off" if view.schedule.reminders_on else "button.reminders_on"
    text = content.msg(
        "settings.summary",
        schedule=preferences.describe_schedule(out, content),
        exercises=names,
        zone=view.schedule.timezone or "UTC",
    )
    text += "\n" + (
        content.msg("settings.summary_day_is", day=summary.day_name(view.profile.summary_day, content))
        if view.profile.summary_on
        else content.msg("settings.summary_off")
    )
    text += "\n" + preferences.describe_quiet(view, content)
    return out.ask(
        text,
        [
            Button(content.msg("settings.time"), "set:time"),
            Button(content.msg("settings.zone"), "set:zone"),
            Button(content.msg("settings.days"), "set:days"),
            Button(content.msg("settings.quiet"), "set:quiet"),
            Button(content.msg("settings.plan"), "set:plan"),
            Button(content.msg("settings.summary_day"), "set:summary"),
            Button(content.msg(toggle), "set:toggle"),
            Button(content.msg("button.close"), "set:close"),
        ],
    )


class Steps(StrEnum):
    MENU = "menu"
    PLAN = "plan"  # all but the menu and the summary day are asked by bot/flows/preferences.py
    PICK = "pick"
    TIME = "time"
    ZONE = "zone"
    DAYS = "days"
    DAYS_PICK = "days_pick"
    QUIET = "quiet"
    SUMMARY_DAY = "summary_day"


MENU = {
    "set:time": lambda o, c: ask_time(o, c),
    "set:zone": lambda o, c: preferences.ask_zone(o, Steps.ZONE, c),
    "set:days": lambda o, c: preferences.ask_days(o, Steps.DAYS, c),
    "set:quiet": lambda o, c: preferences.ask_quiet(o, Steps.QUIET, c),
    "set:plan": lambda o, c: preferences.ask_plan(o, Steps.PLAN, c),
    "set:summary": lambda o, c: ask_summary_day(o, c),
}


def ask_time(out: Outcome, content: Content) -> Outcome:
    """The reminder time (from the menu, or a reminder's "Change time"): /stop turns reminders off, not this."""
    return preferences.ask_time(out, Steps.TIME, content, allow_none=False)


def _on_menu(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    if answer in MENU:
        return MENU[answer](out, content)
    if answer == "set:toggle":
        if view.schedule.reminders_on or view.schedule.reminder_time:
            view.schedule.reminders_on = not view.schedule.reminders_on
            return _saved(out, content)
        return MENU["set:time"](out, content)
    if answer == "set:close":
        reset(view)
        return out.say(content.msg("settings.closed"))
    return None


def _answered(on: Callable[[Outcome, Inbound, Content], bool], *, replans: bool = False) -> On:
    """A preference question's answer: saved (and said so, with the menu again) once it is complete;
    a new time or zone moves the weekly summary at once."""

    def step(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
        done = on(out, event, content)
        if done and replans and out.view.profile.onboarded:
            summary.plan(out, now, force=True)
        return _saved(out, content) if done else out

    return step


def _on_summary_day(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return _saved(out, content) if on_summary_day(out, event, now, content) else out


def reprompt(out: Outcome, content: Content) -> Outcome:
    return SETTINGS_FLOW.reprompt(out, content)


def ask_summary_day(out: Outcome, content: Content) -> Outcome:
    """Which day the weekly summary comes (at the reminder time), or none at all."""
    go(out.view, Steps.SUMMARY_DAY)
    buttons = [Button(summary.day_name(d, content), f"sday:{d}") for d in range(7)]
    buttons.append(Button(content.msg("settings.summary_none"), "sday:off"))
    return out.ask(content.msg("settings.summary_day_ask"), buttons)


def on_summary_day(out: Outcome, event: Inbound, now: datetime, content: Content) -> bool:
    """Save the choice and replan at once (a stale event for the old day then does nothing)."""
    answer = answer_of(event, out.view, content)
    profile = out.view.profile
    if answer == "sday:off":
        profile.summary_on = False
        return True
    if answer.startswith("sday:") and answer[5:].isdigit() and int(answer[5:]) in range(7):
        profile.summary_day, profile.summary_on = int(answer[5:]), True
        summary.plan(out, now, force=True)
        return True
    out.say(content.msg("error.choose_button"))
    ask_summary_day(out, content)
    return False


def _saved(out: Outcome, content: Content) -> Outcome:
    out.say(content.msg("settings.saved", schedule=preferences.describe_schedule(out, content)))
    return show(out, content)


# --- one form with everything (Slack's settings modal) ------------------------------------------------
# Fields: "time" (HH:MM, or "" for no reminders), "days" (weekday numbers 0 = Monday, comma-separated),
# "quiet_start" and "quiet_end" (HH:MM, both or neither), "exercises" (exercise ids, comma-separated).
FORM_FIELDS = ("time", "days", "quiet_start", "quiet_end", "exercises")


def _form_time(value: str) -> str | None:
    return preferences.clock_time(value)


def _form_days(value: str) -> int | None:
    """The ticked days ("0,2,4"), checked as the chat's day picker checks them."""
    return preferences.weekday_mask(int(d) for d in value.split(",") if d.strip().isdigit())


def _form_quiet(form: dict[str, str]) -> tuple[str, str] | None:
    """The two quiet-hours pickers, read as typed quiet hours are read (preferences.quiet_hours)."""
    return preferences.quiet_hours(form.get("quiet_start", "").strip(), form.get("quiet_end", "").strip())


def form_errors(form: dict[str, str], content: Content) -> dict[str, str]:
    """What is wrong with a submitted settings form, by field: empty when it can be saved as it is. One
    validation with the chat's questions (bot/flows/preferences.py), and the same words when refused."""
    errors: dict[str, str] = {}
    if form.get("time", "").strip() and _form_time(form["time"]) is None:
        errors["time"] = content.msg("error.time")
    if form.get("time", "").strip() and _form_days(form.get("days", "")) is None:
        errors["days"] = content.msg("days.pick_none")
    start, end = form.get("quiet_start", "").strip(), form.get("quiet_end", "").strip()
    if (start or end) and _form_quiet(form) is None:
        errors["quiet_start" if not start else "quiet_end"] = content.msg("error.quiet")
    known = {e.id for e in content.program.exercises}
    chosen = [x for x in form.get("exercises", "").split(",") if x]
    if not chosen or any(x not in known for x in chosen):
        errors["exercises"] = content.msg("form.exercises_needed")
    return errors


def apply_form(out: Outcome, form: dict[str, str], content: Content) -> Outcome:
    """Save a whole settings form at once; the conversation stays where it was. Refused, with the reason,
    when invalid (the modal checks first, so this only happens if someone forged a submission)."""
    errors = form_errors(form, content)
    if errors:
        return out.say(next(iter(errors.values())))
    view = out.view
    when = _form_time(form.get("time", ""))
    view.schedule.reminder_time = when or view.schedule.reminder_time
    view.schedule.reminders_on = when is not None
    if when is not None:
        view.schedule.weekdays = _form_days(form["days"]) or view.schedule.weekdays
    preferences.set_quiet_hours(view, _form_quiet(form))  # and the next reminder is planned around them
    order = [e.id for e in content.program.exercises]
    chosen = set(form["exercises"].split(","))
    view.profile.exercises = [x for x in order if x in chosen]
    out.say(content.msg("settings.saved", schedule=preferences.describe_schedule(out, content)))
    return out


def form_values(view: UserView, content: Content) -> dict[str, str]:
    """The person's settings as form fields, to fill the modal in."""
    s, p = view.schedule, view.profile
    return {
        "time": s.reminder_time or "" if s.reminders_on else "",
        "days": ",".join(str(d) for d in range(7) if s.weekdays & (1 << d)),
        "quiet_start": p.quiet_start or "",
        "quiet_end": p.quiet_end or "",
        "exercises": ",".join(p.exercises or [e.id for e in content.program.exercises]),
    }


SETTINGS_FLOW = Flow(
    FLOW,
    Steps,
    {
        Steps.MENU: Step(_on_menu, show),
        Steps.PLAN: Step(_answered(preferences.on_plan), MENU["set:plan"]),
        Steps.PICK: Step(_answered(preferences.on_pick), lambda o, c: preferences.ask_pick(o, Steps.PICK, c)),
        Steps.TIME: Step(_answered(preferences.on_time, replans=True), MENU["set:time"]),
        Steps.ZONE: Step(_answered(preferences.on_zone, replans=True), MENU["set:zone"]),
        Steps.DAYS: Step(_answered(preferences.on_days), MENU["set:days"]),
        Steps.DAYS_PICK: Step(
            _answered(preferences.on_day_pick), lambda o, c: preferences.ask_day_pick(o, Steps.DAYS_PICK, c)
        ),
        Steps.QUIET: Step(_answered(preferences.on_quiet), MENU["set:quiet"]),
        Steps.SUMMARY_DAY: Step(_on_summary_day, ask_summary_day),
    },
    context=preferences.PreferencesCtx,
    recover=show,  # the settings menu: every question of it is one tap away
)

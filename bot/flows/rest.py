"""Rest after a spasm or flare-up (the sheet: no exercises during a spasm or for 1-3 days after an
injury or flare-up), pauses, and the check-ins that bring people back afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.effects import ScheduleEvent
from bot.flows.common import Outcome, answer_of, parse_int, reset
from bot.flows.registry import Flow, Step, go
from bot.state import FlowName, UserView
from bot.types import Button, Inbound
from content.loader import Content, SafetyRule

FLOW = FlowName.REST
REST_DAYS = (1, 2, 3)


def rest_buttons(content: Content) -> list[Button]:
    return [Button(content.msg("rest.days_button", days=d), f"rest:{d}") for d in REST_DAYS]


def ask_rest_days(out: Outcome, content: Content) -> Outcome:
    """Ask how many rest days, within the current flow's step."""
    return out.ask(content.msg("rest.ask_days"), rest_buttons(content))


def pause_at_once(out: Outcome, now: datetime) -> None:
    """The spasm advice says reminders are paused: pause them now for the sheet's shortest rest (one day),
    with a check-in then, before the person has chosen how many days (choosing replaces this)."""
    schedule = out.view.schedule
    until = now + timedelta(days=REST_DAYS[0])
    out.view.profile.paused_manually = False
    if schedule.paused_until and schedule.paused_until >= until:
        return
    schedule.paused_until = until
    out.effects.append(
        ScheduleEvent(
            action="checkin.rest", due_at=until, dedupe_key=f"checkin.rest:{out.view.user_id}:{until.isoformat()}"
        )
    )


def pause_for_rest(out: Outcome, days: int, now: datetime, content: Content) -> None:
    """Pause reminders for `days` and schedule a check-in for when the rest ends."""
    days = min(max(days, REST_DAYS[0]), REST_DAYS[-1])
    until = now + timedelta(days=days)
    view = out.view
    view.schedule.paused_until = until
    view.profile.paused_manually = False
    out.effects.append(
        ScheduleEvent(
            action="checkin.rest", due_at=until, dedupe_key=f"checkin.rest:{view.user_id}:{until.isoformat()}"
        )
    )
    out.say(content.msg("rest.paused", days=days))


class Steps(StrEnum):
    DAYS = "days"


def _on_days(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    """The stand-alone rest flow (reached from a symptom report): pick rest days."""
    days = rest_days_of(event, out.view, content)
    if days is not None:
        pause_for_rest(out, days, now, content)
        reset(out.view)
        return out
    out.say(content.msg("error.rest_days"))
    return ask_rest_days(out, content)


def rest_days_of(event: Inbound, view: UserView, content: Content) -> int | None:
    """A rest-days button, or the number typed ("2", "2 days"), within the sheet's 1 to 3."""
    answer = answer_of(event, view, content)
    if answer.startswith("rest:") and answer[5:].isdigit():
        return int(answer[5:])
    return parse_int(event.text, REST_DAYS[0], REST_DAYS[-1]) if event.text else None


def start(out: Outcome, content: Content) -> Outcome:
    go(out.view, Steps.DAYS)
    return ask_rest_days(out, content)


def checkin(out: Outcome, now: datetime, content: Content) -> Outcome:
    """The rest days are over: how is your back?"""
    view = out.view
    if view.schedule.paused_until and view.schedule.paused_until > now + timedelta(minutes=1):
        return out  # the pause was extended since this check-in was queued
    return out.ask(
        content.msg("checkin.rest"),
        [Button(content.msg("button.resume_now"), "g.resume"), Button(content.msg("button.not_yet"), "g.rest")],
    )


def hold_checkin(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Weekly, while the program is held for guidance: have you been cleared?"""
    view = out.view
    if not view.schedule.hold_reason:
        return out
    out.effects.append(
        ScheduleEvent(
            action="checkin.hold",
            due_at=now + timedelta(days=7),
            dedupe_key=f"checkin.hold:{view.user_id}:{(now + timedelta(days=7)).date()}",
        )
    )
    return ask_cleared(out, content, weekly=True)


def ask_cleared(out: Outcome, content: Content, *, weekly: bool = False) -> Outcome:
    rule = content.safety.rule(out.view.schedule.hold_reason or "heart")
    if rule.action == "crisis":
        return ask_ready_after_crisis(out, rule, content, weekly=weekly)
    return out.ask(
        content.msg("hold.ask_cleared", reason=rule.label),
        [Button(content.msg("button.cleared"), "g.cleared"), Button(content.msg("button.not_yet"), "g.not_yet")],
    )


def ask_ready_after_crisis(out: Outcome, rule: SafetyRule, content: Content, *, weekly: bool) -> Outcome:
    """After crisis help: the weekly check-in asks how they are and gives the help again with its named
    sources (content/safety.yaml); /resume has just given it (crisis.before_resume).  Either way the exercises
    restart only when they say they are ready - never "guidance from your medical team"."""
    sources = [content.safety.source(s) for s in (rule.source, *rule.see_also)]
    cite = "; ".join(s.cite or s.name for s in sources)
    key = "hold.ask_ready_crisis" if weekly else "hold.ask_ready_crisis_resume"
    return out.ask(
        content.msg(key, note=rule.hold_note.strip(), sources=cite),
        [Button(content.msg("button.ready_restart"), "g.cleared"), Button(content.msg("button.not_yet"), "g.not_yet")],
    )


REST_FLOW = Flow(FLOW, Steps, {Steps.DAYS: Step(_on_days, ask_rest_days)})

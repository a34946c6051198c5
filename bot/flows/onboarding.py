"""Onboarding: what BackCoach is and is not, consent, safety screening, plan, reminder time and zone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.flows import preferences, symptoms
from bot.flows.common import Outcome, go, reset, yes_no, zone_of
from bot.flows.registry import Flow, Step
from bot.flows.rest import ask_rest_days, pause_for_rest, rest_days_of
from bot.types import Button, Inbound
from content.loader import Content

FLOW = "onboarding"


def start(out: Outcome, content: Content, hint: str | None = None) -> Outcome:
    reset(out.view, FLOW)
    go(out.view, FLOW, Steps.CONSENT, screen=0, zone_hint=hint)
    out.say(content.msg("onboarding.welcome"))
    return _ask_consent(out, content)


def _ask_consent(out: Outcome, content: Content) -> Outcome:
    return out.ask(
        f"{content.safety.disclaimer}\n\n{content.msg('onboarding.consent')}",
        [Button(content.msg("button.agree"), "agree"), Button(content.msg("button.not_now"), "decline")],
    )


def _ask_screen(out: Outcome, content: Content) -> Outcome:
    question = content.safety.onboarding_screening[out.view.conversation.ctx["screen"]]
    return out.ask(question.text, yes_no(content))


class Steps(StrEnum):
    CONSENT = "consent"
    SCREEN = "screen"
    REST_DAYS = "rest_days"
    PLAN = "plan"  # plan, pick, time and zone are asked by bot/flows/preferences.py, shared with /settings
    PICK = "pick"
    TIME = "time"
    ZONE = "zone"


def reprompt(out: Outcome, content: Content) -> Outcome:
    return ONBOARDING_FLOW.reprompt(out, content)


def handle(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    return ONBOARDING_FLOW.handle(out, event, now, content)


def _on_consent(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    if answer in {"agree", "yes"}:
        view.profile.consented = True
        go(view, FLOW, Steps.SCREEN, screen=0)
        return _ask_screen(out, content)
    if answer in {"decline", "no"}:
        reset(view, "new")
        return out.say(content.msg("onboarding.declined"))
    return None


def _on_screen(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    question = content.safety.onboarding_screening[view.conversation.ctx["screen"]]
    if answer == "yes":
        rule = symptoms.advise(out, question.rule, "screening", now, content)
        if rule.action in {"emergency", "stop_now_doctor"}:
            reset(view, "new")  # set-up can wait: nothing may follow urgent advice but how to come back
            return out.say(content.msg("onboarding.after_urgent"))
        if rule.action == "rest_pause":
            go(view, FLOW, Steps.REST_DAYS)
            return ask_rest_days(out, content)
    elif answer != "no":
        return None
    return _next_screen(out, content)


def _on_rest_days(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    days = rest_days_of(event, out.view, content)
    if days is None:
        out.say(content.msg("error.rest_days"))
        return ask_rest_days(out, content)
    pause_for_rest(out, days, now, content)
    return _next_screen(out, content)


def _on_plan(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return preferences.ask_time(out, FLOW, content) if preferences.on_plan(out, event, content) else out


def _on_pick(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return preferences.ask_time(out, FLOW, content) if preferences.on_pick(out, event, content) else out


def _on_time(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    if preferences.on_time(out, event, content):
        hint = out.view.conversation.ctx.get("zone_hint") or event.timezone_hint
        return preferences.ask_zone(out, FLOW, content, hint)
    return out


def _ask_zone(out: Outcome, content: Content) -> Outcome:
    return preferences.ask_zone(out, FLOW, content, out.view.conversation.ctx.get("zone_hint"))


def _on_zone(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return _finish(out, now, content) if preferences.on_zone(out, event, content) else out


def _next_screen(out: Outcome, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    ctx["screen"] += 1
    if ctx["screen"] < len(content.safety.onboarding_screening):
        go(out.view, FLOW, Steps.SCREEN)
        return _ask_screen(out, content)
    return preferences.ask_plan(out, FLOW, content)


def _finish(out: Outcome, now: datetime, content: Content) -> Outcome:
    """All set, unless the screening held the program or asked for rest days: then say so, and offer
    nothing that contradicts it (no first session, no reminder promise)."""
    view = out.view
    view.profile.onboarded = True
    reset(view)
    held = symptoms.hold_rule(view, content)
    if held is not None:
        out.say(content.msg("onboarding.done_held"))
        return symptoms.repeat_hold(out, held, content).say(content.msg("hold.how_to_resume"))
    paused = view.schedule.paused_until
    if paused and paused > now:
        until = f"{paused.astimezone(zone_of(view)):%a %d %b %H:%M}"
        return out.say(content.msg("onboarding.done_resting", until=until))
    out.say(content.msg("onboarding.done", schedule=preferences.describe_schedule(out, content)))
    return out.ask(content.msg("onboarding.first_session"), [Button(content.msg("button.start_now"), "g.today")])


ONBOARDING_FLOW = Flow(
    FLOW,
    Steps,
    {
        Steps.CONSENT: Step(_on_consent, _ask_consent),
        Steps.SCREEN: Step(_on_screen, _ask_screen),
        Steps.REST_DAYS: Step(_on_rest_days, ask_rest_days),
        Steps.PLAN: Step(_on_plan, lambda o, c: preferences.ask_plan(o, FLOW, c)),
        Steps.PICK: Step(_on_pick, lambda o, c: preferences.ask_pick(o, FLOW, c)),
        Steps.TIME: Step(_on_time, lambda o, c: preferences.ask_time(o, FLOW, c)),
        Steps.ZONE: Step(
            _on_zone, lambda o, c: preferences.ask_zone(o, FLOW, c, o.view.conversation.ctx.get("zone_hint"))
        ),
    },
    recover=lambda o, c: start(o, c),  # set-up again from the start: nothing of it is kept half-done
)

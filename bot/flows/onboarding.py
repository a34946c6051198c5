"""Onboarding: what BackCoach is and is not, consent, safety screening, plan, reminder time and zone."""

from __future__ import annotations

from datetime import datetime

from bot.flows import preferences, symptoms
from bot.flows.common import Outcome, answer_of, go, reset, yes_no, zone_of
from bot.flows.rest import ask_rest_days, pause_for_rest, rest_days_of
from bot.types import Button, Inbound
from content.loader import Content

FLOW = "onboarding"


def start(out: Outcome, content: Content, hint: str | None = None) -> Outcome:
    reset(out.view, FLOW)
    go(out.view, FLOW, "consent", screen=0, zone_hint=hint)
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


def reprompt(out: Outcome, content: Content) -> Outcome:
    step = out.view.conversation.step
    flow = FLOW
    if step == "consent":
        return _ask_consent(out, content)
    if step == "screen":
        return _ask_screen(out, content)
    if step == "rest_days":
        return ask_rest_days(out, content)
    if step in {"plan"}:
        return preferences.ask_plan(out, flow, content)
    if step == "pick":
        return preferences.ask_pick(out, flow, content)
    if step == "time":
        return preferences.ask_time(out, flow, content)
    if step == "zone":
        return preferences.ask_zone(out, flow, content, out.view.conversation.ctx.get("zone_hint"))
    return start(out, content)


def handle(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    step = view.conversation.step
    ctx = view.conversation.ctx
    if step == "consent":
        answer = answer_of(event, view, content)
        if answer in {"agree", "yes"}:
            view.profile.consented = True
            go(view, FLOW, "screen", screen=0)
            return _ask_screen(out, content)
        if answer in {"decline", "no"}:
            reset(view, "new")
            return out.say(content.msg("onboarding.declined"))
        out.say(content.msg("error.choose_button"))
        return _ask_consent(out, content)
    if step == "screen":
        answer = answer_of(event, view, content)
        question = content.safety.onboarding_screening[ctx["screen"]]
        if answer == "yes":
            rule = symptoms.advise(out, question.rule, "screening", now, content)
            if rule.action in {"emergency", "stop_now_doctor"}:
                reset(view, "new")  # set-up can wait: nothing may follow urgent advice but how to come back
                return out.say(content.msg("onboarding.after_urgent"))
            if rule.action == "rest_pause":
                go(view, FLOW, "rest_days")
                return ask_rest_days(out, content)
        elif answer != "no":
            out.say(content.msg("error.choose_button"))
            return _ask_screen(out, content)
        return _next_screen(out, content)
    if step == "rest_days":
        days = rest_days_of(event, view, content)
        if days is None:
            out.say(content.msg("error.rest_days"))
            return ask_rest_days(out, content)
        pause_for_rest(out, days, now, content)
        return _next_screen(out, content)
    if step in {"plan", "pick"}:
        if preferences.on_plan(out, event, content):
            return preferences.ask_time(out, FLOW, content)
        return out
    if step == "time":
        if preferences.on_time(out, event, content):
            return preferences.ask_zone(out, FLOW, content, ctx.get("zone_hint") or event.timezone_hint)
        return out
    if step == "zone":
        if preferences.on_zone(out, event, content):
            return _finish(out, now, content)
        return out
    return reprompt(out, content)


def _next_screen(out: Outcome, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    ctx["screen"] += 1
    if ctx["screen"] < len(content.safety.onboarding_screening):
        go(out.view, FLOW, "screen")
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

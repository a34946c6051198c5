"""Onboarding: what BackCoach is and is not, consent, safety screening, plan, reminder time and zone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.flows import preferences, symptoms
from bot.flows.common import Outcome, reset, yes_no, zone_of
from bot.flows.preferences import PreferencesCtx
from bot.flows.registry import Flow, Step, go
from bot.flows.rest import ask_rest_days, pause_for_rest, rest_days_of
from bot.state import FlowCtx, FlowName
from bot.types import Button, Inbound
from content.loader import Content

FLOW = FlowName.ONBOARDING


def start(out: Outcome, content: Content, hint: str | None = None) -> Outcome:
    reset(out.view, FLOW)
    go(out.view, Steps.CONSENT)
    OnboardingCtx.of(out.view).screen = 0
    PreferencesCtx.of(out.view).zone_hint = hint
    out.say(content.msg("onboarding.welcome"))
    return _ask_consent(out, content)


def _ask_consent(out: Outcome, content: Content) -> Outcome:
    return out.ask(
        f"{content.safety.disclaimer}\n\n{content.msg('onboarding.consent')}",
        [Button(content.msg("button.agree"), "agree"), Button(content.msg("button.not_now"), "decline")],
    )


def _ask_screen(out: Outcome, content: Content) -> Outcome:
    question = content.safety.onboarding_screening[OnboardingCtx.of(out.view).screen]
    return out.ask(question.text, yes_no(content))


class Steps(StrEnum):
    CONSENT = "consent"
    SCREEN = "screen"
    REST_DAYS = "rest_days"
    PLAN = "plan"  # plan, pick, time and zone are asked by bot/flows/preferences.py, shared with /settings
    PICK = "pick"
    TIME = "time"
    ZONE = "zone"


class OnboardingCtx(FlowCtx):
    """The screening question being asked (the plan, time and zone questions keep `PreferencesCtx`)."""

    screen: int = 0


def reprompt(out: Outcome, content: Content) -> Outcome:
    return ONBOARDING_FLOW.reprompt(out, content)


def handle(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    return ONBOARDING_FLOW.handle(out, event, now, content)


def _on_consent(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    if answer in {"agree", "yes"}:
        view.profile.consented = True
        go(view, Steps.SCREEN)
        OnboardingCtx.of(view).screen = 0
        return _ask_screen(out, content)
    if answer in {"decline", "no"}:
        reset(view, FlowName.NEW)
        return out.say(content.msg("onboarding.declined"))
    return None


def _on_screen(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    question = content.safety.onboarding_screening[OnboardingCtx.of(view).screen]
    if answer == "yes":
        rule = symptoms.advise(out, question.rule, "screening", now, content)
        if rule.action in {"emergency", "stop_now_doctor"}:
            reset(view, FlowName.NEW)  # set-up can wait: nothing may follow urgent advice but how to come back
            return out.say(content.msg("onboarding.after_urgent"))
        if rule.action == "rest_pause":
            go(view, Steps.REST_DAYS)
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
    return preferences.ask_time(out, Steps.TIME, content) if preferences.on_plan(out, event, content) else out


def _on_pick(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return preferences.ask_time(out, Steps.TIME, content) if preferences.on_pick(out, event, content) else out


def _on_time(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    if preferences.on_time(out, event, content):
        hint = PreferencesCtx.of(out.view).zone_hint or event.timezone_hint
        return preferences.ask_zone(out, Steps.ZONE, content, hint)
    return out


def _ask_zone(out: Outcome, content: Content) -> Outcome:
    return preferences.ask_zone(out, Steps.ZONE, content, PreferencesCtx.of(out.view).zone_hint)


def _on_zone(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return _finish(out, now, content) if preferences.on_zone(out, event, content) else out


def _next_screen(out: Outcome, content: Content) -> Outcome:
    ctx = OnboardingCtx.of(out.view)
    ctx.screen += 1
    if ctx.screen < len(content.safety.onboarding_screening):
        go(out.view, Steps.SCREEN)
        return _ask_screen(out, content)
    return preferences.ask_plan(out, Steps.PLAN, content)


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
        Steps.PLAN: Step(_on_plan, lambda o, c: preferences.ask_plan(o, Steps.PLAN, c)),
        Steps.PICK: Step(_on_pick, lambda o, c: preferences.ask_pick(o, Steps.PICK, c)),
        Steps.TIME: Step(_on_time, lambda o, c: preferences.ask_time(o, Steps.TIME, c)),
        Steps.ZONE: Step(_on_zone, _ask_zone),
    },
    context=OnboardingCtx,
    recover=lambda o, c: start(o, c),  # set-up again from the start: nothing of it is kept half-done
)


class NewSteps(StrEnum):
    NONE = ""  # not set up: no steps, every message starts onboarding


# Not set up yet (or erased by /delete): whatever is said, onboarding starts (bot/flows/dispatch.py sends anyone
# who has not consented here, unless a side question about a symptom is open).
NEW_FLOW = Flow(
    FlowName.NEW,
    NewSteps,
    {NewSteps.NONE: Step(lambda o, e, a, n, c: start(o, c, e.timezone_hint), lambda o, c: start(o, c))},
)

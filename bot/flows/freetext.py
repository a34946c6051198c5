"""Free text typed at any point: safety first (crisis, a rule's advice, a targeted or clarifying question),
then ordinary chat (greetings, thanks, "how do I stop the reminders?", "what does the X do?", activity in
words, another language).

Why here and not in each flow: a symptom may be typed in any state - a brand-new person's first message,
an answer during onboarding, between sessions, mid-exercise - and must get the same answer first.  A
pending question never traps the person: any message that is not an answer to it drops the question and
is handled as if it had not been asked.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from bot.chat_intents import minutes_in
from bot.effects import ActivityLogged
from bot.flows import onboarding, registry, session, symptoms
from bot.flows.activity import MAX_MINUTES, MINUTE_CHOICES, ActivityCtx
from bot.flows.common import Outcome, answer_of, local_today, reset, yes_no
from bot.flows.registry import come_back, interrupt
from bot.state import FlowCtx, FlowName
from bot.triage_assess import Assessment, assess
from bot.types import Button, Inbound
from content.loader import Content

FLOW = FlowName.CONFIRM  # the pending question: step "rule" (targeted), "symptom" (unclear), "activity" (log N
# minutes?), "minutes" (a distance was given: how many minutes did it take?)
URGENT = {"emergency", "stop_now_doctor", "crisis"}
# Flows where a greeting or thanks is not an answer to anything.
QUIET_FLOWS = frozenset({FlowName.IDLE, FlowName.NEW, FlowName.REMINDER})


def handle(out: Outcome, event: Inbound, text: str, now: datetime, content: Content) -> Outcome | None:
    """Handle the message here, or return None to let the current flow have it."""
    view = out.view
    typed = answer_of(event, view, content)
    if view.conversation.flow == FLOW and view.conversation.step == Steps.MINUTES:
        minutes = _minutes_answer(typed, text, content)
        if minutes is not None and not assess(text, content).rule_id:
            come_back(view)
            return _log(out, minutes, now, content)
    if view.conversation.flow == FLOW and typed not in {"yes", "no"}:
        come_back(view)  # not an answer to our question: forget it, take the message as it comes
        typed = answer_of(event, view, content)
    verdict = assess(text, content)
    if verdict.rule_id and not (typed and verdict.from_model):
        advised = advise(out, verdict.rule_id, now, content)
        if verdict.ask_rule and content.safety.rule(verdict.rule_id).action != "crisis":
            # the model is sure of a more urgent rule than the rules found: that one's question after the advice
            ConfirmCtx.of(advised.view).ask_rule = verdict.ask_rule
            return ask(advised, Steps.RULE, content.safety.rule(verdict.ask_rule).ask, content)
        return advised
    if typed:
        return None  # an answer to the current question ("no", a button's label): the flow takes it
    if verdict.ask_rule:
        ConfirmCtx.of(view).ask_rule = verdict.ask_rule
        return ask(out, Steps.RULE, content.safety.rule(verdict.ask_rule).ask, content)
    if verdict.unclear:
        return ask(out, Steps.SYMPTOM, content.msg("symptoms.unclear"), content)
    if _misread(text, content) and view.schedule.hold_reason == "crisis":
        return out.say(content.msg("crisis.misread"))
    return chat(out, verdict, now, content)


def advise(out: Outcome, rule_id: str, now: datetime, content: Content) -> Outcome:
    """A rule's advice first, then what the person's state calls for."""
    view = out.view
    rule = content.safety.rule(rule_id)
    if not view.profile.consented or view.conversation.flow == FlowName.NEW:
        symptoms.advise(out, rule_id, "text", now, content)  # a brand-new person: advice, then how to start
        reset(view, FlowName.NEW)
        if rule.action != "crisis":
            out.say(content.msg("start.after_advice"))
        return out
    if view.conversation.flow == onboarding.FLOW:
        symptoms.advise(out, rule_id, "text", now, content)
        if rule.action in URGENT:
            reset(view, FlowName.NEW)
            return out if rule.action == "crisis" else out.say(content.msg("onboarding.after_urgent"))
        return onboarding.reprompt(out, content)
    return symptoms.apply_rule(out, rule_id, "text", now, content)


def ask(out: Outcome, step: Steps, question: str, content: Content) -> Outcome:
    interrupt(out.view, step)
    return out.ask(question, yes_no(content))


def _on_rule(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    """Yes: the rule's advice. No: nothing to advise. Anything else never reaches here (see `handle`)."""
    if answer not in {"yes", "no"}:
        return None
    rule_id = str(ConfirmCtx.of(out.view).ask_rule)
    resumed = come_back(out.view)
    if answer == "yes":
        return advise(out, rule_id, now, content)
    out.say(content.msg("symptoms.none_reply"))
    return _reprompt_after(out, resumed, content)


def _on_symptom(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    if answer not in {"yes", "no"}:
        return None
    resumed = come_back(out.view)
    if answer == "yes":
        return symptoms.symptom_menu(out, content)
    out.say(content.msg("symptoms.none_reply"))
    return _reprompt_after(out, resumed, content)


def _on_activity(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    if answer not in {"yes", "no"}:
        return None
    minutes = ActivityCtx.of(out.view).minutes
    resumed = come_back(out.view)
    if answer == "yes" and minutes is not None:
        return _log(out, minutes, now, content)
    out.say(content.msg("chat.activity_not_logged"))
    return _reprompt_after(out, resumed, content)


def _on_minutes(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    """A tapped duration is logged; "Don't log it" is not. A typed duration is taken in `handle` first."""
    if answer.startswith("min:"):
        come_back(out.view)
        return _log(out, int(answer[4:]), now, content)
    if answer == "no":
        resumed = come_back(out.view)
        out.say(content.msg("chat.activity_not_logged"))
        return _reprompt_after(out, resumed, content)
    if answer != "yes":
        return None
    resumed = come_back(out.view)  # "yes" to a how-many-minutes question: as before, nothing logged
    out.say(content.msg("symptoms.none_reply"))
    return _reprompt_after(out, resumed, content)


def _ask_rule(out: Outcome, content: Content) -> Outcome:
    return out.ask(content.safety.rule(str(ConfirmCtx.of(out.view).ask_rule)).ask, yes_no(content))


def _ask_symptom(out: Outcome, content: Content) -> Outcome:
    return out.ask(content.msg("symptoms.unclear"), yes_no(content))


def _ask_activity(out: Outcome, content: Content) -> Outcome:
    minutes = ActivityCtx.of(out.view).minutes
    return out.ask(content.msg("chat.activity_confirm", minutes=minutes), yes_no(content))


def _ask_minutes(out: Outcome, content: Content) -> Outcome:
    return out.ask(content.msg("chat.activity_minutes"), _minute_buttons(content))


def _minute_buttons(content: Content) -> list[Button]:
    """One tap for the usual durations (the activity flow's choices), or "Don't log it"."""
    buttons = [Button(content.msg("activity.minutes_button", minutes=m), f"min:{m}") for m in MINUTE_CHOICES]
    return [*buttons, Button(content.msg("button.dont_log"), "no")]


_ALONE = re.compile(r"\s*(?:about|around|roughly|maybe|approx\.?|~)?\s*(\d{1,4})\s*[.!]?\s*")


def _minutes_answer(typed: str, text: str, content: Content) -> int | None:
    """Minutes from a tapped choice, a duration ("40 mins", "half an hour") or a number typed on its own
    ("25", "about 40"); never the first number of a longer reply ("2 miles in 40 min" is 40)."""
    if typed.startswith("min:"):
        return int(typed[4:])
    minutes = minutes_in(text, content.chat)
    if not minutes and (alone := _ALONE.fullmatch(text.lower())):
        minutes = int(alone.group(1))
    return minutes if 0 < minutes <= MAX_MINUTES else None


def _reprompt_after(out: Outcome, resumed: bool, content: Content) -> Outcome:
    return registry.reprompt(out, content) if resumed else out


def _misread(text: str, content: Content) -> bool:
    lowered = " ".join(text.lower().replace("’", "'").split())
    return any(phrase in lowered for phrase in content.chat.misread)


def chat(out: Outcome, verdict: Assessment, now: datetime, content: Content) -> Outcome | None:
    """Ordinary chat; None when the message is none of it (the current flow then gets it)."""
    view = out.view
    flow = view.conversation.flow
    intent = verdict.intent
    if intent == "other_language":
        out.say(content.msg("chat.other_language"))
        return None if flow == FlowName.NEW else _reprompt_after(out, flow not in QUIET_FLOWS, content)
    if intent == "stop_howto":
        out.say(content.msg("chat.stop_howto"))
        return _reprompt_after(out, flow not in QUIET_FLOWS, content)
    if intent == "exercise_question" and verdict.exercise_id:
        exercise = content.program.exercise(verdict.exercise_id)
        out.say(content.msg("chat.exercise_purpose", name=exercise.name, purpose=exercise.purpose))
        return _reprompt_after(out, flow not in QUIET_FLOWS, content)
    if flow != FlowName.IDLE or not view.profile.onboarded:
        return None
    if intent == "activity":
        held = symptoms.activity_hold(view, content)
        if held is not None:  # during a chest-pain, heart, emergency or same-day hold: the advice, not praise
            symptoms.repeat_hold(out, held, content)
            return out.say(content.msg("activity.held"))
        if not verdict.minutes:  # a distance: the sheet counts minutes, and converting would be a guess
            interrupt(view, Steps.MINUTES)
            return out.ask(content.msg("chat.activity_minutes"), _minute_buttons(content))
        ActivityCtx.of(view).minutes = verdict.minutes
        return ask(out, Steps.ACTIVITY, content.msg("chat.activity_confirm", minutes=verdict.minutes), content)
    if intent in {"greeting", "thanks"}:
        return out.say(content.msg(f"chat.{intent}"))
    return None


def _log(out: Outcome, minutes: int, now: datetime, content: Content) -> Outcome:
    """One tap logged it: minutes only, no exertion asked (the sheet's guidance is shown with the total)."""
    view = out.view
    guidance = content.program.general_activity
    out.effects.append(ActivityLogged(local_date=local_today(view, now), minutes=minutes, exertion=None, at=now))
    view.history.activity_minutes_today += minutes
    total = view.history.activity_minutes_today
    low, high = guidance.daily_minutes.low, guidance.daily_minutes.high
    out.say(content.msg("activity.logged", minutes=minutes, total=total, low=low, high=high))
    return session.reprompt(out, content) if view.conversation.flow == session.FLOW else out


class Steps(StrEnum):
    RULE = "rule"  # "did you mean ...?" for one rule
    SYMPTOM = "symptom"  # unclear: is it a symptom?
    ACTIVITY = "activity"  # log these minutes from chat?
    MINUTES = "minutes"  # a distance from chat: how many minutes did it take?


class ConfirmCtx(FlowCtx):
    """The pending question's subject: the rule asked about (the minutes to log are the activity's own)."""

    ask_rule: str | None = None


CONFIRM_FLOW = registry.Flow(
    FLOW,
    Steps,
    {
        Steps.RULE: registry.Step(_on_rule, _ask_rule),
        Steps.SYMPTOM: registry.Step(_on_symptom, _ask_symptom),
        Steps.ACTIVITY: registry.Step(_on_activity, _ask_activity),
        Steps.MINUTES: registry.Step(_on_minutes, _ask_minutes),
    },
    context=ConfirmCtx,
    needs=registry.Need.FIGURES,  # today's activity minutes, when a chat message's minutes are logged
)

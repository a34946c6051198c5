"""Symptom reports: the `/symptoms` menu, a rule applied to the conversation (advice first, from
bot/flows/safety.py; then what the open flow's hook and the rules table say), and the "which exercise?" offer.

Emergency advice also ends whatever was running.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.flows import registry, rest
from bot.flows.common import Outcome, local_today, reset
from bot.flows.registry import Flow, Step, come_back, go, interrupt
from bot.flows.safety import (
    ACTIVITY_HOLDS,
    ENDS_SESSION,
    HOLD_ACTIONS,
    activity_hold,
    advice_text,
    advise,
    hold_rule,
    hold_why,
    repeat_hold,
)
from bot.state import FlowName
from bot.types import Button, Inbound
from content.loader import Content

# Re-exported: the flows that report symptoms use the advice and holds through this module.
__all__ = [
    "ACTIVITY_HOLDS",
    "ENDS_SESSION",
    "HOLD_ACTIONS",
    "activity_hold",
    "advice_text",
    "advise",
    "apply_rule",
    "hold_rule",
    "hold_why",
    "offer_drop_any",
    "repeat_hold",
    "symptom_menu",
]

FLOW = FlowName.SYMPTOMS
DROP = FlowName.DROP


class Steps(StrEnum):
    MENU = "menu"


class DropSteps(StrEnum):
    PICK = "pick"


def apply_rule(out: Outcome, rule_id: str, source: str, now: datetime, content: Content) -> Outcome:
    """Advice plus the conversation change: what the open flow's hook says (the session ends, or the hurt
    exercise is offered for dropping), then ask for rest days, offer to drop an exercise, or hold."""
    rule = advise(out, rule_id, source, now, content)
    view = out.view
    if rule.action == "end_session_consult":  # "we will end today's session here": until local midnight
        view.profile.session_ended_on = local_today(view, now)
    taken = registry.safety_interrupts(out, rule, now, content)
    if taken is not None:
        return taken
    if rule.action == "stop_exercise":
        return offer_drop_any(out, content)
    if rule.action == "rest_pause":
        return rest.start(out, content)
    if rule.action == "crisis":
        reset(view)  # nothing after crisis help: no exercise prompt, no question
        return out
    if rule.action in HOLD_ACTIONS:
        reset(view)
        out.say(content.msg("hold.how_to_resume"))
        return out
    if rule.action == "end_session_consult":
        reset(view)
        return out
    return out  # routine advice: nothing else changes; carry on where they were.


def offer_drop_any(out: Outcome, content: Content) -> Outcome:
    """Outside a session: which exercise caused it? Offer to drop it from the plan."""
    view = out.view
    plan = view.profile.exercises
    if not plan:
        return out
    go(view, DropSteps.PICK)
    buttons = [Button(content.program.exercise(ex).name, f"drop:{ex}") for ex in plan]
    buttons.append(Button(content.msg("drop.keep_all"), "keep"))
    return out.ask(content.msg("drop.which"), buttons)


def symptom_menu(out: Outcome, content: Content) -> Outcome:
    """`/symptoms` and "My back is worse": every rule as a button, most urgent first."""
    interrupt(out.view, Steps.MENU)
    rules = sorted(content.safety.rules, key=lambda r: r.priority)
    buttons = [Button(r.label, f"rule:{r.id}") for r in rules]
    buttons.append(Button(content.msg("symptoms.none"), "none"))
    return out.ask(content.msg("symptoms.ask"), buttons)


def _on_menu(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    if answer.startswith("rule:"):
        rule_id = answer[5:]
        if any(r.id == rule_id for r in content.safety.rules):
            come_back(out.view)
            return apply_rule(out, rule_id, "button", now, content)
    if answer in {"none", "no"}:
        out.say(content.msg("symptoms.none_reply"))
        return registry.reprompt(out, content) if come_back(out.view) else out
    return None


def _on_drop(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    if answer.startswith("drop:") and answer[5:] in view.profile.exercises:
        view.profile.exercises = [ex for ex in view.profile.exercises if ex != answer[5:]]
        out.say(content.msg("exercise.dropped", name=content.program.exercise(answer[5:]).name))
        reset(view)
        return out
    if answer in {"keep", "no"}:
        reset(view)
        return out.say(content.msg("drop.kept_all"))
    return None


SYMPTOMS_FLOW = Flow(FLOW, Steps, {Steps.MENU: Step(_on_menu, symptom_menu)})
DROP_FLOW = Flow(DROP, DropSteps, {DropSteps.PICK: Step(_on_drop, offer_drop_any)})

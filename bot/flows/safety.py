"""Safety advice and holds: advice first, then the hold the rules table asks for.

Advice is always the first reply of the turn and is never placed behind a button. This module changes no
conversation (bot/flows/symptoms.py does, and asks the flows' hooks what a rule does to them), so every flow
may use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.effects import ScheduleEvent, SymptomLogged
from bot.flows import rest
from bot.flows.common import Outcome
from bot.state import UserView
from bot.types import Reply
from content.loader import HOLDING_ACTIONS, Content, SafetyRule

HOLD_ACTIONS = HOLDING_ACTIONS | {"crisis"}
ENDS_SESSION = HOLD_ACTIONS | {"end_session_consult", "rest_pause"}  # rules that end an open session
# Holds during which general activity is not encouraged (nor logged): the advice is repeated instead.
ACTIVITY_HOLDS = frozenset({"stop_now_doctor", "hold_until_cleared", "emergency", "doctor_today_pause"})
HOLD_CHECKIN_DAYS = 7


def advice_text(rule: SafetyRule, content: Content) -> str:
    """The rule's advice as said when it is raised; emergency advice always names the emergency number."""
    text = rule.advice
    if rule.action == "emergency" and content.safety.emergency_number_note not in text:
        text = f"{text}\n\n{content.safety.emergency_number_note}"
    return text


def advise(out: Outcome, rule_id: str, source: str, now: datetime, content: Content) -> SafetyRule:
    """Show the rule's advice as the first reply, log it, and hold the program where the rule says so."""
    rule = content.safety.rule(rule_id)
    out.replies.insert(0, Reply(text=advice_text(rule, content), urgent=True))
    out.effects.append(SymptomLogged(rule_id=rule_id, source=source, at=now))
    if rule.action in HOLD_ACTIONS:
        _hold(out, rule, now, content)
    if rule.action == "rest_pause":  # the advice says "I have paused your reminders": true at once
        rest.pause_at_once(out, now)
    return rule


def hold_rule(view: UserView, content: Content) -> SafetyRule | None:
    """The rule the program is held for, if any."""
    reason = view.schedule.hold_reason
    return content.safety.rule(reason) if reason else None


def activity_hold(view: UserView, content: Content) -> SafetyRule | None:
    """The hold, if it is one during which activity must not be encouraged (chest pain, heart, emergency...)."""
    rule = hold_rule(view, content)
    return rule if rule is not None and rule.action in ACTIVITY_HOLDS else None


def hold_why(rule: SafetyRule, content: Content) -> str:
    """Why the program is held, in the rule's own source's words, naming that source."""
    source = content.safety.source(rule.source)
    return content.msg("hold.why", reason=rule.label, note=rule.hold_note.strip(), source=source.cite or source.name)


def repeat_hold(out: Outcome, rule: SafetyRule, content: Content) -> Outcome:
    """While held: the advice again, first and unburied, then why the program is held."""
    out.say(advice_text(rule, content), urgent=True)
    return out.say(hold_why(rule, content))


def _hold(out: Outcome, rule: SafetyRule, now: datetime, content: Content) -> None:
    schedule = out.view.schedule
    current = schedule.hold_reason
    if current is None or content.safety.rule(current).priority > rule.priority:
        schedule.hold_reason = rule.id
    due = now + timedelta(days=HOLD_CHECKIN_DAYS)
    out.effects.append(
        ScheduleEvent(action="checkin.hold", due_at=due, dedupe_key=f"checkin.hold:{out.view.user_id}:{due.date()}")
    )

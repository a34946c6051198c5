"""Safety rules: advice first, then the state change the rules table asks for.

Advice is always the first reply of the turn and is never placed behind a button; emergency advice
also ends whatever was running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.effects import ScheduleEvent, SymptomLogged
from bot.flows import rest, session
from bot.flows.common import Outcome, go, interrupt, reset
from bot.types import Button, Reply
from content.loader import Content, SafetyRule

HOLD_ACTIONS = {"consult_pause", "hold_until_cleared", "stop_now_doctor", "emergency", "doctor_today_pause"}
ENDS_SESSION = HOLD_ACTIONS | {"end_session_consult", "rest_pause"}
HOLD_CHECKIN_DAYS = 7


def advise(out: Outcome, rule_id: str, source: str, now: datetime, content: Content) -> SafetyRule:
    """Show the rule's advice as the first reply, log it, and hold the program where the rule says so."""
    rule = content.safety.rule(rule_id)
    text = rule.advice
    if rule.action == "emergency" and content.safety.emergency_number_note not in text:
        text = f"{text}\n\n{content.safety.emergency_number_note}"
    out.replies.insert(0, Reply(text=text, urgent=True))
    out.effects.append(SymptomLogged(rule_id=rule_id, source=source, at=now))
    if rule.action in HOLD_ACTIONS:
        _hold(out, rule, now, content)
    return rule


def _hold(out: Outcome, rule: SafetyRule, now: datetime, content: Content) -> None:
    schedule = out.view.schedule
    current = schedule.hold_reason
    if current is None or content.safety.rule(current).priority > rule.priority:
        schedule.hold_reason = rule.id
    due = now + timedelta(days=HOLD_CHECKIN_DAYS)
    out.effects.append(
        ScheduleEvent(action="checkin.hold", due_at=due, dedupe_key=f"checkin.hold:{out.view.user_id}:{due.date()}")
    )


def apply_rule(out: Outcome, rule_id: str, source: str, now: datetime, content: Content) -> Outcome:
    """Advice plus the conversation change: end the session, ask for rest days, offer to drop an exercise."""
    rule = advise(out, rule_id, source, now, content)
    view = out.view
    in_session = view.conversation.flow == "session"
    if rule.action == "stop_exercise":
        if in_session and session.current_exercise(view) is not None:
            return session.exercise_hurt(out, now, content, advised=True)
        return offer_drop_any(out, content)
    if rule.action in ENDS_SESSION and in_session:
        session.end(out, "safety", now)
    if rule.action == "rest_pause":
        return rest.start(out, content)
    if rule.action in HOLD_ACTIONS:
        reset(view)
        out.say(content.msg("hold.how_to_resume"))
        return out
    if rule.action == "end_session_consult":
        reset(view)
        return out
    # routine advice: nothing else changes; carry on where they were.
    return session.reprompt(out, content) if in_session else out


def offer_drop_any(out: Outcome, content: Content) -> Outcome:
    """Outside a session: which exercise caused it? Offer to drop it from the plan."""
    view = out.view
    plan = view.profile.exercises
    if not plan:
        return out
    go(view, "drop", "pick")
    buttons = [Button(content.program.exercise(ex).name, f"drop:{ex}") for ex in plan]
    buttons.append(Button(content.msg("drop.keep_all"), "keep"))
    return out.ask(content.msg("drop.which"), buttons)


def symptom_menu(out: Outcome, content: Content) -> Outcome:
    """`/symptoms` and "My back is worse": every rule as a button, most urgent first."""
    interrupt(out.view, "symptoms", "menu")
    rules = sorted(content.safety.rules, key=lambda r: r.priority)
    buttons = [Button(r.label, f"rule:{r.id}") for r in rules]
    buttons.append(Button(content.msg("symptoms.none"), "none"))
    return out.ask(content.msg("symptoms.ask"), buttons)

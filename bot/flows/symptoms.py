"""Safety rules: advice first, then the state change the rules table asks for.

Advice is always the first reply of the turn and is never placed behind a button; emergency advice
also ends whatever was running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.effects import ScheduleEvent, SymptomLogged
from bot.flows import rest, session
from bot.flows.common import Outcome, go, interrupt, local_today, reset
from bot.state import UserView
from bot.types import Button, Reply
from content.loader import HOLDING_ACTIONS, Content, SafetyRule

HOLD_ACTIONS = HOLDING_ACTIONS | {"crisis"}
ENDS_SESSION = HOLD_ACTIONS | {"end_session_consult", "rest_pause"}
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


def apply_rule(out: Outcome, rule_id: str, source: str, now: datetime, content: Content) -> Outcome:
    """Advice plus the conversation change: end the session, ask for rest days, offer to drop an exercise."""
    rule = advise(out, rule_id, source, now, content)
    view = out.view
    in_session = session.is_open(view)
    if rule.action == "stop_exercise":
        if view.conversation.flow == "session" and session.current_exercise(view) is not None:
            return session.exercise_hurt(out, now, content, advised=True)
        return offer_drop_any(out, content)
    if rule.action == "end_session_consult":
        _ended_for_today(out, now, content)
    if rule.action in ENDS_SESSION and in_session:
        session.end(out, "safety", now, content)
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
    # routine advice: nothing else changes; carry on where they were.
    return session.reprompt(out, content) if in_session else out


def _ended_for_today(out: Outcome, now: datetime, content: Content) -> None:
    """Radiating pain: "we will end today's session here" holds until the person's local midnight, and the
    exercise that caused it (if one was running) is logged and brought up at the start of the next session."""
    view = out.view
    view.profile.session_ended_on = local_today(view, now)
    exercise = session.current_exercise(view)
    started = view.conversation.ctx.get("started_at")
    if exercise is None or not started:
        return
    out.effects.append(session.exercise_log(view, "radiating", now, content))
    if exercise not in view.profile.review:
        view.profile.review.append(exercise)


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

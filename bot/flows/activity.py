"""Logging general physical activity: minutes and exertion, checked against the sheet's guidance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.effects import ActivityLogged, ActivityRemoved
from bot.flows import registry, safety
from bot.flows.common import GLOBAL_PREFIX, Outcome, local_today, parse_int, reset, scale_buttons
from bot.flows.registry import AT_REST, Flow, Need, Step, go
from bot.state import FlowCtx, FlowName, UserView
from bot.types import Button, Inbound, Reply
from content.loader import Content

FLOW = FlowName.ACTIVITY
UNDO = "activity.undo:"  # global actions, after the prefix, tagged with when the entry was logged
FIX = "activity.fix:"
MINUTE_CHOICES = (10, 20, 30, 45, 60)
MAX_MINUTES = 24 * 60


def offer(out: Outcome, content: Content, *, after_session: bool) -> Outcome:
    go(out.view, Steps.OFFER)
    ActivityCtx.of(out.view).after_session = after_session
    return out.ask(
        content.msg("activity.offer"),
        [Button(content.msg("button.log_activity"), "log"), Button(content.msg("button.not_now"), "skip")],
    )


def start(out: Outcome, content: Content) -> Outcome:
    """`/activity`: straight to the minutes question, unless a hold for chest pain, the heart, emergency or
    same-day signs is on: then the hold's advice again instead of encouragement."""
    held = safety.activity_hold(out.view, content)
    if held is not None:
        reset(out.view)
        safety.repeat_hold(out, held, content)
        return out.say(content.msg("activity.held"))
    go(out.view, Steps.MINUTES)
    ActivityCtx.of(out.view).after_session = False
    return _ask_minutes(out, content)


def _ask_minutes(out: Outcome, content: Content) -> Outcome:
    buttons = [Button(content.msg("activity.minutes_button", minutes=m), f"min:{m}") for m in MINUTE_CHOICES]
    return out.ask(content.msg("activity.ask_minutes"), buttons)


def _ask_exertion(out: Outcome, content: Content) -> Outcome:
    guidance = content.program.general_activity
    return out.ask(content.msg("activity.ask_exertion", scale=guidance.exertion_scale), scale_buttons(1, 10, "ex:"))


class Steps(StrEnum):
    OFFER = "offer"  # after a session: log some activity?
    MINUTES = "minutes"
    EXERTION = "exertion"


class ActivityCtx(FlowCtx):
    """The activity being logged. `minutes` is also the duration a chat message gave, while "log N minutes?"
    is asked (bot/flows/freetext.py)."""

    minutes: int | None = None
    after_session: bool = False  # the question after a session: its summary follows
    replacing: str | None = None  # "Change minutes": the tag of the entry this one replaces


def reprompt(out: Outcome, content: Content) -> Outcome:
    return ACTIVITY_FLOW.reprompt(out, content)


def _on_offer(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    if answer in {"log", "yes"}:
        go(out.view, Steps.MINUTES)
        return _ask_minutes(out, content)
    if answer in {"skip", "no"}:
        return finish(out, now, content)
    return None


def _on_minutes(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    minutes = int(answer[4:]) if answer.startswith("min:") else parse_int(event.text, 1, MAX_MINUTES)
    if minutes is None:
        typed = parse_int(event.text, -(10**6), 10**6) if event.text else None
        key = "error.minutes_range" if typed is not None else "error.minutes"
        out.say(content.msg(key, max=MAX_MINUTES, value=typed))
        return _ask_minutes(out, content)
    go(out.view, Steps.EXERTION)
    ActivityCtx.of(out.view).minutes = minutes
    return _ask_exertion(out, content)


def _on_exertion(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    exertion = int(answer[3:]) if answer.startswith("ex:") else parse_int(event.text, 1, 10)
    if exertion is None:
        out.say(content.msg("error.exertion"))
        return _ask_exertion(out, content)
    minutes = ActivityCtx.of(out.view).minutes
    if minutes is None:  # (never stored without it: asked again rather than guessed)
        go(out.view, Steps.MINUTES)
        return _ask_minutes(out, content)
    return _log(out, minutes, exertion, now, content)


def _ask_offer(out: Outcome, content: Content) -> Outcome:
    return offer(out, content, after_session=ActivityCtx.of(out.view).after_session)


def _log(out: Outcome, minutes: int, exertion: int, now: datetime, content: Content) -> Outcome:
    view = out.view
    guidance = content.program.general_activity
    replacing = ActivityCtx.of(view).replacing
    last = view.profile.last_activity
    day = local_today(view, now)
    if replacing and last and last.get("tag") == replacing and "at" in last:
        out.effects.append(ActivityRemoved(at=datetime.fromisoformat(str(last["at"]))))  # "Change minutes"
        if last.get("date") == day.isoformat():
            view.history.activity_minutes_today -= int(last["minutes"])
    out.effects.append(ActivityLogged(local_date=day, minutes=minutes, exertion=exertion, at=now))
    tag = str(int(last["tag"]) + 1 if last and str(last.get("tag", "")).isdigit() else 1)
    view.profile.last_activity = {"at": now.isoformat(), "minutes": minutes, "date": day.isoformat(), "tag": tag}
    total = view.history.activity_minutes_today + minutes
    view.history.activity_minutes_today = total
    text = content.msg(
        "activity.logged",
        minutes=minutes,
        total=total,
        low=guidance.daily_minutes.low,
        high=guidance.daily_minutes.high,
    )
    out.replies.append(  # global buttons: they stay valid whatever is asked next (the session's summary)
        Reply(
            text=text,
            buttons=(
                Button(content.msg("button.activity_undo"), f"{GLOBAL_PREFIX}{UNDO}{tag}"),
                Button(content.msg("button.activity_fix"), f"{GLOBAL_PREFIX}{FIX}{tag}"),
            ),
        )
    )
    band = {"low": guidance.exertion.low, "high": guidance.exertion.high}
    if exertion < guidance.exertion.low:
        out.say(content.msg("activity.exertion_low", **band, progression=guidance.progression))
    elif exertion > guidance.exertion.high:
        out.say(content.msg("activity.exertion_high", **band, talk_test=guidance.talk_test))
    return finish(out, now, content)


def is_correction(name: str) -> bool:
    """`name` is a global action without its prefix."""
    return name.startswith((UNDO, FIX))


def correct(out: Outcome, name: str, content: Content) -> Outcome:
    """Undo the last logged activity, or undo it and ask the minutes again. Only the last one can be
    corrected here, so an old message's button never removes a newer entry."""
    view = out.view
    tag = name.removeprefix(UNDO).removeprefix(FIX)
    last = view.profile.last_activity
    if not last or last.get("tag") != tag or "at" not in last:
        return out.say(content.msg("activity.cannot_correct"))
    if name.startswith(FIX):
        if view.conversation.flow not in AT_REST and view.conversation.flow != FLOW:
            return out.say(content.msg("activity.correct_later"))
        go(view, Steps.MINUTES)
        ctx = ActivityCtx.of(view)
        ctx.after_session, ctx.replacing = False, tag
        out.say(content.msg("activity.fix", minutes=last["minutes"]))
        return _ask_minutes(out, content)
    out.effects.append(ActivityRemoved(at=datetime.fromisoformat(str(last["at"]))))
    view.profile.last_activity = {"tag": tag}  # keeps the counter: a later entry never reuses this tag
    return out.say(content.msg("activity.undone", minutes=last["minutes"], date=last["date"]))


def finish(out: Outcome, now: datetime, content: Content) -> Outcome:
    if _after_session(out.view):  # the session's summary closes the whole thing (its hook)
        return registry.after_activity(out, now, content)
    reset(out.view)
    return out


def _after_session(view: UserView) -> bool:
    """The activity question after a session is still the session: stop ends it, no reminder interrupts it."""
    return ActivityCtx.of(view).after_session


def _recover(out: Outcome, content: Content) -> Outcome:
    if _after_session(out.view):  # the session still closes with its summary: ask the activity question again
        return _ask_offer(out, content)
    return out


ACTIVITY_FLOW = Flow(
    FLOW,
    Steps,
    {
        Steps.OFFER: Step(_on_offer, _ask_offer),
        Steps.MINUTES: Step(_on_minutes, _ask_minutes),
        Steps.EXERTION: Step(_on_exertion, _ask_exertion),
    },
    context=ActivityCtx,
    needs=Need.FIGURES,  # today's minutes so far
    recover=_recover,
    in_session=_after_session,
)

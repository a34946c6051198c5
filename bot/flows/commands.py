"""Commands that work from anywhere: help, history, pause, resume, stop, delete."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.effects import EraseUser
from bot.flows import registry, rest, session, symptoms
from bot.flows.common import Outcome, parse_int, reset, zone_of
from bot.flows.preferences import describe_schedule
from bot.flows.registry import Flow, Step, come_back, go, interrupt
from bot.state import FlowName
from bot.types import Attachment, Button, Inbound, Reply
from content.loader import Content

PAUSE_DAYS = (1, 3, 7)


def help_text(out: Outcome, content: Content) -> Outcome:
    out.say(content.msg("help.commands"))
    return out.say(content.safety.disclaimer)


def history(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Short enough for a chat: the last sessions, this week's activity against the goal, symptoms, pauses."""
    h = out.view.history
    if not h.recent_sessions and not h.activity_by_day and not h.symptoms_30d:
        return out.say(content.msg("history.empty"))
    lines = [content.msg("history.title")]
    for s in h.recent_sessions:
        pain = (
            ""
            if s.pain_before is None
            else content.msg("history.pain", before=s.pain_before, after="?" if s.pain_after is None else s.pain_after)
        )
        lines.append(
            content.msg(
                "history.session",
                date=s.local_date.isoformat(),
                status=content.msg(f"status.{s.status}"),
                done=s.done,
                skipped=s.skipped,
                hurt=s.hurt,
                pain=pain,
            )
        )
        if s.radiating:
            names = ", ".join(_exercise_name(ex, content) for ex in s.radiating)
            lines.append(content.msg("history.radiating", names=names))
    praise = symptoms.activity_hold(out.view, content) is None  # no "goal met" during a chest-pain/heart hold
    if h.activity_by_day:
        goal = content.program.general_activity.daily_minutes
        lines.append(content.msg("history.activity_title", low=goal.low, high=goal.high))
        for day, minutes in sorted(h.activity_by_day.items()):
            mark = content.msg("history.goal_met") if minutes >= goal.low and praise else ""
            lines.append(content.msg("history.activity_day", date=day.isoformat(), minutes=minutes) + mark)
        met = sum(1 for m in h.activity_by_day.values() if m >= goal.low)
        if praise:
            lines.append(content.msg("history.goal_days", days=met, low=goal.low))
    if h.symptoms_30d:
        lines.append(content.msg("history.symptoms_title"))
        for rule_id, count in sorted(h.symptoms_30d.items()):
            lines.append(content.msg("history.symptom", label=content.safety.rule(rule_id).label, count=count))
    if out.view.schedule.hold_reason:
        lines.append(content.msg("history.on_hold", reason=content.safety.rule(out.view.schedule.hold_reason).label))
    paused = out.view.schedule.paused_until
    if paused and paused > now:
        lines.append(content.msg("history.paused", until=f"{paused.astimezone(zone_of(out.view)):%a %d %b %H:%M}"))
    elif not out.view.schedule.reminders_on and out.view.schedule.reminder_time:
        lines.append(content.msg("history.reminders_off"))
    lines.append(content.msg("history.export_hint"))
    return out.say("\n".join(lines))


def _exercise_name(exercise_id: str, content: Content) -> str:
    return next((e.name for e in content.program.exercises if e.id == exercise_id), exercise_id)


def export(out: Outcome, now: datetime, content: Content, text: str = "/export") -> Outcome:
    """`/export`: the person's own records as CSV and the clinician's record as PDF (bot/record.py).
    `/export name J. Smith` first sets the name or identifier the PDF's header shows (never a platform id)."""
    from bot.export import rows, to_csv
    from bot.progress import Records
    from bot.record import NAME_MAX, build, clean_name
    from bot.render_jobs import pdf_job

    view = out.view
    words = text.split(maxsplit=2)
    if len(words) > 1 and words[1].lower() == "name":
        name = clean_name(words[2] if len(words) > 2 else "")
        if len(name) > NAME_MAX:
            return out.say(content.msg("export.name_too_long", max=NAME_MAX))
        view.profile.record_name = name or None
        out.say(content.msg("export.name_set", name=name) if name else content.msg("export.name_cleared"))
    records = view.history.records or Records()
    if not (records.sessions or records.activities or records.symptoms or records.skips):
        return out.say(content.msg("export.empty"))
    zone = zone_of(view)
    stamp = now.astimezone(zone).date().isoformat()
    out.replies.append(
        Reply(
            text=content.msg("export.csv"),
            document=Attachment(
                f"backcoach-history-{stamp}.csv", "text/csv", to_csv(rows(records, zone, content), content)
            ),
        )
    )
    record = build(view, records, now, content)
    out.replies.append(pdf_job(content.msg("export.pdf"), f"backcoach-record-{stamp}.pdf", record))
    if not view.profile.record_name:
        out.say(content.msg("export.name_hint"))
    return out


PAUSE, DELETE = FlowName.PAUSE, FlowName.DELETE


class PauseSteps(StrEnum):
    LENGTH = "length"


class DeleteSteps(StrEnum):
    CONFIRM = "confirm"


def ask_pause(out: Outcome, content: Content) -> Outcome:
    go(out.view, PauseSteps.LENGTH)
    buttons = [Button(content.msg("pause.days_button", days=d), f"pause:{d}") for d in PAUSE_DAYS]
    buttons.append(Button(content.msg("button.cancel"), "cancel"))
    return out.ask(content.msg("pause.ask"), buttons)


def _on_pause(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    typed = parse_int(event.text, 1, max(PAUSE_DAYS)) if event.text else None
    if typed in PAUSE_DAYS:
        answer = f"pause:{typed}"
    if answer.startswith("pause:") and answer[6:].isdigit() and int(answer[6:]) in PAUSE_DAYS:
        days = int(answer[6:])
        out.view.schedule.paused_until = now + timedelta(days=days)
        out.view.profile.paused_manually = True
        reset(out.view)
        return out.say(content.msg("pause.done", days=days))
    if answer == "cancel":
        reset(out.view)
        return out.say(content.msg("pause.cancelled"))
    return None


def resume(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Resume after a pause; a safety hold first needs the person to confirm they had guidance."""
    schedule = out.view.schedule
    if schedule.hold_reason == "crisis":
        out.say(content.msg("crisis.before_resume"))  # the help again first; lifting the hold takes a second tap
    if schedule.hold_reason:
        return rest.ask_cleared(out, content)
    schedule.paused_until = None
    out.view.profile.summary_on = True
    if schedule.reminder_time:
        schedule.reminders_on = True
    out.say(content.msg("resume.done", schedule=describe_schedule(out, content)))
    return out.ask(content.msg("resume.start"), [Button(content.msg("button.start_now"), "g.today")])


def cleared(out: Outcome, now: datetime, content: Content) -> Outcome:
    """They confirmed their clinician's guidance: lift the hold and start gently."""
    schedule = out.view.schedule
    if not schedule.hold_reason:
        return resume(out, now, content)
    schedule.hold_reason = None
    schedule.paused_until = None
    out.say(content.msg("hold.cleared"))
    return out.ask(content.msg("resume.start"), [Button(content.msg("button.start_now"), "g.today")])


def keep_resting(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Not ready yet after rest days: one more day, then ask again."""
    rest.pause_for_rest(out, 1, now, content)
    return out


def stop(out: Outcome, now: datetime, content: Content, *, reminders_off: bool) -> Outcome:
    """Leave whatever is running at once; `/stop` (or stop when idle) also turns reminders off."""
    view = out.view
    flow = view.conversation.flow
    if registry.in_session(view):
        session.end(out, "stopped", now, content)
        out.say(content.msg("stop.session"))
    elif flow == FlowName.ONBOARDING and not view.profile.onboarded:
        reset(view, FlowName.NEW)
        return out.say(content.msg("stop.onboarding"))
    else:
        reset(view)
    if reminders_off:
        already = not view.schedule.reminders_on and not view.profile.summary_on
        view.schedule.reminders_on = False
        view.profile.summary_on = False
        return out.say(content.msg("stop.already_off" if already else "stop.reminders_off"))
    return out.say(reminder_state(out, now, content))


def reminder_state(out: Outcome, now: datetime, content: Content) -> str:
    """What "stop" says about reminders: always the current settings, never a stock sentence."""
    schedule = out.view.schedule
    if schedule.hold_reason:
        return content.msg("stop.state_held")
    if not schedule.reminders_on or not schedule.reminder_time:
        return content.msg("stop.state_off")
    if schedule.paused_until and schedule.paused_until > now:
        until = f"{schedule.paused_until.astimezone(zone_of(out.view)):%a %d %b %H:%M}"
        return content.msg("stop.state_paused", until=until)
    return content.msg("stop.reminders_hint")


def ask_delete(out: Outcome, content: Content) -> Outcome:
    interrupt(out.view, DeleteSteps.CONFIRM)
    return out.ask(
        content.msg("delete.ask"),
        [Button(content.msg("button.delete_all"), "delete:yes"), Button(content.msg("button.cancel"), "cancel")],
    )


def _on_delete(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    if answer == "delete:yes":
        out.effects.append(EraseUser())
        reset(out.view, FlowName.NEW)
        return out.say(content.msg("delete.done"))
    if answer in {"cancel", "no"}:
        out.say(content.msg("delete.cancelled"))
        return registry.reprompt(out, content) if come_back(out.view) else out
    return None


PAUSE_FLOW = Flow(PAUSE, PauseSteps, {PauseSteps.LENGTH: Step(_on_pause, ask_pause)})
DELETE_FLOW = Flow(DELETE, DeleteSteps, {DeleteSteps.CONFIRM: Step(_on_delete, ask_delete)})

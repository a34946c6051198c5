"""The weekly summary: a self-rescheduling outbox event, and the message with its chart.

Planning: one `summary` event at a time, keyed `summary:<user id>:<local date>` (unique in the outbox, so one
date can never be queued twice), due at the person's reminder time — or DEFAULT_TIME (10:00 local) when they
have none — on their summary day (default Sunday), computed with `local_instant` in their zone (DST-safe).
`profile.summary_next` names the one planned date: an event for any other date (left behind when the day
was changed) is stale and does nothing; the token also carries the planned instant, so a summary replanned to
another time on the same date (a new zone or reminder time) leaves the old event stale too. When a summary
fires it plans the next one at least 7 days after it, so a change of day never brings two summaries within a
week. A summary covers exactly the 7 local dates before the day it comes (its own day goes into the next
one), comes during pauses too (a week of rest is the week a clinician needs to see), and waits while a
session is under way. /stop (summary_on False) keeps the events running but sends nothing; planning lives in
the outbox, so it survives restarts. The first one is planned by dispatch on any message once onboarded;
settings replan it at once when the zone or reminder time changes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.effects import ScheduleEvent
from bot.flows import registry
from bot.flows.common import Outcome, zone_of
from bot.progress import Records, WeekSummary, next_summary_date, week_summary
from bot.render_jobs import chart_job
from bot.schedule.timing import local_instant
from bot.types import Reply
from content.loader import Content

ACTION = "summary"
DEFAULT_TIME = time(10, 0)
LOST_AFTER = timedelta(days=7)  # a planned date this far past without firing is replanned
WAIT_FOR_SESSION = timedelta(minutes=30)  # a summary due mid-session asks again this much later


def plan(out: Outcome, now: datetime, *, force: bool = False) -> None:
    """Plan the next summary unless one is already planned in the future (`force`: the day or time changed)."""
    view = out.view
    profile = view.profile
    zone = zone_of(view)
    if profile.summary_next and not force and profile.summary_next >= now.astimezone(zone).date() - LOST_AFTER:
        return  # planned (an overdue one is still in the outbox and will fire late, once)
    at = time.fromisoformat(view.schedule.reminder_time) if view.schedule.reminder_time else DEFAULT_TIME
    not_before = profile.summary_last + timedelta(days=7) if profile.summary_last else None
    pending = profile.summary_next  # planned and not sent yet (fire() moves it on when it sends)
    day = next_summary_date(now.astimezone(zone).date(), profile.summary_day, not_before)
    due = local_instant(day, at, zone)
    if due <= now and force and pending == day:
        due = now  # replanned to an earlier time today: this week's summary comes now, not a week late
    elif due <= now:
        day = next_summary_date(day + timedelta(days=1), profile.summary_day)
        due = local_instant(day, at, zone)
    profile.summary_next, profile.summary_at = day, due.isoformat()
    token = f"{day.isoformat()}@{due.isoformat()}"
    out.effects.append(ScheduleEvent(ACTION, due, f"summary:{view.user_id}:{token}", {"token": token}))


def fire(out: Outcome, token: str, now: datetime, content: Content) -> Outcome:
    """The planned summary is due: plan the next one, then send this week's figures (unless stopped/paused)."""

    view = out.view
    profile = view.profile
    day, _, planned_at = token.partition("@")
    if not profile.onboarded or not profile.summary_next or day != profile.summary_next.isoformat():
        return out  # stale: the day was changed after this one was planned
    if planned_at and planned_at != profile.summary_at:
        return out  # stale: replanned to another time (a new zone or reminder time)
    if registry.session_open(view):  # never in the middle of a session: ask again a little later
        later = now + WAIT_FOR_SESSION
        out.effects.append(
            ScheduleEvent(ACTION, later, f"summary:{view.user_id}:{token}:{later.isoformat()}", {"token": token})
        )
        return out
    summary_day = profile.summary_next
    profile.summary_last = summary_day
    plan(out, now, force=True)
    if not profile.summary_on:
        return out
    records = view.history.records or Records()
    goal = content.program.general_activity.daily_minutes
    week = week_summary(records, summary_day - timedelta(days=1), zone_of(view), goal.low, profile.progress)
    out.say(summary_text(week, content))
    out.replies.append(chart_reply(week, content))
    return out


def summary_text(week: WeekSummary, content: Content) -> str:
    goal = content.program.general_activity.daily_minutes
    lines = [
        content.msg("summary_week.title", start=f"{week.start:%a %d %b}", end=f"{week.end:%a %d %b}"),
        content.msg("summary_week.sessions", done=week.sessions_done, exercises=week.exercises_done),
    ]
    if week.pain_avg is not None:
        previous = (
            "" if week.pain_prev_avg is None else content.msg("summary_week.pain_previous", avg=week.pain_prev_avg)
        )
        lines.append(
            content.msg(
                "summary_week.pain",
                avg=week.pain_avg,
                previous=previous,
                trend=content.msg(f"summary_week.trend.{week.trend}"),
            )
        )
    lines.append(
        content.msg(
            "summary_week.activity", minutes=week.activity_minutes, days=week.goal_days, low=goal.low, high=goal.high
        )
    )
    for ex_id, reps, hold in week.progression:
        name = _exercise_name(ex_id, content)
        if reps:
            lines.append(content.msg("summary_week.progress_reps", name=name, reps=reps))
        if hold:
            lines.append(content.msg("summary_week.progress_hold", name=name, seconds=hold))
    if week.symptoms:
        labels = ", ".join(f"{_rule_label(r, content)} ({n}×)" for r, n in sorted(week.symptoms.items()))
        lines.append(content.msg("summary_week.symptoms", symptoms=labels))
    if week.sessions_done == 0 and week.activity_minutes == 0:
        lines.append(content.msg("summary_week.quiet_week"))
    return "\n".join(lines)


def chart_reply(week: WeekSummary, content: Content) -> Reply:
    """The chart is drawn when the message is sent (bot.rendering), not inside this transaction."""
    return chart_job(content.msg("summary_week.chart_caption"), f"backcoach-week-{week.end.isoformat()}.png", week)


def _exercise_name(ex_id: str, content: Content) -> str:
    return next((e.name for e in content.program.exercises if e.id == ex_id), ex_id)


def _rule_label(rule_id: str, content: Content) -> str:
    return next((r.label for r in content.safety.rules if r.id == rule_id), rule_id)


def day_name(weekday: int, content: Content) -> str:
    return content.msg("summary_week.day_names").split(",")[weekday].strip()

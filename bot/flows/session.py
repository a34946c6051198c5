"""A guided exercise session: pre-check, each exercise step by step with holds and repetitions,
post-check, activity, summary. Every exercise step offers Done / Skip / This hurts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.effects import ExerciseLogged, ScheduleEvent, SessionRecord
from bot.flows import activity
from bot.flows.common import Outcome, answer_of, go, local_today, parse_int, reset, scale_buttons, yes_no
from bot.state import ExerciseProgress, UserView
from bot.types import Button, Inbound, InboundKind
from content.loader import Content, Exercise

FLOW = "session"


# ---- entry and exit ---------------------------------------------------------------------------


def start(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Begin a session, or explain why not (held for guidance, resting after a flare-up)."""
    view = out.view
    schedule = view.schedule
    if schedule.hold_reason:
        rule = content.safety.rule(schedule.hold_reason)
        return out.ask(
            content.msg("session.held", reason=rule.label),
            [Button(content.msg("button.cleared"), "g.cleared"), Button(content.msg("button.not_yet"), "g.not_yet")],
        )
    if schedule.paused_until and schedule.paused_until > now:
        return out.ask(
            content.msg("session.resting"),
            [
                Button(content.msg("button.resume_now"), "g.resume"),
                Button(content.msg("button.keep_resting"), "g.rest"),
            ],
        )
    plan = [ex for ex in view.profile.exercises if _known(ex, content)] or [e.id for e in content.program.exercises]
    reset(view, FLOW)
    go(
        view,
        FLOW,
        "precheck",
        started_at=now.isoformat(),
        local_date=local_today(view, now).isoformat(),
        queue=plan,
        i=0,
        pre=0,
        results={},
        helped=[],
    )
    out.effects.append(SessionRecord(started_at=now, local_date=local_today(view, now)))
    out.say(content.msg("session.intro", count=len(plan)))
    return _ask_precheck(out, content)


def end(out: Outcome, status: str, now: datetime) -> None:
    """Close the session record (completed / stopped / safety) and leave the flow."""
    ctx = out.view.conversation.ctx
    started = _started(out.view)
    if started is None:
        return
    out.effects.append(
        SessionRecord(
            started_at=started,
            local_date=datetime.fromisoformat(ctx["local_date"]).date(),
            status=status,
            pain_before=ctx.get("pain_before"),
            pain_after=ctx.get("pain_after"),
            helped=tuple(ctx.get("helped", [])),
            ended_at=now,
        )
    )
    reset(out.view)


def current_exercise(view: UserView) -> str | None:
    ctx = view.conversation.ctx
    if view.conversation.flow != FLOW or view.conversation.step not in {"exercise", "drop_offer"}:
        return None
    queue = ctx.get("queue", [])
    i = ctx.get("i", 0)
    return queue[i] if i < len(queue) else None


# ---- the step machine -------------------------------------------------------------------------


def handle(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    view = out.view
    step = view.conversation.step
    if event.kind is InboundKind.SYSTEM:
        return _on_timer(out, event, now, content) if event.action == "timer" else out
    answer = answer_of(event, view, content)
    if step == "precheck":
        return _on_precheck(out, answer, now, content)
    if step == "pain_before":
        return _on_pain(out, answer, event, "pain_before", now, content)
    if step == "exercise":
        return _on_exercise(out, answer, now, content)
    if step == "drop_offer":
        return _on_drop(out, answer, now, content)
    if step == "pain_after":
        return _on_pain(out, answer, event, "pain_after", now, content)
    if step == "helped":
        return _on_helped(out, answer, now, content)
    return reprompt(out, content)


def reprompt(out: Outcome, content: Content) -> Outcome:
    """Ask the current question again (after a restart, unclear input, or a stale button)."""
    step = out.view.conversation.step
    if step == "precheck":
        return _ask_precheck(out, content)
    if step == "pain_before":
        return out.ask(content.msg("session.pain_before"), scale_buttons(0, 10, "pain:"))
    if step == "exercise":
        return _show_exercise(out, content)
    if step == "drop_offer":
        return _ask_drop(out, content)
    if step == "pain_after":
        return out.ask(content.msg("session.pain_after"), scale_buttons(0, 10, "pain:"))
    if step == "helped":
        return _ask_helped(out, content)
    return out


def _ask_precheck(out: Outcome, content: Content) -> Outcome:
    question = content.safety.session_precheck[out.view.conversation.ctx["pre"]]
    return out.ask(question.text, yes_no(content))


def _on_precheck(out: Outcome, answer: str, now: datetime, content: Content) -> Outcome:
    from bot.flows import symptoms  # cycle: symptoms ends sessions, sessions report symptoms

    ctx = out.view.conversation.ctx
    questions = content.safety.session_precheck
    if answer == "yes":
        return symptoms.apply_rule(out, questions[ctx["pre"]].rule, "precheck", now, content)
    if answer != "no":
        out.say(content.msg("error.choose_button"))
        return _ask_precheck(out, content)
    ctx["pre"] += 1
    if ctx["pre"] < len(questions):
        return _ask_precheck(out, content)
    go(out.view, FLOW, "pain_before")
    return reprompt(out, content)


def _on_pain(out: Outcome, answer: str, event: Inbound, key: str, now: datetime, content: Content) -> Outcome:
    value = int(answer[5:]) if answer.startswith("pain:") else parse_int(event.text, 0, 10)
    if value is None:
        out.say(content.msg("error.pain_scale"))
        return reprompt(out, content)
    ctx = out.view.conversation.ctx
    ctx[key] = value
    if key == "pain_before":
        out.effects.append(_record(out.view))
        go(out.view, FLOW, "exercise", i=0, phase="intro", k=0, side=1, rep=1)
        return _show_exercise(out, content)
    go(out.view, FLOW, "helped")
    return _ask_helped(out, content)


# ---- exercises --------------------------------------------------------------------------------


def _exercise(view: UserView, content: Content) -> Exercise:
    ctx = view.conversation.ctx
    return content.program.exercise(ctx["queue"][ctx["i"]])


def _dose(view: UserView, exercise: Exercise) -> ExerciseProgress:
    """Today's dose: where progression has got to, starting gently inside the sheet's ranges."""
    saved = view.profile.progress.get(exercise.id)
    dosage = exercise.dosage
    reps = saved.repetitions if saved and saved.repetitions else None
    hold = saved.hold_seconds if saved and saved.hold_seconds else None
    if dosage.repetitions_start and reps is None:
        reps = -(-(dosage.repetitions_start.low + dosage.repetitions_start.high) // 2)
    if dosage.hold_seconds and hold is None:
        hold = dosage.hold_seconds.low
    return ExerciseProgress(repetitions=reps, hold_seconds=hold)


def _step_buttons(content: Content) -> list[Button]:
    return [
        Button(content.msg("button.done"), "done"),
        Button(content.msg("button.skip"), "skip"),
        Button(content.msg("button.hurts"), "hurts"),
    ]


def _show_exercise(out: Outcome, content: Content) -> Outcome:
    view = out.view
    ctx = view.conversation.ctx
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    phase = ctx["phase"]
    total = len(ctx["queue"])
    if phase == "intro":
        text = content.msg("exercise.intro", n=ctx["i"] + 1, total=total, name=exercise.name, purpose=exercise.purpose)
        return out.ask(text, [Button(content.msg("button.start"), "start"), Button(content.msg("button.skip"), "skip")])
    if phase == "step":
        text = content.msg("exercise.step", k=ctx["k"] + 1, steps=len(exercise.steps), text=exercise.steps[ctx["k"]])
        if ctx["side"] == 2 and ctx["k"] == 0:
            text = f"{content.msg('exercise.other_side')}\n{text}"
        return out.ask(text, _step_buttons(content))
    if phase == "reps":
        beats = " · ".join(exercise.dosage.count)
        text = content.msg("exercise.rep", rep=ctx["rep"], reps=dose.repetitions, count=beats)
        return out.ask(text, _step_buttons(content))
    # phase == "hold"
    if dose.hold_seconds and ctx["side"] == 2:  # the sheet's "then switch sides" is already done
        text = content.msg("exercise.hold_timed_other_side", seconds=dose.hold_seconds)
    elif dose.hold_seconds:
        text = content.msg("exercise.hold_timed", seconds=dose.hold_seconds, hold=exercise.dosage.hold_text)
    else:
        text = content.msg("exercise.hold_untimed", hold=exercise.dosage.hold_text)
    return out.ask(text, _step_buttons(content))


def _start_hold(out: Outcome, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = view.conversation.ctx
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    ctx["phase"] = "hold"
    if dose.hold_seconds:
        token = f"{ctx['started_at']}|{ctx['i']}|{ctx['side']}"
        ctx["timer"] = token
        out.effects.append(
            ScheduleEvent(
                action="timer",
                due_at=now + timedelta(seconds=dose.hold_seconds),
                dedupe_key=f"timer:{view.user_id}:{token}",
                data={"token": token},
            )
        )
    return _show_exercise(out, content)


def _on_timer(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    if out.view.conversation.step != "exercise" or ctx.get("phase") != "hold" or ctx.get("timer") != event.text:
        return out  # the person already moved on: a late timer says nothing
    out.say(content.msg("exercise.release"))
    return _hold_finished(out, now, content)


def _hold_finished(out: Outcome, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = view.conversation.ctx
    ctx.pop("timer", None)
    exercise = _exercise(view, content)
    if exercise.dosage.sides == "both" and ctx["side"] == 1:
        ctx.update(side=2, phase="hold")
        out.say(content.msg("exercise.switch_sides"))
        return _start_hold(out, now, content)
    return _exercise_finished(out, "done", now, content)


def _on_exercise(out: Outcome, answer: str, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = view.conversation.ctx
    exercise = _exercise(view, content)
    if answer == "skip":
        return _exercise_finished(out, "skipped", now, content)
    if answer == "hurts":
        from bot.flows import symptoms

        return symptoms.apply_rule(out, "exercise_pain", "session", now, content)
    if answer not in {"done", "start"}:
        out.say(content.msg("error.choose_button"))
        return _show_exercise(out, content)
    phase = ctx["phase"]
    if phase == "intro":
        ctx.update(phase="step", k=0)
        return _show_exercise(out, content)
    if phase == "step":
        if ctx["k"] + 1 < len(exercise.steps):
            ctx["k"] += 1
            return _show_exercise(out, content)
        if exercise.dosage.count:
            ctx.update(phase="reps", rep=1)
            return _show_exercise(out, content)
        return _start_hold(out, now, content)
    if phase == "reps":
        if ctx["rep"] < (_dose(view, exercise).repetitions or 1):
            ctx["rep"] += 1
            return _show_exercise(out, content)
        return _exercise_finished(out, "done", now, content)
    return _hold_finished(out, now, content)


def exercise_hurt(out: Outcome, now: datetime, content: Content, *, advised: bool) -> Outcome:
    """The exercise hurt: stop it (advice already shown), log it, and offer to drop it from the plan."""
    view = out.view
    exercise = _exercise(view, content)
    ctx = view.conversation.ctx
    ctx.pop("timer", None)
    out.effects.append(_log(view, exercise.id, "hurt", now))
    ctx["results"][exercise.id] = "hurt"
    go(view, FLOW, "drop_offer")
    return _ask_drop(out, content)


def _ask_drop(out: Outcome, content: Content) -> Outcome:
    exercise = _exercise(out.view, content)
    return out.ask(
        content.msg("exercise.drop_offer", name=exercise.name),
        [Button(content.msg("button.drop"), "drop"), Button(content.msg("button.keep"), "keep")],
    )


def _on_drop(out: Outcome, answer: str, now: datetime, content: Content) -> Outcome:
    view = out.view
    exercise = _exercise(view, content)
    if answer not in {"drop", "keep", "yes", "no"}:
        out.say(content.msg("error.choose_button"))
        return _ask_drop(out, content)
    if answer in {"drop", "yes"}:
        plan = view.profile.exercises or [e.id for e in content.program.exercises]
        view.profile.exercises = [ex for ex in plan if ex != exercise.id]
        out.say(content.msg("exercise.dropped", name=exercise.name))
    else:
        out.say(content.msg("exercise.kept", name=exercise.name))
    go(view, FLOW, "exercise")
    return _next_exercise(out, now, content)


def _exercise_finished(out: Outcome, result: str, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = view.conversation.ctx
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    ctx["results"][exercise.id] = result
    out.effects.append(
        _log(
            view,
            exercise.id,
            result,
            now,
            repetitions=dose.repetitions if result == "done" else None,
            hold=dose.hold_seconds if result == "done" else None,
        )
    )
    if result == "done":
        _progress(view, exercise, dose)
        out.say(content.msg("exercise.well_done", name=exercise.name))
    else:
        out.say(content.msg("exercise.skipped", name=exercise.name))
    return _next_exercise(out, now, content)


def _progress(view: UserView, exercise: Exercise, dose: ExerciseProgress) -> None:
    """Done without pain: move up gradually, never beyond the sheet's range."""
    dosage = exercise.dosage
    new = ExerciseProgress(repetitions=dose.repetitions, hold_seconds=dose.hold_seconds)
    if dosage.repetitions_goal and dose.repetitions is not None:
        new.repetitions = min(dosage.repetitions_goal, dose.repetitions + dosage.repetitions_step)
    if dosage.hold_seconds and dose.hold_seconds is not None:
        new.hold_seconds = min(dosage.hold_seconds.high, dose.hold_seconds + dosage.hold_step_seconds)
    view.profile.progress[exercise.id] = new


def _next_exercise(out: Outcome, now: datetime, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    ctx.update(i=ctx["i"] + 1, phase="intro", k=0, side=1, rep=1)
    if ctx["i"] < len(ctx["queue"]):
        return _show_exercise(out, content)
    go(out.view, FLOW, "pain_after")
    return reprompt(out, content)


# ---- after the exercises ----------------------------------------------------------------------


def _ask_helped(out: Outcome, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    done = [ex for ex, r in ctx["results"].items() if r == "done" and ex not in ctx["helped"]]
    if not done:
        return _finish_exercises(out, content)
    buttons = [Button(content.program.exercise(ex).name, f"helped:{ex}") for ex in done]
    buttons.append(Button(content.msg("button.thats_all"), "helped_done"))
    key = "session.helped_more" if ctx["helped"] else "session.helped"
    return out.ask(content.msg(key), buttons)


def _on_helped(out: Outcome, answer: str, now: datetime, content: Content) -> Outcome:
    ctx = out.view.conversation.ctx
    if answer.startswith("helped:") and answer[7:] in ctx["results"] and answer[7:] not in ctx["helped"]:
        ctx["helped"].append(answer[7:])
        return _ask_helped(out, content)
    if answer in {"helped_done", "no", "done"}:
        return _finish_exercises(out, content)
    out.say(content.msg("error.choose_button"))
    return _ask_helped(out, content)


def _finish_exercises(out: Outcome, content: Content) -> Outcome:
    """Save the post-check and hand over to the activity log, which ends with the summary."""
    out.effects.append(_record(out.view))
    return activity.offer(out, content, after_session=True)


def summary_lines(view: UserView, content: Content) -> list[str]:
    ctx = view.conversation.ctx
    results = ctx.get("results", {})
    lines = [
        content.msg(
            "summary.counts",
            done=sum(1 for r in results.values() if r == "done"),
            skipped=sum(1 for r in results.values() if r == "skipped"),
            hurt=sum(1 for r in results.values() if r == "hurt"),
        )
    ]
    if ctx.get("pain_before") is not None and ctx.get("pain_after") is not None:
        lines.append(content.msg("summary.pain", before=ctx["pain_before"], after=ctx["pain_after"]))
    for ex, r in results.items():
        progress = view.profile.progress.get(ex)
        if r != "done" or progress is None:
            continue
        name = content.program.exercise(ex).name
        if progress.repetitions:
            lines.append(content.msg("summary.next_reps", name=name, reps=progress.repetitions))
        if progress.hold_seconds:
            lines.append(content.msg("summary.next_hold", name=name, seconds=progress.hold_seconds))
    return lines


def complete(out: Outcome, now: datetime, content: Content) -> Outcome:
    """End of a whole session: summary, small wins, and the record closed as completed."""
    view = out.view
    lines = summary_lines(view, content)
    lines.extend(_wins(view, content))
    out.say("\n".join(lines))
    end(out, "completed", now)
    return out


def _wins(view: UserView, content: Content) -> list[str]:
    history = view.history
    earned = []
    if history.sessions_total == 0:
        earned.append("first_session")
    if history.sessions_14d + 1 >= 6:
        earned.append("habit_6_in_14")
    lines = []
    for win in earned:
        if win not in view.profile.milestones:
            view.profile.milestones.append(win)
            lines.append(content.msg(f"win.{win}"))
    return lines


# ---- records ----------------------------------------------------------------------------------


def _started(view: UserView) -> datetime | None:
    raw = view.conversation.ctx.get("started_at")
    return datetime.fromisoformat(raw) if raw else None


def _record(view: UserView, **fields: object) -> SessionRecord:
    ctx = view.conversation.ctx
    started = _started(view)
    assert started is not None
    return SessionRecord(
        started_at=started,
        local_date=datetime.fromisoformat(ctx["local_date"]).date(),
        pain_before=ctx.get("pain_before"),
        pain_after=ctx.get("pain_after"),
        helped=tuple(ctx.get("helped", [])),
        **fields,  # type: ignore[arg-type]
    )


def _log(
    view: UserView,
    exercise_id: str,
    result: str,
    now: datetime,
    *,
    repetitions: int | None = None,
    hold: int | None = None,
) -> ExerciseLogged:
    started = _started(view)
    assert started is not None
    return ExerciseLogged(
        session_started_at=started,
        exercise_id=exercise_id,
        result=result,
        at=now,
        repetitions=repetitions,
        hold_seconds=hold,
    )


def _known(exercise_id: str, content: Content) -> bool:
    return any(e.id == exercise_id for e in content.program.exercises)

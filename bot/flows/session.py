"""A guided exercise session: pre-check, each exercise step by step with holds and repetitions,
post-check, activity, summary. Every exercise step offers Done / Skip / This hurts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from bot.effects import ExerciseLogged, ScheduleEvent, SessionRecord
from bot.flows import activity, safety, symptoms
from bot.flows.common import Outcome, local_today, parse_int, reset, scale_buttons, yes_no
from bot.flows.registry import AT_REST, Flow, Step, go
from bot.state import ExerciseProgress, FlowCtx, FlowName, Instant, UserView
from bot.types import Button, Inbound
from content.loader import Content, Exercise, SafetyRule

FLOW = FlowName.SESSION


# ---- entry and exit ---------------------------------------------------------------------------


def start(out: Outcome, now: datetime, content: Content) -> Outcome:
    """Begin a session, or explain why not (held for guidance, resting after a flare-up, ended for today)."""
    view = out.view
    schedule = view.schedule
    held = safety.hold_rule(view, content)
    if held is not None:
        safety.repeat_hold(out, held, content)
        return out.ask(
            content.msg("session.held"),
            [Button(content.msg("button.cleared"), "g.cleared"), Button(content.msg("button.not_yet"), "g.not_yet")],
        )
    if schedule.paused_until and schedule.paused_until > now and not view.profile.paused_manually:
        return out.ask(
            content.msg("session.resting"),
            [
                Button(content.msg("button.resume_now"), "g.resume"),
                Button(content.msg("button.keep_resting"), "g.rest"),
            ],
        )
    if view.profile.session_ended_on == local_today(view, now):
        return out.say(content.msg("session.ended_today"))
    plan = [ex for ex in view.profile.exercises if _known(ex, content)] or [e.id for e in content.program.exercises]
    reset(view, FLOW)
    go(view, Steps.PRECHECK)
    ctx = SessionCtx.of(view)
    ctx.started_at, ctx.local_date, ctx.last_at = now, local_today(view, now), now
    ctx.queue, ctx.i, ctx.pre, ctx.results, ctx.helped = plan, 0, 0, {}, []
    out.effects.append(SessionRecord(started_at=now, local_date=local_today(view, now)))
    out.say(content.msg("session.intro", count=len(plan)))
    return _ask_precheck(out, content)


def is_open(view: UserView) -> bool:
    """A session is under way, whatever question (exercise, symptom menu, activity) is current."""
    return SessionCtx.of(view).started_at is not None and view.conversation.flow not in AT_REST


def expired(view: UserView, now: datetime, content: Content) -> bool:
    """Left unfinished past the person's local midnight, or silent for longer than content says."""
    ctx = SessionCtx.of(view)
    if not is_open(view) or ctx.started_at is None:
        return False
    last = ctx.last_at or ctx.started_at
    idle = timedelta(hours=content.program.session.idle_hours)
    return local_today(view, now) != ctx.local_date or now - last >= idle


def close_expired(out: Outcome, now: datetime, content: Content) -> bool:
    """Close a session left unfinished (recorded as such) so the next one starts with a fresh safety check.
    True when one was closed; its buttons are then stale."""
    view = out.view
    if not expired(view, now, content):
        return False
    ctx = SessionCtx.of(view)
    day, last = ctx.local_date, ctx.last_at or ctx.started_at
    assert day is not None and last is not None  # an open session has both (`expired`)
    if ctx.hold_at is not None:  # its timer never came: how long it was held is not known
        ctx.hold_at = None
        ctx.held = [*(ctx.held or []), (None, False)]
    end(out, "unfinished", last, content)
    view.conversation.seq += 1  # every button of the closed session is now stale
    out.say(content.msg("session.expired", date=f"{day:%a %d %b}"))
    return True


def touch(view: UserView, now: datetime) -> None:
    """The person said something while a session is open: its silence clock starts again."""
    if is_open(view):
        SessionCtx.of(view).last_at = now


def end(out: Outcome, status: str, now: datetime, content: Content | None = None) -> None:
    """Close the session record (completed / stopped / safety) and leave the flow. Given the content, an
    exercise left part-way (and its hold) is recorded as unfinished."""
    ctx = SessionCtx.of(out.view)
    started = ctx.started_at
    if started is None or ctx.local_date is None:
        return
    ex = current_exercise(out.view)
    if content and ex and out.view.conversation.step == Steps.EXERCISE and ctx.phase != Phase.INTRO:
        if ex not in ctx.results:
            out.effects.append(exercise_log(out.view, "unfinished", now, content))
    out.effects.append(
        SessionRecord(
            started_at=started,
            local_date=ctx.local_date,
            status=status,
            pain_before=ctx.pain_before,
            pain_after=ctx.pain_after,
            helped=tuple(ctx.helped),
            ended_at=now,
        )
    )
    reset(out.view)


def current_exercise(view: UserView) -> str | None:
    if view.conversation.flow != FLOW or view.conversation.step not in {Steps.EXERCISE, Steps.DROP_OFFER}:
        return None
    ctx = SessionCtx.of(view)
    return ctx.queue[ctx.i] if 0 <= ctx.i < len(ctx.queue) else None


# ---- the step machine -------------------------------------------------------------------------


class Steps(StrEnum):
    """The session's steps, in order (a pain of 8 or more asks HIGH_PAIN; a hurt exercise asks DROP_OFFER)."""

    PRECHECK = "precheck"
    REVIEW = "review"
    PAIN_BEFORE = "pain_before"
    HIGH_PAIN = "high_pain"
    EXERCISE = "exercise"
    DROP_OFFER = "drop_offer"
    PAIN_AFTER = "pain_after"
    FELT = "felt"
    HELPED = "helped"


class Phase(StrEnum):
    """Where the current exercise is: introduced, a step of it, a repetition, switching sides, a hold."""

    INTRO = "intro"
    STEP = "step"
    REPS = "reps"
    SWITCH = "switch"
    HOLD = "hold"


class SessionCtx(FlowCtx):
    """What an open session remembers between messages (the keys it has always been stored under). It stays
    while the session's side questions and its activity question are asked: `is_open` reads it."""

    started_at: Instant | None = None  # set while a session is open
    local_date: date | None = None  # the person's day it belongs to (unfinished past its midnight)
    last_at: Instant | None = None  # the person's last message: the silence clock (`expired`)
    queue: list[str] = Field(default_factory=list)  # today's exercises, in order
    i: int = 0  # the current exercise, in `queue`
    pre: int = 0  # the current pre-check question
    results: dict[str, str] = Field(default_factory=dict)  # exercise -> done / skipped / hurt / ...
    helped: list[str] = Field(default_factory=list)  # the exercises the person said helped
    phase: Phase | None = None
    k: int = 0  # the current step of the exercise
    side: int = 1
    rep: int = 1
    pain_before: int | None = None
    pain_after: int | None = None
    hold_at: Instant | None = None  # a hold under way: when it started
    held: list[tuple[int | None, bool]] | None = None  # each side's hold so far: seconds (None: not known), finished
    timer: str | None = None  # the running hold's timer token: a timer with another token is late
    progress_lines: list[str] = Field(default_factory=list)  # what progressed, for the summary

    @classmethod
    def open_in(cls, stored: dict[str, Any]) -> bool:
        """Whether a stored context holds an open session, from its one key: the reminder claim's quick path
        (bot/flows/dispatch.quick_reminder) reads thousands of rows a second without validating them."""
        return bool(stored.get("started_at"))

    def at_exercise(self, i: int) -> None:
        """The exercise at `i` in the queue, from its introduction."""
        self.i, self.phase, self.k, self.side, self.rep = i, Phase.INTRO, 0, 1, 1

    def timer_token(self) -> str:
        assert self.started_at is not None
        return f"{self.started_at.isoformat()}|{self.i}|{self.side}"


def on_timer(out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
    """A hold's timer ran out (a system event; the step table takes the person's answers). With a stored context
    that does not fit, nothing: the person's next message recovers (bot/flows/registry.Flow.lost)."""
    if out.view.conversation.ctx_problems():
        return out
    ctx = SessionCtx.of(out.view)
    if out.view.conversation.step != Steps.EXERCISE or ctx.phase != Phase.HOLD or ctx.timer != event.text:
        return out  # the person already moved on: a late timer says nothing
    out.say(content.msg("exercise.release"))
    return _hold_finished(out, now, content)


def reprompt(out: Outcome, content: Content) -> Outcome:
    """Ask the current question again (after a restart, unclear input, or a stale button)."""
    return SESSION_FLOW.reprompt(out, content)


def _ask_precheck(out: Outcome, content: Content) -> Outcome:
    question = content.safety.session_precheck[SessionCtx.of(out.view).pre]
    return out.ask(question.text, yes_no(content))


def _on_precheck(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    ctx = SessionCtx.of(out.view)
    questions = content.safety.session_precheck
    if answer == "yes":
        return symptoms.apply_rule(out, questions[ctx.pre].rule, "precheck", now, content)
    if answer != "no":
        return None
    ctx.pre += 1
    if ctx.pre < len(questions):
        return _ask_precheck(out, content)
    return _after_precheck(out, content)


def _after_precheck(out: Outcome, content: Content) -> Outcome:
    """An exercise that made pain spread last time is asked about (keep or drop) before anything else."""
    view = out.view
    view.profile.review = [ex for ex in view.profile.review if ex in SessionCtx.of(view).queue]
    if view.profile.review:
        go(view, Steps.REVIEW)
        return _ask_review(out, content)
    go(view, Steps.PAIN_BEFORE)
    return reprompt(out, content)


def _ask_review(out: Outcome, content: Content) -> Outcome:
    exercise = content.program.exercise(out.view.profile.review[0])
    return out.ask(
        content.msg("session.review", name=exercise.name, advice=content.safety.rule("radiating").advice),
        [Button(content.msg("button.drop"), "drop"), Button(content.msg("button.keep_it_cleared"), "keep")],
    )


def _on_review(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    ex_id = view.profile.review[0]
    exercise = content.program.exercise(ex_id)
    if answer not in {"drop", "keep"}:
        return None
    view.profile.review.pop(0)
    ctx = SessionCtx.of(view)
    if answer == "drop":
        plan = view.profile.exercises or [e.id for e in content.program.exercises]
        view.profile.exercises = [ex for ex in plan if ex != ex_id]
        ctx.queue = [ex for ex in ctx.queue if ex != ex_id]
        out.say(content.msg("exercise.dropped", name=exercise.name))
    else:
        out.say(content.msg("exercise.kept", name=exercise.name))
    if not ctx.queue:
        end(out, "stopped", now)
        return out.say(content.msg("session.nothing_left"))
    return _after_precheck(out, content)


def _on_pain_before(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return _on_pain(out, answer, event, Steps.PAIN_BEFORE, content)


def _on_pain_after(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    return _on_pain(out, answer, event, Steps.PAIN_AFTER, content)


def _ask_pain(out: Outcome, content: Content) -> Outcome:
    return out.ask(content.msg(f"session.{out.view.conversation.step}"), scale_buttons(0, 10, "pain:"))


def _on_pain(out: Outcome, answer: str, event: Inbound, key: Steps, content: Content) -> Outcome:
    value = int(answer[5:]) if answer.startswith("pain:") else _typed_pain(event)
    if value is None:
        typed = parse_int(event.text, -(10**6), 10**6) if event.text else None
        out.say(content.msg("error.pain_range", value=typed) if typed is not None else content.msg("error.pain_scale"))
        return reprompt(out, content)
    ctx = SessionCtx.of(out.view)
    if key == Steps.PAIN_BEFORE:
        ctx.pain_before = value
        out.effects.append(_record(out.view))
        if value >= content.program.session.high_pain:
            go(out.view, Steps.HIGH_PAIN)
            out.say(content.msg("session.pain_worst" if value == 10 else "session.pain_high", pain=value))
            return _ask_high_pain(out, content)
        return _first_exercise(out, content)
    ctx.pain_after = value
    if not any(r == "done" for r in ctx.results.values()):
        go(out.view, Steps.HELPED)  # nothing done: nothing to progress, nothing that helped
        return _ask_helped(out, content)
    go(out.view, Steps.FELT)
    return _ask_felt(out, content)


def _typed_pain(event: Inbound) -> int | None:
    """A typed number is the value (so "11" is out of range, not a button); "7/10" reads as 7."""
    return parse_int(event.text, 0, 10)


def _first_exercise(out: Outcome, content: Content) -> Outcome:
    go(out.view, Steps.EXERCISE)
    SessionCtx.of(out.view).at_exercise(0)
    return _show_exercise(out, content)


def _ask_high_pain(out: Outcome, content: Content) -> Outcome:
    question = next(q for q in content.safety.session_precheck if q.rule == "spasm_flare")
    return out.ask(question.text, yes_no(content))


def _on_high_pain(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    """Very high pain: the sheet's own question (spasm, injury or flare-up?) before any exercise."""
    if answer == "yes":
        return symptoms.apply_rule(out, "spasm_flare", "precheck", now, content)
    if answer != "no":
        return None
    if SessionCtx.of(out.view).pain_before == 10:
        safety.advise(out, "routine", "precheck", now, content)
    out.say(content.safety.rule("exercise_pain").advice)
    return _first_exercise(out, content)


# ---- exercises --------------------------------------------------------------------------------


def _exercise(view: UserView, content: Content) -> Exercise:
    ctx = SessionCtx.of(view)
    return content.program.exercise(ctx.queue[ctx.i])


def _dose(view: UserView, exercise: Exercise) -> ExerciseProgress:
    """Today's dose: where progression has got to, starting gently inside the sheet's ranges."""
    saved = view.profile.progress.get(exercise.id)
    dosage = exercise.dosage
    reps = saved.repetitions if saved and saved.repetitions else None
    hold = saved.hold_seconds if saved and saved.hold_seconds else None
    if dosage.repetitions_start and reps is None:
        reps = dosage.repetitions_first or dosage.repetitions_start.low
    if dosage.hold_seconds and hold is None:
        hold = dosage.hold_seconds.low
    return ExerciseProgress(repetitions=reps, hold_seconds=hold)


def dose_of(view: UserView, exercise: Exercise) -> ExerciseProgress:
    """Today's dose, for the clinician's record (bot/record.py)."""
    return _dose(view, exercise)


def _step_buttons(content: Content) -> list[Button]:
    return [
        Button(content.msg("button.done"), "done"),
        Button(content.msg("button.skip"), "skip"),
        Button(content.msg("button.hurts"), "hurts"),
    ]


def _hold_is_last_step(exercise: Exercise) -> bool:
    """Wall slides: the sheet's last step is "Hold this position." with no time, so that step is the hold."""
    hold = exercise.dosage.hold_text.strip()
    return not exercise.dosage.hold_seconds and bool(hold) and exercise.steps[-1].strip() == hold


def _show_exercise(out: Outcome, content: Content) -> Outcome:
    view = out.view
    ctx = SessionCtx.of(view)
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    phase = ctx.phase
    total = len(ctx.queue)
    if phase == Phase.INTRO:
        text = content.msg("exercise.intro", n=ctx.i + 1, total=total, name=exercise.name, purpose=exercise.purpose)
        return out.ask(text, [Button(content.msg("button.start"), "start"), Button(content.msg("button.skip"), "skip")])
    if phase == Phase.STEP:
        k = ctx.k
        text = content.msg("exercise.step", k=k + 1, steps=len(exercise.steps), text=exercise.steps[k])
        if exercise.variants and exercise.variant_step == k + 1:
            text += "\n" + "\n".join(content.msg("exercise.variant", text=v.strip()) for v in exercise.variants)
        if k + 1 == len(exercise.steps) and _hold_is_last_step(exercise):
            text += " " + content.msg("exercise.done_when_finished")
        return out.ask(text, _step_buttons(content))
    if phase == Phase.REPS:
        beats = " · ".join(exercise.dosage.count)
        text = content.msg("exercise.rep", rep=ctx.rep, reps=dose.repetitions, count=beats)
        return out.ask(text, _step_buttons(content))
    if phase == Phase.SWITCH:  # the second side's hold starts only when the person is ready
        return out.ask(
            content.msg("exercise.switch_sides"),
            [
                Button(content.msg("button.ready"), "ready"),
                Button(content.msg("button.skip"), "skip"),
                Button(content.msg("button.hurts"), "hurts"),
            ],
        )
    # Phase.HOLD
    if dose.hold_seconds and ctx.side == 2:  # the sheet's "then switch sides" is already done
        text = content.msg("exercise.hold_timed_other_side", seconds=dose.hold_seconds)
    elif dose.hold_seconds:
        text = content.msg("exercise.hold_timed", seconds=dose.hold_seconds, hold=exercise.dosage.hold_text)
    else:
        text = content.msg("exercise.hold_untimed", hold=exercise.dosage.hold_text)
    return out.ask(text, _step_buttons(content))


def _start_hold(out: Outcome, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = SessionCtx.of(view)
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    ctx.phase, ctx.hold_at = Phase.HOLD, now  # when it started: the record keeps what was held
    if dose.hold_seconds:
        token = ctx.timer_token()
        ctx.timer = token
        out.effects.append(
            ScheduleEvent(
                action="timer",
                due_at=now + timedelta(seconds=dose.hold_seconds),
                dedupe_key=f"timer:{view.user_id}:{token}",
                data={"token": token},
            )
        )
    return _show_exercise(out, content)


def _hold_finished(out: Outcome, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = SessionCtx.of(view)
    ctx.timer = None
    exercise = _exercise(view, content)
    _stop_hold(view, exercise, now, finished=True)
    if exercise.dosage.sides == "both" and ctx.side == 1:
        ctx.side, ctx.phase = 2, Phase.SWITCH
        return _show_exercise(out, content)
    return _exercise_finished(out, "done", now, content)


def _on_exercise(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    ctx = SessionCtx.of(view)
    exercise = _exercise(view, content)
    if answer == "skip":
        return _exercise_finished(out, "skipped", now, content)
    if answer == "hurts":
        return symptoms.apply_rule(out, "exercise_pain", "session", now, content)
    if answer not in {"done", "start", "ready"}:
        return None
    phase = ctx.phase
    if phase == Phase.INTRO:
        ctx.phase, ctx.k = Phase.STEP, 0
        return _show_exercise(out, content)
    if phase == Phase.STEP:
        if ctx.k + 1 < len(exercise.steps):
            ctx.k += 1
            return _show_exercise(out, content)
        if exercise.dosage.count:
            ctx.phase, ctx.rep = Phase.REPS, 1
            return _show_exercise(out, content)
        if _hold_is_last_step(exercise):
            return _exercise_finished(out, "done", now, content)
        return _start_hold(out, now, content)
    if phase == Phase.REPS:
        if ctx.rep < (_dose(view, exercise).repetitions or 1):
            ctx.rep += 1
            return _show_exercise(out, content)
        return _exercise_finished(out, "done", now, content)
    if phase == Phase.SWITCH:
        return _start_hold(out, now, content)
    return _hold_finished(out, now, content)


def exercise_hurt(out: Outcome, now: datetime, content: Content, *, advised: bool) -> Outcome:
    """The exercise hurt: stop it (advice already shown), log it, and offer to drop it from the plan."""
    view = out.view
    exercise = _exercise(view, content)
    ctx = SessionCtx.of(view)
    ctx.timer = None
    out.effects.append(_log(view, exercise.id, "hurt", now, content=content))
    ctx.results[exercise.id] = "hurt"
    go(view, Steps.DROP_OFFER)
    return _ask_drop(out, content)


def _ask_drop(out: Outcome, content: Content) -> Outcome:
    exercise = _exercise(out.view, content)
    return out.ask(
        content.msg("exercise.drop_offer", name=exercise.name),
        [Button(content.msg("button.drop"), "drop"), Button(content.msg("button.keep"), "keep")],
    )


def _on_drop(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    view = out.view
    exercise = _exercise(view, content)
    if answer not in {"drop", "keep", "yes", "no"}:
        return None
    if answer in {"drop", "yes"}:
        plan = view.profile.exercises or [e.id for e in content.program.exercises]
        view.profile.exercises = [ex for ex in plan if ex != exercise.id]
        out.say(content.msg("exercise.dropped", name=exercise.name))
    else:
        out.say(content.msg("exercise.kept", name=exercise.name))
    go(view, Steps.EXERCISE)
    return _next_exercise(out, now, content)


def _exercise_finished(out: Outcome, result: str, now: datetime, content: Content) -> Outcome:
    view = out.view
    ctx = SessionCtx.of(view)
    exercise = _exercise(view, content)
    dose = _dose(view, exercise)
    ctx.results[exercise.id] = result
    out.effects.append(
        _log(
            view,
            exercise.id,
            result,
            now,
            repetitions=dose.repetitions if result == "done" else None,
            hold=dose.hold_seconds if result == "done" else None,
            content=content,
        )
    )
    if result == "done":
        out.say(content.msg("exercise.well_done", name=exercise.name))
    else:
        out.say(content.msg("exercise.skipped", name=exercise.name))
    return _next_exercise(out, now, content)


def _progress(view: UserView, exercise: Exercise, dose: ExerciseProgress) -> ExerciseProgress:
    """One step up (content says the size is BackCoach's choice), never beyond the sheet's range."""
    dosage = exercise.dosage
    new = ExerciseProgress(repetitions=dose.repetitions, hold_seconds=dose.hold_seconds)
    if dosage.repetitions_goal and dose.repetitions is not None:
        new.repetitions = min(dosage.repetitions_goal, dose.repetitions + dosage.repetitions_step)
    if dosage.hold_seconds and dose.hold_seconds is not None:
        new.hold_seconds = min(dosage.hold_seconds.high, dose.hold_seconds + dosage.hold_step_seconds)
    view.profile.progress[exercise.id] = new
    return new


def _ask_felt(out: Outcome, content: Content) -> Outcome:
    return out.ask(
        content.msg("session.felt"),
        [
            Button(content.msg("button.felt_fine"), "felt:fine"),
            Button(content.msg("button.felt_too_much"), "felt:much"),
        ],
    )


def _on_felt(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    """The sheet: "gradually progress as tolerated". Up only when it felt fine and pain did not rise."""
    view = out.view
    ctx = SessionCtx.of(view)
    if answer not in {"felt:fine", "felt:much"}:
        return None
    done = [ex for ex, r in ctx.results.items() if r == "done" and _known(ex, content)]
    before, after = ctx.pain_before, ctx.pain_after
    lines: list[str] = []
    if answer == "felt:much":
        lines.append(content.msg("progress.same_felt"))
    elif before is not None and after is not None and after > before:
        lines.append(content.msg("progress.same_pain", before=before, after=after))
    elif done:
        steps = []
        for ex in done:
            exercise = content.program.exercise(ex)
            dose = _dose(view, exercise)
            new = _progress(view, exercise, dose)
            steps.extend(_progress_lines(exercise, dose, new, content))
        if steps:
            lines.append(content.msg("progress.up", before=before, after=after))
            lines.extend(steps)
    ctx.progress_lines = lines
    go(view, Steps.HELPED)
    return _ask_helped(out, content)


def _progress_lines(exercise: Exercise, old: ExerciseProgress, new: ExerciseProgress, content: Content) -> list[str]:
    dosage = exercise.dosage
    lines = []
    if dosage.repetitions_goal and new.repetitions is not None:
        key = "progress.reps" if new.repetitions != old.repetitions else "progress.reps_top"
        lines.append(content.msg(key, name=exercise.name, reps=new.repetitions, goal=dosage.repetitions_goal))
    if dosage.hold_seconds and new.hold_seconds is not None:
        key = "progress.hold" if new.hold_seconds != old.hold_seconds else "progress.hold_top"
        lines.append(
            content.msg(
                key,
                name=exercise.name,
                seconds=new.hold_seconds,
                low=dosage.hold_seconds.low,
                high=dosage.hold_seconds.high,
            )
        )
    return lines


def _next_exercise(out: Outcome, now: datetime, content: Content) -> Outcome:
    ctx = SessionCtx.of(out.view)
    ctx.at_exercise(ctx.i + 1)
    if ctx.i < len(ctx.queue):
        return _show_exercise(out, content)
    go(out.view, Steps.PAIN_AFTER)
    return reprompt(out, content)


# ---- after the exercises ----------------------------------------------------------------------


def _ask_helped(out: Outcome, content: Content) -> Outcome:
    ctx = SessionCtx.of(out.view)
    done = [ex for ex, r in ctx.results.items() if r == "done" and ex not in ctx.helped]
    if not done:
        return _finish_exercises(out, content)
    buttons = [Button(content.program.exercise(ex).name, f"helped:{ex}") for ex in done]
    buttons.append(Button(content.msg("button.thats_all"), "helped_done"))
    key = "session.helped_more" if ctx.helped else "session.helped"
    return out.ask(content.msg(key), buttons)


def _on_helped(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome | None:
    ctx = SessionCtx.of(out.view)
    if answer.startswith("helped:") and answer[7:] in ctx.results and answer[7:] not in ctx.helped:
        ctx.helped.append(answer[7:])
        return _ask_helped(out, content)
    if answer in {"helped_done", "no", "done"}:
        return _finish_exercises(out, content)
    return None


def _finish_exercises(out: Outcome, content: Content) -> Outcome:
    """Save the post-check and hand over to the activity log, which ends with the summary."""
    out.effects.append(_record(out.view))
    return activity.offer(out, content, after_session=True)


def summary_lines(view: UserView, content: Content) -> list[str]:
    ctx = SessionCtx.of(view)
    results = ctx.results
    lines = [
        content.msg(
            "summary.counts",
            done=sum(1 for r in results.values() if r == "done"),
            skipped=sum(1 for r in results.values() if r == "skipped"),
            hurt=sum(1 for r in results.values() if r == "hurt"),
        )
    ]
    if ctx.pain_before is not None and ctx.pain_after is not None:
        lines.append(content.msg("summary.pain", before=ctx.pain_before, after=ctx.pain_after))
    lines.extend(ctx.progress_lines)
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


def _record(view: UserView) -> SessionRecord:
    ctx = SessionCtx.of(view)
    assert ctx.started_at is not None and ctx.local_date is not None
    return SessionRecord(
        started_at=ctx.started_at,
        local_date=ctx.local_date,
        pain_before=ctx.pain_before,
        pain_after=ctx.pain_after,
        helped=tuple(ctx.helped),
    )


def _stop_hold(view: UserView, exercise: Exercise, now: datetime, *, finished: bool) -> None:
    """A running hold ends (Done, the timer, or left by Skip / This hurts / the session closing): keep the
    seconds actually held, never more than planned (a timer delivered late held no longer); None when unknown."""
    ctx = SessionCtx.of(view)
    since, ctx.hold_at = ctx.hold_at, None
    if since is None:
        return
    planned = _dose(view, exercise).hold_seconds
    held = int((now - since).total_seconds())
    if planned is not None:
        held = max(0, min(planned, held))
    ctx.held = [*(ctx.held or []), (held, finished)]


def exercise_log(view: UserView, result: str, now: datetime, content: Content) -> ExerciseLogged:
    """The current exercise's record, with each side's hold as it happened (a running one as unfinished)."""
    exercise = _exercise(view, content)
    SessionCtx.of(view).results.setdefault(exercise.id, result)
    return _log(view, exercise.id, result, now, content=content)


def _log(
    view: UserView,
    exercise_id: str,
    result: str,
    now: datetime,
    *,
    content: Content,
    repetitions: int | None = None,
    hold: int | None = None,
) -> ExerciseLogged:
    ctx = SessionCtx.of(view)
    started = ctx.started_at
    assert started is not None
    _stop_hold(view, content.program.exercise(exercise_id), now, finished=False)
    held, ctx.held = tuple(ctx.held or ()), None
    return ExerciseLogged(
        session_started_at=started,
        exercise_id=exercise_id,
        result=result,
        at=now,
        repetitions=repetitions,
        hold_seconds=hold,
        held=held,
    )


def _known(exercise_id: str, content: Content) -> bool:
    return any(e.id == exercise_id for e in content.program.exercises)


def _recover(out: Outcome, content: Content) -> Outcome:
    """An unknown stored step: the current exercise from its introduction, or the after-check when the
    exercises are done; the idle state when the session's context is not there to go on with."""
    ctx = SessionCtx.of(out.view)
    if ctx.started_at is None or not {"queue", "i", "results"} <= ctx.model_fields_set:
        return out  # (a stored value that was invalid is not in the fields set)
    if 0 <= ctx.i < len(ctx.queue) and ctx.queue[ctx.i] in {e.id for e in content.program.exercises}:
        go(out.view, Steps.EXERCISE)
        ctx.at_exercise(ctx.i)
    else:
        go(out.view, Steps.PAIN_AFTER)
    return reprompt(out, content)


def _in_session(view: UserView) -> bool:
    return True


def on_safety(out: Outcome, rule: SafetyRule, now: datetime, content: Content) -> Outcome | None:
    """A safety rule raised while a session is open (the hook bot/flows/symptoms.py calls): a hurt exercise
    stops and is offered for dropping; radiating pain logs the exercise that caused it, for review next time;
    a rule that ends sessions closes this one; routine advice carries on with the current question."""
    view = out.view
    if not is_open(view):
        return None
    if rule.action == "stop_exercise":
        in_exercise = view.conversation.flow == FLOW and current_exercise(view) is not None
        return exercise_hurt(out, now, content, advised=True) if in_exercise else None
    if rule.action == "end_session_consult":
        _review_next_time(out, now, content)
    if rule.action in safety.ENDS_SESSION:
        end(out, "safety", now, content)
        return None
    return reprompt(out, content)


def _review_next_time(out: Outcome, now: datetime, content: Content) -> None:
    """Radiating pain: the exercise that caused it (if one was running) is logged and brought up at the start
    of the next session."""
    view = out.view
    exercise = current_exercise(view)
    if exercise is None or (view.conversation.step == Steps.EXERCISE and SessionCtx.of(view).phase == Phase.INTRO):
        return  # only an exercise under way is blamed: one merely introduced was not done
    out.effects.append(exercise_log(view, "radiating", now, content))
    if exercise not in view.profile.review:
        view.profile.review.append(exercise)


SESSION_FLOW = Flow(
    FLOW,
    Steps,
    {
        Steps.PRECHECK: Step(_on_precheck, _ask_precheck),
        Steps.REVIEW: Step(_on_review, _ask_review),
        Steps.PAIN_BEFORE: Step(_on_pain_before, _ask_pain),
        Steps.HIGH_PAIN: Step(_on_high_pain, _ask_high_pain),
        Steps.EXERCISE: Step(_on_exercise, _show_exercise),
        Steps.DROP_OFFER: Step(_on_drop, _ask_drop),
        Steps.PAIN_AFTER: Step(_on_pain_after, _ask_pain),
        Steps.FELT: Step(_on_felt, _ask_felt),
        Steps.HELPED: Step(_on_helped, _ask_helped),
    },
    context=SessionCtx,
    # needs nothing: the small wins that read the counts come with the summary, after the activity question
    recover=_recover,
    in_session=_in_session,
    holds_session=is_open,
    on_safety=on_safety,
    after_activity=lambda out, now, content: complete(out, now, content),
)

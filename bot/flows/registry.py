"""Every flow declares itself once, here in shape and in its own module in substance: its steps (a `StrEnum`,
stored in the database as the plain string), one `Step` a step (how it takes an answer, how it asks its
question), the records its events read, and its hooks for the other flows.

`Flow.handle` and `Flow.reprompt` are the one generic loop over that table (slack-bolt's listener table,
aiogram's `StatesGroup`): no flow writes its step ladder itself. The table is checked when it is defined
(python-statemachine's way): a step without an entry, or an entry without a step, fails at import. A step
read from the database that no flow declares any more is logged (names only, never message text) and
recovered from: the person gets a friendly word and the flow's recovery question, never silence. So is a stored
context with a key no flow declares or a value that does not fit its field (bot/state.FlowCtx).

"idle" (no question open) is declared here; "new" (not set up) in bot/flows/onboarding.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum

from pydantic import Field

from bot.flows.common import Outcome, answer_of, idle_prompt, reset
from bot.state import FlowCtx, FlowName, UserView
from bot.types import Inbound
from content.loader import Content, SafetyRule

log = logging.getLogger(__name__)

# Every flow, by the name stored in the conversation: each flow's module adds itself when it declares its Flow.
FLOWS: dict[str, Flow] = {}
# Each flow's Steps enum, to the flow it belongs to (`go` moves to a step; the step says which flow).
OWNERS: dict[type[StrEnum], Flow] = {}
# No question open: idle, or not set up yet ("" is how some old rows say idle).
AT_REST = frozenset({FlowName.IDLE, FlowName.NEW, ""})

# A step's answer handler: the outcome so far, the event, the answer it chose (a button's action, a typed label
# or synonym; "" when none), the time and the content. None means "not one of this step's answers": the generic
# loop then says so and asks the step's question again.
On = Callable[[Outcome, Inbound, str, datetime, Content], "Outcome | None"]
Ask = Callable[[Outcome, Content], Outcome]
# A hook: what a safety rule raised now does to this flow's conversation (None: nothing, the rule's own
# continuation goes on); what the flow says when the activity question after it is done.
OnSafety = Callable[[Outcome, SafetyRule, datetime, Content], "Outcome | None"]
Then = Callable[[Outcome, datetime, Content], Outcome]


class Need(Enum):
    """Which of the person's records an event reads, so the engine loads them before the flow runs."""

    NOTHING = 0
    FIGURES = 1  # bot/state.History's counts (small wins, today's activity, skipped reminders)
    RECORDS = 2  # every record as well (the weekly summary, /export, /history's lists)


@dataclass(frozen=True)
class Step:
    on: On
    ask: Ask


def _idle(out: Outcome, content: Content) -> Outcome:
    reset(out.view)
    return idle_prompt(out, content)


def _never(view: UserView) -> bool:
    return False


@dataclass(frozen=True)
class Flow:
    """One flow's declaration. `steps` lists its steps once; `table` says, for each, how it is answered and
    asked. `needs` is what its events read. `recover` puts a person whose stored step is unknown back on
    solid ground (default: the idle state). `in_session` is a hook: whether being in this flow is still part of
    a guided session (the activity question after a session is)."""

    name: FlowName
    steps: type[StrEnum]
    table: Mapping[str, Step]
    context: type[FlowCtx] | None = None  # what it remembers between messages, typed (beside its Steps)
    needs: Need = Need.NOTHING
    recover: Ask = _idle
    in_session: Callable[[UserView], bool] = _never
    holds_session: Callable[[UserView], bool] = _never
    on_safety: OnSafety | None = None
    after_activity: Then | None = None
    _members: frozenset[str] = field(init=False, repr=False, default=frozenset())

    def __post_init__(self) -> None:
        members = frozenset(s.value for s in self.steps)
        if members != set(self.table):
            missing, extra = sorted(members - set(self.table)), sorted(set(self.table) - members)
            raise ValueError(f"flow {self.name}: steps without an entry {missing}, entries without a step {extra}")
        object.__setattr__(self, "_members", members)
        if FLOWS.setdefault(self.name, self) is not self:
            raise ValueError(f"flow {self.name} is declared twice")
        if OWNERS.setdefault(self.steps, self) is not self:
            raise ValueError(f"flow {self.name}: its steps {self.steps.__name__} belong to another flow")

    def step_of(self, view: UserView) -> Step | None:
        return self.table.get(view.conversation.step) if view.conversation.step in self._members else None

    def handle(self, out: Outcome, event: Inbound, now: datetime, content: Content) -> Outcome:
        step = self.step_of(out.view)
        if step is None or out.view.conversation.ctx_problems():
            return self.lost(out, content)
        done = step.on(out, event, answer_of(event, out.view, content), now, content)
        if done is not None:
            return done
        out.say(content.msg("error.choose_button"))
        return self.reprompt(out, content)

    def reprompt(self, out: Outcome, content: Content) -> Outcome:
        step = self.step_of(out.view)
        if step is None or out.view.conversation.ctx_problems():
            return self.lost(out, content)
        return step.ask(out, content)

    def lost(self, out: Outcome, content: Content) -> Outcome:
        """The stored step is none of this flow's, or its stored context has a key no flow declares or a value
        that does not fit: log it (names only, never a value) and recover, saying so."""
        conv = out.view.conversation
        unknown_step = self.step_of(out.view) is None
        if unknown_step:
            log.warning("unknown step %r in flow %s: recovered", conv.step[:40], self.name)
        if problems := conv.ctx_problems():
            log.warning("unknown or invalid context %s in flow %s: recovered", [p[:40] for p in problems], self.name)
            conv.forget_problems()
        out.say(content.msg("error.lost_place"))
        before, said = conv.step, len(out.replies)
        self.recover(out, content)
        conv = out.view.conversation
        if conv.flow == self.name and ((unknown_step and conv.step == before) or len(out.replies) == said):
            return _idle(out, content)  # a recovery that did not move on, or asked nothing: the idle state
        return out


def current(view: UserView) -> Flow | None:
    return FLOWS.get(view.conversation.flow or FlowName.IDLE)


def go(view: UserView, step: StrEnum) -> None:
    """Move to a step of a flow (the step's enum says which flow); the context stays."""
    view.conversation.flow = OWNERS[type(step)].name
    view.conversation.step = step


class ResumeCtx(FlowCtx):
    """Where a side question (a symptom report, /delete, a question about typed text) comes back to."""

    resume: tuple[str, str] | None = Field(default=None, alias="_resume")  # (flow, step)


def interrupt(view: UserView, step: StrEnum) -> None:
    """Step aside into a short side question, remembering where to come back to."""
    conv, saved = view.conversation, ResumeCtx.of(view)
    if saved.resume is None:
        saved.resume = (conv.flow, conv.step)
    go(view, step)


def come_back(view: UserView) -> bool:
    """Return from a side question. False when there was nowhere to return to."""
    conv, saved = view.conversation, ResumeCtx.of(view)
    back, saved.resume = saved.resume, None
    if back is None or back[0] in AT_REST:
        reset(view, FlowName.NEW if back and back[0] == FlowName.NEW else FlowName.IDLE)
        return False
    conv.flow, conv.step = back
    return True


def _on_idle(out: Outcome, event: Inbound, answer: str, now: datetime, content: Content) -> Outcome:
    """A message that no command, safety rule or chat reply took: a friendly pointer to what they can do."""
    out.say(content.msg("idle.hint"))
    return idle_prompt(out, content)


class IdleSteps(StrEnum):
    NONE = ""  # idle has no steps


IDLE_FLOW = Flow(FlowName.IDLE, IdleSteps, {IdleSteps.NONE: Step(_on_idle, idle_prompt)})


def reprompt(out: Outcome, content: Content) -> Outcome:
    """Ask the current question again, whichever flow it belongs to (the idle question when none)."""
    flow = current(out.view)
    return flow.reprompt(out, content) if flow is not None else idle_prompt(out, content)


def in_session(view: UserView) -> bool:
    """The person is answering a guided session's questions (the activity question after it included): the
    one place that decides it, from each flow's own `in_session` hook."""
    flow = current(view)
    return flow is not None and flow.in_session(view)


def session_open(view: UserView) -> bool:
    """A session is under way, whatever question is current (a side question keeps it open)."""
    return any(flow.holds_session(view) for flow in FLOWS.values())


def safety_interrupts(out: Outcome, rule: SafetyRule, now: datetime, content: Content) -> Outcome | None:
    """Each flow's say on a safety rule just raised; the first that takes the conversation over wins."""
    for flow in FLOWS.values():
        if flow.on_safety is not None and (done := flow.on_safety(out, rule, now, content)) is not None:
            return done
    return None


def after_activity(out: Outcome, now: datetime, content: Content) -> Outcome:
    """The activity question after a session is answered: the flow that asked it closes (the summary)."""
    for flow in FLOWS.values():
        if flow.after_activity is not None:
            return flow.after_activity(out, now, content)
    reset(out.view)
    return out

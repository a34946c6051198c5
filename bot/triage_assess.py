"""One verdict per free-text message: a rule's advice, a targeted question, a clarifying question, or chat.

Order is the safety contract: the rules (content/safety.yaml) first, the learned model (bot/triage_model.py)
as a second opinion on the same message, then the unclear-symptom question, only then ordinary chat
(bot/chat_intents.py).  The two opinions make one decision (the bars are in content/triage/model.yaml):

- a rule hit stands, unless its evidence is weak (a spelling-corrected word, or a context cue that did not
  reach the mention) and the model calls the message harmless with at least the rule's dispute bar: then the
  rule's targeted yes/no question is asked instead of the advice (Yes gives the advice at once).  Never for
  the rules in `never_disputed` (crisis): a crisis word is always answered with crisis help.
- rules silent: the model's most likely rule that clears its ask bar gets the targeted question; a rule of
  `direct_rules` (advice that holds nothing) that clears its higher direct bar gets the advice directly.

Why not let the model overrule a clear rule hit: the rules are what a clinician reads and signs off; the model
may only make the bot ask where the rule's match is itself doubtful.  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat_intents import Intent, detect
from bot.triage import TriageResult, classify, normalised
from bot.triage_model import features, model_for
from content.loader import Content

MODEL_MAX_CHARS = 2000


@dataclass(frozen=True)
class Assessment:
    rule_id: str | None = None  # a rule the trigger phrases raise: give its advice
    # the model's guess: ask this rule's targeted question (after rule_id's advice, when both are set: the
    # model is sure of a more urgent rule than the one the rules found)
    ask_rule: str | None = None
    # rule_id is the learned model's alone (the rules were silent): a typed answer to the current question
    # ("Pain" for the skip reason) stays the flow's, as for the model's questions
    from_model: bool = False
    unclear: bool = False  # maybe a symptom: ask whether it is one
    intent: str = ""  # ordinary chat (content/triage/README.md intents)
    exercise_id: str = ""
    minutes: int = 0

    def describe(self) -> str:
        if self.rule_id and self.ask_rule:
            return f"{self.rule_id}+ask:{self.ask_rule}"
        if self.rule_id:
            return self.rule_id
        if self.ask_rule:
            return f"ask:{self.ask_rule}"
        if self.unclear:
            return "unclear"
        return f"chat:{self.intent}" if self.intent else "none"


def model_probabilities(text: str, content: Content) -> dict[str, float] | None:
    """The learned model's calibrated probability per label, or None for a long message.

    Only for chat-length messages (up to MODEL_MAX_CHARS): the examples it learned from are chat messages, and
    in a long report one symptom sentence is drowned by the rest.  A long message is read whole by the rules.
    """
    if len(text) > MODEL_MAX_CHARS:
        return None
    return model_for(content).probabilities(features(text, content))


def model_guess(probabilities: dict[str, float] | None, content: Content) -> tuple[str, float] | None:
    """The most likely rule of those whose probability clears their ask bar (content/triage/model.yaml), if any.

    Why the most likely and not the most urgent: the urgent rules have low bars, and the question names one
    symptom; "my left arm and jaw ache and I feel clammy" is to be asked about chest pain, not continence."""
    if probabilities is None:
        return None
    settings = content.model_settings
    candidates = [(p, rule) for rule, p in probabilities.items() if rule != "none" and p >= settings.threshold(rule)]
    if not candidates:
        return None
    p, rule = max(candidates)
    return rule, p


def warm(content: Content) -> None:
    """Compile the rules and load the model now (start-up), not inside the first person's message."""
    normalised("", content.safety)
    model_for(content)


def assess(text: str, content: Content) -> Assessment:
    rules = classify(text, content.safety)
    verdict = decide(rules, model_probabilities(text, content), content)
    if verdict is not None:
        return verdict
    intent: Intent = detect(text, content.chat)
    return Assessment(intent=intent.name, exercise_id=intent.exercise_id, minutes=intent.minutes)


def decide(rules: TriageResult, probabilities: dict[str, float] | None, content: Content) -> Assessment | None:
    """Rules and model together (see the module docstring); None when neither sees a symptom (chat)."""
    settings = content.model_settings
    if rules.rule_id:
        rule = rules.rule_id
        p_none = probabilities.get("none", 0.0) if probabilities is not None else 0.0
        if rules.weak:
            disputed = rule not in settings.never_disputed and p_none >= settings.dispute(rule)
        else:
            disputed = rule not in settings.clear_never_disputed and p_none >= settings.dispute_clear_threshold
        if disputed:
            return Assessment(ask_rule=rule)
        return Assessment(rule_id=rule, ask_rule=_more_urgent(rule, probabilities, content))
    guess = model_guess(probabilities, content)
    if guess and not rules.idiom:
        rule, p = guess
        if rule in rules.cancelled:  # "I don't always know when my bowels are full": ask only when very sure
            return Assessment(ask_rule=rule) if p >= settings.cancelled_ask_threshold else _unclear(rules)
        if rule in settings.direct_rules and p >= settings.direct(rule):
            return Assessment(rule_id=rule, from_model=True)
        return Assessment(ask_rule=rule)
    return _unclear(rules)


def _more_urgent(rule: str, probabilities: dict[str, float] | None, content: Content) -> str | None:
    """The most urgent rule above `rule` that the model is sure of (the escalate bar), if any: "feels like
    indigestion in my chest, spreading to my shoulder" is read by the rules as spreading pain only."""
    if probabilities is None:
        return None
    bar = content.model_settings.escalate_threshold
    priority = {r.id: r.priority for r in content.safety.rules}
    above = [r for r, p in probabilities.items() if r in priority and priority[r] < priority[rule] and p >= bar]
    return min(above, key=lambda r: priority[r]) if above else None


def _unclear(rules: TriageResult) -> Assessment | None:
    if rules.unclear:
        return Assessment(unclear=True)
    return None

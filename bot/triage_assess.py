"""One verdict per free-text message: a rule's advice, a targeted question, a clarifying question, or chat.

Order is the safety contract: the rules (content/safety.yaml) first; only when they are silent may the
learned model (bot/triage_model.py) ask its targeted yes/no question; then the unclear-symptom question;
only then ordinary chat (bot/chat_intents.py).  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat_intents import Intent, detect
from bot.triage import classify, normalised
from bot.triage_model import features, model_for
from content.loader import Content

MODEL_MAX_CHARS = 2000


@dataclass(frozen=True)
class Assessment:
    rule_id: str | None = None  # a rule the trigger phrases raise: give its advice
    ask_rule: str | None = None  # the model's guess: ask this rule's targeted question
    unclear: bool = False  # maybe a symptom: ask whether it is one
    intent: str = ""  # ordinary chat (content/triage/README.md intents)
    exercise_id: str = ""
    minutes: int = 0

    def describe(self) -> str:
        if self.rule_id:
            return self.rule_id
        if self.ask_rule:
            return f"ask:{self.ask_rule}"
        if self.unclear:
            return "unclear"
        return f"chat:{self.intent}" if self.intent else "none"


def model_guess(text: str, content: Content) -> str | None:
    """The most likely rule by the learned model, if it clears that rule's bar (content/triage/model.yaml).

    Only for chat-length messages (up to MODEL_MAX_CHARS): the examples it learned from are chat messages, and
    in a long report one symptom sentence is drowned by the rest.  A long message is read whole by the rules.
    """
    if len(text) > MODEL_MAX_CHARS:
        return None
    probabilities = model_for(content).probabilities(features(text, content))
    settings = content.model_settings
    candidates = [(p, rule) for rule, p in probabilities.items() if rule != "none" and p >= settings.threshold(rule)]
    if not candidates:
        return None
    priority = {r.id: r.priority for r in content.safety.rules}
    return min(candidates, key=lambda c: (priority.get(c[1], 99), -c[0]))[1]


def warm(content: Content) -> None:
    """Compile the rules and load the model now (start-up), not inside the first person's message."""
    normalised("", content.safety)
    model_for(content)


def assess(text: str, content: Content) -> Assessment:
    rules = classify(text, content.safety)
    if rules.rule_id:
        return Assessment(rule_id=rules.rule_id)
    guess = model_guess(text, content)
    if guess and guess not in rules.cancelled and not rules.idiom:
        return Assessment(ask_rule=guess)
    if rules.unclear:
        return Assessment(unclear=True)
    intent: Intent = detect(text, content.chat)
    return Assessment(intent=intent.name, exercise_id=intent.exercise_id, minutes=intent.minutes)

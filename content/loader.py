"""Load and validate the program, safety rules and messages at start-up.

Content is data: every instruction, number and warning the bot gives lives in the YAML files beside
this module, each tied to a named source. The loader fails loudly, naming the file and field, so a
typo in a YAML file stops the bot at start rather than mid-conversation.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from content.yaml_cache import cached_parse

CONTENT_DIR = Path(__file__).resolve().parent


class ContentError(RuntimeError):
    """Raised when a content file is missing or invalid; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """A public source a piece of content comes from."""

    id: str
    name: str
    publisher: str
    note: str = ""
    cite: str = ""  # how a reply names it in one line ("the sheet", "NHS: Back pain")


class Range(_Strict):
    low: int = Field(ge=0)
    high: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class Dosage(_Strict):
    """How much of an exercise, exactly as the sheet gives it (None where the sheet gives nothing)."""

    repetitions_start: Range | None = None  # pelvic tilt: 1-5 at first
    repetitions_goal: int | None = None  # ... progressing as tolerated to 10
    hold_seconds: Range | None = None  # stretches: 20-40 s without bouncing
    hold_text: str  # how the hold is described to the user ("Hold this position.")
    sides: Literal["one", "both"] = "one"  # "both": do it, then switch sides
    count: list[str] = []  # the pelvic tilt's 1-2-3-4 count, one entry per beat
    progression: str = ""  # how to progress, in the sheet's words
    # BackCoach's choices, not the sheet's (program.yaml says so beside each): where inside the sheet's
    # starting range to begin, and the step up after a session that felt fine with pain not rising.
    # Progression never leaves the sheet's ranges.
    repetitions_first: int | None = None
    repetitions_step: int = Field(default=1, ge=1, le=2)
    hold_step_seconds: int = Field(default=5, ge=1, le=10)

    @model_validator(mode="after")
    def _first_inside_the_sheets_range(self) -> Dosage:
        first, start = self.repetitions_first, self.repetitions_start
        if first is not None and (start is None or not start.low <= first <= start.high):
            raise ValueError("repetitions_first must lie inside repetitions_start")
        return self


class Exercise(_Strict):
    id: str
    name: str
    kind: Literal["strengthening", "stretching"]
    purpose: str
    steps: list[str] = Field(min_length=1)
    dosage: Dosage
    variants: list[str] = []  # e.g. the rolled-towel variant of the hip rotator stretch
    variant_step: int | None = Field(default=None, ge=1)  # the step (1-based) the variants are offered with
    cautions: list[str] = []
    source: str


class ActivityGuidance(_Strict):
    """General physical activity: the daily goal, pacing and progression from the sheet."""

    examples: list[str]
    about: str = ""  # what general activity is and why, in the sheet's words
    daily_minutes: Range  # 30-60
    days: str  # "most days of the week"
    min_bout_minutes: int  # even 10 minutes counts
    split_note: str = ""  # it need not happen all at once, in the sheet's words
    exertion: Range  # 4-6 on the 1-10 scale
    exertion_scale: str  # what 1 and 10 mean
    talk_test: str
    progression: str
    source: str


class SessionRules(_Strict):
    """BackCoach's own choices about sessions (the sheet gives no numbers for these)."""

    idle_hours: int = Field(ge=1, le=12)  # an unfinished session closes after this much silence
    high_pain: int = Field(ge=1, le=10)  # pain before a session at or above this asks the sheet's spasm question
    note: str = ""


class Program(_Strict):
    title: str
    intro: str
    choice_note: str  # you need not do every exercise
    general_activity: ActivityGuidance
    exercises: list[Exercise] = Field(min_length=1)
    session: SessionRules
    sources: list[Source]

    def exercise(self, exercise_id: str) -> Exercise:
        for exercise in self.exercises:
            if exercise.id == exercise_id:
                return exercise
        raise KeyError(exercise_id)


RuleAction = Literal[
    "crisis",  # self-harm or suicidal statements: crisis help at once, hold, nothing else after it
    "rest_pause",  # spasm / flare-up: no exercise now, pause for rest days, check back in
    "stop_exercise",  # this exercise hurts: stop it, offer to drop it
    "end_session_consult",  # radiating pain: end the session, contact PT/doctor
    "consult_pause",  # new numbness/tingling/spreading or worsening: consult, pause until confirmed
    "hold_until_cleared",  # heart problem: guidance first, hold until confirmed
    "stop_now_doctor",  # new/changing chest pain: stop now, contact a doctor
    "emergency",  # cauda equina warning signs / serious accident: emergency care now
    "doctor_today_pause",  # same-day red flags: doctor today, pause
    "suggest_consult",  # routine: not improving, worried: suggest seeing a clinician
]

# Actions that hold the program until the person confirms guidance: each such rule says why in hold_note.
HOLDING_ACTIONS = frozenset(
    {"consult_pause", "hold_until_cleared", "stop_now_doctor", "emergency", "doctor_today_pause"}
)


class SafetyRule(_Strict):
    id: str
    urgency: Literal["crisis", "emergency", "urgent", "same_day", "consult", "caution", "routine"]
    action: RuleAction
    label: str  # button label for reporting it ("Pain spreading into buttock or leg")
    advice: str  # exactly what the bot says
    source: str  # a Source id
    see_also: list[str] = []  # further Source ids the advice draws on
    priority: int  # lower is more urgent; decides between two matches in one message
    # While the program is held for this rule: why, in its own source's words (repeated on /today).
    hold_note: str = ""
    # the targeted yes/no question asked when only the learned model (not a rule) sees this symptom
    ask: str = ""


class Pattern(_Strict):
    """One free-text trigger: every group must match (any of its terms), and no negation nearby."""

    all_of: list[list[str]] = Field(min_length=1)
    # terms that, anywhere in the message, mean this pattern is about something else
    # ("knee to chest" is an exercise, not chest pain); keep them few and precise
    none_of: list[str] = []


class TriagePhrases(_Strict):
    rule: str  # SafetyRule id
    patterns: list[Pattern] = Field(min_length=1)


class ContextModifier(_Strict):
    """A ConText modifier: words that change the mentions within `max_scope` words of them."""

    category: Literal["negated", "historical", "hypothetical", "other_person", "improving", "explained"]
    direction: Literal["forward", "backward", "both"]
    max_scope: int = Field(ge=1, le=20)
    literals: list[str] = Field(min_length=1)
    terminators: list[str] = []  # words that end this modifier's reach (besides the shared ones)


ENGLISH_WORDS = CONTENT_DIR / "triage" / "english_words.txt"


@cache
def english_words() -> frozenset[str]:
    """Common English words (content/triage/english_words.txt, written by `backcoach triage-build` from
    pyspellchecker's English list): the spelling corrector never turns one of these into a trigger word
    ("sorry" is not "lorry", "sending" is not "ending")."""
    if not ENGLISH_WORDS.exists():
        return frozenset()
    return frozenset(ENGLISH_WORDS.read_text(encoding="utf-8").split())


class ContextRules(_Strict):
    """content/triage/context.yaml: the context of a symptom mention (see bot/triage.py)."""

    terminators: list[str] = []
    modifiers: list[ContextModifier] = []
    keeps: dict[str, list[str]] = {}  # category -> rules a mention in that context still raises
    idioms: list[str] = []
    pseudo: list[str] = []  # phrases whose modifier words modify nothing ("no doubt", "not only")
    fillers: list[str] = []
    protected: list[str] = []
    # chat shorthand and run-together words read as their words ("cp" -> "chest pain", "chestpain"), and
    # exercise names made one word so their body word is not read as a symptom ("knee to chest")
    rewrites: dict[str, str] = {}
    recurrence: list[str] = []  # "it's come back": a past or improved mention before it counts again
    group_window: int = Field(default=40, ge=5)  # a pattern's groups must lie within this many words


class ScreeningQuestion(_Strict):
    id: str
    text: str
    rule: str  # SafetyRule id applied when the answer is yes


class Safety(_Strict):
    disclaimer: str
    emergency_number_note: str
    rules: list[SafetyRule] = Field(min_length=1)
    onboarding_screening: list[ScreeningQuestion]
    session_precheck: list[ScreeningQuestion]
    phrases: list[TriagePhrases]
    negations: list[str]  # words that cancel a nearby symptom term ("no", "not", "without")
    # words that end a negation's reach ("no pain but my foot tingles"); see bot/triage.py
    negation_breaks: list[str] = []
    unclear_terms: list[str]  # possibly a symptom: ask a yes/no question instead of ignoring
    sources: list[Source]
    context: ContextRules = ContextRules()  # filled from content/triage/context.yaml by the loader

    def rule(self, rule_id: str) -> SafetyRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    @model_validator(mode="after")
    def _references_exist(self) -> Safety:
        ids = {r.id for r in self.rules}
        source_ids = {s.id for s in self.sources}
        for rule in self.rules:
            for source in [rule.source, *rule.see_also]:
                if source not in source_ids:
                    raise ValueError(f"rule {rule.id!r} names unknown source {source!r}")
            if rule.action in HOLDING_ACTIONS and not rule.hold_note.strip():
                raise ValueError(f"rule {rule.id!r} holds the program but has no hold_note")
        for q in [*self.onboarding_screening, *self.session_precheck]:
            if q.rule not in ids:
                raise ValueError(f"question {q.id!r} names unknown rule {q.rule!r}")
        for p in self.phrases:
            if p.rule not in ids:
                raise ValueError(f"phrases name unknown rule {p.rule!r}")
        return self


class ChatWords(_Strict):
    """content/triage/chat.yaml: ordinary chat BackCoach understands (see bot/chat_intents.py)."""

    max_words: int = 6
    greeting: list[str] = []
    thanks: list[str] = []
    stop_words: list[str] = []
    reminder_words: list[str] = []
    stop_alone: list[str] = []
    question_words: list[str] = []
    exercise_aliases: dict[str, list[str]] = {}
    activity_words: list[str] = []
    minute_words: list[str] = []
    hour_words: list[str] = []
    distance_words: list[str] = []  # "walked 2 miles", "did a 5k": activity the sheet counts in minutes
    number_words: dict[str, float] = {}
    duration_phrases: dict[str, int] = {}
    english_words: list[str] = []
    foreign_words: list[str] = []
    misread: list[str] = []  # "you misunderstood": after crisis help, the help is repeated, the hold stays


class ModelSettings(_Strict):
    """content/triage/model.yaml: the learned second opinion's settings (BackCoach's own choices)."""

    C: float = Field(default=8.0, gt=0)
    min_df: int = Field(default=1, ge=1)
    ask_threshold: float = Field(default=0.45, gt=0, le=1)
    ask_threshold_by_rule: dict[str, float] = {}
    calibrate: bool = True  # fit a temperature on out-of-fold scores (bot/triage_model.py)
    # a rule hit on weak evidence that the model calls harmless with at least this probability: ask instead
    dispute_threshold: float = Field(default=1.0, gt=0, le=1)
    dispute_threshold_by_rule: dict[str, float] = {}
    never_disputed: list[str] = ["crisis"]
    # the same on clear evidence, for the rules not in `clear_never_disputed` (crisis and the emergency signs)
    dispute_clear_threshold: float = Field(default=1.0, gt=0, le=1)
    clear_never_disputed: list[str] = ["crisis", "cauda_equina", "chest_pain"]
    # the rules' words were all cancelled by context, yet the model is this sure of the rule: ask its question
    cancelled_ask_threshold: float = Field(default=1.0, gt=0, le=1)
    # a rule hit, and the model this sure of a MORE urgent rule: the advice, then that rule's targeted question
    escalate_threshold: float = Field(default=1.0, gt=0, le=1)
    # rules silent, the model this sure of one of `direct_rules`: that rule's advice without asking first
    direct_threshold: float = Field(default=1.0, gt=0, le=1)
    direct_threshold_by_rule: dict[str, float] = {}
    direct_rules: list[str] = []

    def threshold(self, rule_id: str) -> float:
        return self.ask_threshold_by_rule.get(rule_id, self.ask_threshold)

    def dispute(self, rule_id: str) -> float:
        return self.dispute_threshold_by_rule.get(rule_id, self.dispute_threshold)

    def direct(self, rule_id: str) -> float:
        return self.direct_threshold_by_rule.get(rule_id, self.direct_threshold)


class TriageExample(_Strict):
    """One labelled message (content/triage/README.md); the learned second opinion trains on these."""

    text: str
    rule: str
    intent: str | None = None
    state: Literal["first", "onboarding", "idle", "session"] = "idle"
    tags: list[str] = []


# Training data for the learned second opinion: the tuning part only, never content/triage/heldout.yaml.
TRAINING_FILES = ("tuning.yaml", "tuning_project.yaml")


class Content(_Strict):
    """Everything user-facing, validated together."""

    program: Program
    safety: Safety
    messages: dict[str, str]
    chat: ChatWords = ChatWords()
    examples: list[TriageExample] = []
    model_settings: ModelSettings = ModelSettings()

    def msg(self, key: str, **values: object) -> str:
        """A user-facing sentence from messages.yaml, with {placeholders} filled in."""
        try:
            template = self.messages[key]
        except KeyError as exc:
            raise ContentError(f"messages.yaml: no message {key!r}") from exc
        return template.format(**values) if values else template

    @model_validator(mode="after")
    def _exercise_sources_exist(self) -> Content:
        source_ids = {s.id for s in self.program.sources}
        for exercise in self.program.exercises:
            if exercise.source not in source_ids:
                raise ValueError(f"exercise {exercise.id!r} names unknown source {exercise.source!r}")
        return self


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
_PARSER = f"PyYAML {yaml.__version__} {_LOADER.__name__}"


def _parse_yaml(raw: bytes) -> object:
    """What reading the file as UTF-8 text (universal newlines) and loading it gives."""
    return yaml.load(raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"), Loader=_LOADER)


def _read_yaml(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ContentError(f"{path.name}: file not found at {path}") from exc
    try:
        return cached_parse(raw, _parse_yaml, _PARSER, source=str(path))  # once per version of the file (yaml_cache.py)
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: not valid YAML: {exc}") from exc


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], path: Path) -> M:
    return _validate_data(model, _read_yaml(path), path)


def _validate_data(model: type[M], data: object, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ContentError(f"{path.name}: {problems}") from exc


def load_content(directory: Path = CONTENT_DIR) -> Content:
    """Read and validate program.yaml, safety.yaml and messages.yaml from `directory`."""
    program = _validate(Program, directory / "program.yaml")
    safety_data = _read_yaml(directory / "safety.yaml")
    context_path = directory / "triage" / "context.yaml"
    if isinstance(safety_data, dict) and context_path.exists():
        safety_data = {**safety_data, "context": _read_yaml(context_path)}
    safety = _validate_data(Safety, safety_data, directory / "safety.yaml")
    messages_path = directory / "messages.yaml"
    messages = _read_yaml(messages_path)
    if not isinstance(messages, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in messages.items()
    ):
        raise ContentError(f"{messages_path.name}: must map message keys to strings")
    triage_dir = directory / "triage"
    chat = _validate(ChatWords, triage_dir / "chat.yaml") if (triage_dir / "chat.yaml").exists() else ChatWords()
    model_path = triage_dir / "model.yaml"
    settings = _validate(ModelSettings, model_path) if model_path.exists() else ModelSettings()
    examples: list[TriageExample] = []
    for name in TRAINING_FILES:
        if (triage_dir / name).exists():
            data = _read_yaml(triage_dir / name)
            if not isinstance(data, list):
                raise ContentError(f"{name}: expected a list of labelled messages")
            examples.extend(_validate_data(TriageExample, item, triage_dir / name) for item in data)
    try:
        return Content(
            program=program, safety=safety, messages=messages, chat=chat, examples=examples, model_settings=settings
        )
    except ValidationError as exc:
        raise ContentError(f"content: {exc}") from exc


@cache
def default_content() -> Content:
    """The bundled content, loaded once per process."""
    return load_content()

"""The labelled triage corpus (content/triage/) keeps to its schema, so triage-report's figures mean something."""

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

TRIAGE = Path(__file__).resolve().parents[2] / "content" / "triage"
FILES = ("tuning.yaml", "heldout.yaml")
RULES = {
    "crisis",
    "cauda_equina",
    "chest_pain",
    "same_day",
    "heart",
    "radiating",
    "neuro_change",
    "spasm_flare",
    "exercise_pain",
    "routine",
    "none",
}
INTENTS = {"activity", "exercise_question", "greeting", "thanks", "stop_howto", "other_language", "chat"}
STATES = {"first", "onboarding", "idle", "session"}
KEYS = {"text", "rule", "intent", "state", "tags"}
# Minimum size of each file, and of each rule over both files together (issue 15, item 7). The held-out file is
# empty between outsiders (content/triage/README.md): the lead installs a new one that nobody here has seen.
MIN_ITEMS = {"tuning.yaml": 1000, "heldout.yaml": 0}
MIN_PER_RULE = {"cauda_equina": 130, "chest_pain": 130, "crisis": 45}
MIN_OTHER_RULE = 60


def _load(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((TRIAGE / name).read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{name}: not a YAML list"
    return data


def _key(text: str) -> str:
    """Texts equal after case, punctuation and spacing are the same message."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip() or text.strip()


@pytest.mark.parametrize("name", FILES)
def test_items_follow_the_schema(name: str) -> None:
    items = _load(name)
    assert len(items) >= MIN_ITEMS[name]
    for n, item in enumerate(items):
        where = f"{name} item {n}"
        assert isinstance(item, dict), where
        assert set(item) <= KEYS, f"{where}: unknown keys {set(item) - KEYS}"
        assert isinstance(item.get("text"), str) and item["text"].strip(), f"{where}: empty text"
        assert item.get("rule") in RULES, f"{where}: rule {item.get('rule')!r}"
        assert item.get("state") in STATES, f"{where}: state {item.get('state')!r}"
        if item["rule"] == "none":
            assert item.get("intent") in INTENTS, f"{where}: intent {item.get('intent')!r}"
        else:
            assert "intent" not in item, f"{where}: intent is only for rule none"
        tags = item.get("tags", [])
        assert isinstance(tags, list) and all(isinstance(t, str) and t for t in tags), f"{where}: tags"


def test_no_text_twice_within_or_across_files() -> None:
    seen: dict[str, str] = {}
    for name in FILES:
        for item in _load(name):
            key = _key(str(item["text"]))
            assert key not in seen, f"{item['text'][:60]!r} is in {seen.get(key)} and {name}"
            seen[key] = name


def test_no_held_out_text_is_in_any_training_file() -> None:
    """Every other list of labelled texts beside heldout.yaml (e.g. tuning_project.yaml) may be trained on."""
    held_out = {_key(str(item["text"])) for item in _load("heldout.yaml")}
    for path in sorted(TRIAGE.glob("*.yaml")):
        if path.name == "heldout.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            continue  # term lists, not labelled messages
        texts = {_key(str(item["text"])) for item in data if isinstance(item, dict) and "text" in item}
        assert not texts & held_out, f"{path.name} holds held-out texts: {sorted(texts & held_out)[:5]}"


def test_every_rule_intent_and_state_is_covered() -> None:
    everything = [item for name in FILES for item in _load(name)]
    rules = Counter(str(item["rule"]) for item in everything)
    for rule in RULES - {"none"}:
        assert rules[rule] >= MIN_PER_RULE.get(rule, MIN_OTHER_RULE), f"{rule}: only {rules[rule]}"
    for name in FILES:
        items = _load(name)
        if not items:
            continue  # an empty held-out part: nothing to cover until the lead installs one
        assert {item["rule"] for item in items} == RULES, name
        assert {item["intent"] for item in items if item["rule"] == "none"} == INTENTS, name
        assert {item["state"] for item in items} == STATES, name
    red_flags = sum(n for rule, n in rules.items() if rule != "none")
    assert 0.45 <= red_flags / len(everything) <= 0.65

"""`backcoach triage-report`: how well free-text triage does on the labelled corpus (content/triage/).

Why a command and not only a test: whoever edits the trigger phrases or the examples sees, per rule, what is
caught, under-triaged and missed, the false alarms and questions on harmless chat, and an upper confidence
bound on missed emergencies, before the test suite says pass or fail.  The tuning part may list its misses
(`--misses`); the held-out part never prints a message, only aggregate figures, so that it stays an honest
estimate (content/triage/README.md).

Guarding against over-fitting while tuning: the retired outsider messages in tuning.yaml (tag `outsider_c1`)
are split by a stable hash of their text into a `dev-look` half, whose misses may be read, and a `dev-blind`
half, which only ever prints aggregate figures and is measured with a model trained without it, so that its
figures estimate how the bot does on text by someone else.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from bot.triage_assess import Assessment, assess
from content.loader import Content, default_content

EMERGENCY = ("cauda_equina", "chest_pain")
OUTSIDER_TAG = "outsider_c1"  # the retired outsider part in tuning.yaml: split into dev-look and dev-blind
PARTS = ("tuning", "dev-look", "dev-blind", "heldout")


@dataclass(frozen=True)
class Labelled:
    text: str
    rule: str
    intent: str
    state: str
    tags: tuple[str, ...] = ()


def text_key(text: str) -> str:
    """Texts equal after case, punctuation and spacing are the same message (as the corpus tests fold them)."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip() or text.strip()


def dev_half(text: str) -> str:
    """ "dev-look" or "dev-blind": a stable hash of the folded text, so a message never changes half."""
    digest = hashlib.sha256(text_key(text).encode("utf-8")).digest()
    return "dev-blind" if digest[0] % 2 else "dev-look"


def is_dev_blind(text: str, tags: list[str] | tuple[str, ...]) -> bool:
    return OUTSIDER_TAG in tags and dev_half(text) == "dev-blind"


def without_dev_blind(content: Content) -> Content:
    """The content with the dev-blind examples left out of the learned model's training data."""
    kept = [e for e in content.examples if not is_dev_blind(e.text, e.tags)]
    return content.model_copy(update={"examples": kept})


def corpus_path(name: str, folder: Path | None = None) -> Path:
    """A corpus file shipped as package data (works from an installed wheel as from the source tree)."""
    if folder is not None:
        return folder / name
    return Path(str(resources.files("content").joinpath("triage", name)))


def load(path: Path) -> list[Labelled]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a list of labelled messages")
    return [
        Labelled(
            str(d["text"]),
            str(d["rule"]),
            str(d.get("intent") or ""),
            str(d.get("state") or "idle"),
            tuple(str(t) for t in d.get("tags") or ()),
        )
        for d in data
    ]


def part_items(part: str, folder: Path | None = None) -> list[Labelled] | None:
    """The labelled messages of one part, or None when its file is missing."""
    if part == "heldout":
        path = corpus_path("heldout.yaml", folder)
        return load(path) if path.exists() else None
    items: list[Labelled] = []
    found = False
    for name in ("tuning.yaml", "tuning_project.yaml"):
        path = corpus_path(name, folder)
        if path.exists():
            found = True
            items.extend(load(path))
    if not found:
        return None
    if part == "tuning":
        return items
    return [i for i in items if OUTSIDER_TAG in i.tags and dev_half(i.text) == part]


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """Upper end of the two-sided exact (Clopper-Pearson) interval for k events in n trials."""
    if n == 0:
        return 1.0
    if k >= n:
        return 1.0
    from scipy.stats import beta  # only the report needs it

    return float(beta.ppf(1 - (1 - confidence) / 2, k + 1, n - k))


@dataclass
class Figures:
    lines: list[str]
    misses: list[str]


def _verdict(item: Labelled, got: Assessment, priority: dict[str, int]) -> str:
    """caught / question (targeted, one tap to the right advice) / under / missed, for a red-flag message."""
    want = priority[item.rule]
    if got.rule_id is not None and priority[got.rule_id] <= want:
        return "caught"
    if got.ask_rule is not None and priority[got.ask_rule] <= want:
        return "question"  # asked alone, or after a less urgent rule's advice
    if got.rule_id is not None:
        return "under"
    return "missed"


def report(items: list[Labelled], content: Content, title: str, *, misses: bool, note: str = "") -> Figures:
    """The figures as text lines; `misses` adds the individual misses (tuning part only)."""
    safety = content.safety
    priority = {r.id: r.priority for r in safety.rules}
    rules = sorted(safety.rules, key=lambda r: r.priority)
    results = [(item, assess(item.text, content)) for item in items]
    lines = [f"{title}: {len(items)} messages{f' ({note})' if note else ''}", ""]
    lines.append(
        f"{'rule':<15}{'n':>5}{'caught':>8}{'asked':>7}{'under':>7}{'missed':>8}{'caught %':>10}{'+asked %':>10}"
    )
    per_rule: dict[str, Counter[str]] = {r.id: Counter() for r in rules}
    missed_lines: list[str] = []
    for item, got in results:
        if item.rule == "none":
            continue
        verdict = _verdict(item, got, priority)
        per_rule[item.rule][verdict] += 1
        if verdict != "caught":
            missed_lines.append(f"  {item.rule} [{item.state}] -> {got.describe()} ({verdict}): {item.text!r}")
    total: Counter[str] = Counter()
    for rule in rules:
        c = per_rule[rule.id]
        total += c
        lines.append(_row(rule.id, c))
    lines.append(_row("all red flags", total))
    emergency: Counter[str] = Counter()
    for rule_id in EMERGENCY:
        emergency += per_rule[rule_id]
    n_em = sum(emergency.values())
    missed_em = n_em - emergency["caught"] - emergency["question"]
    lines.append("")
    lines.append(
        f"emergency + chest pain: {n_em - missed_em}/{n_em} caught (direct or one targeted question); "
        f"missed {missed_em}, upper 95% Clopper-Pearson bound on the miss rate "
        f"{clopper_pearson_upper(missed_em, n_em):.1%}"
    )
    harmless = [(item, got) for item, got in results if item.rule == "none"]
    alarms = [(i, g) for i, g in harmless if g.rule_id is not None]
    emergencies = [(i, g) for i, g in alarms if g.rule_id in ("crisis", *EMERGENCY)]
    questions = [(i, g) for i, g in harmless if g.rule_id is None and (g.ask_rule or g.unclear)]
    n_h = max(len(harmless), 1)
    lines.append(
        f"harmless messages: {len(harmless)}; raising a rule {len(alarms)} ({len(alarms) / n_h:.1%}; "
        f"emergency/crisis advice {len(emergencies)}); "
        f"clarifying question {len(questions)} ({len(questions) / n_h:.1%})"
    )
    intents = [(i, g) for i, g in harmless if i.intent]
    right = sum(g.intent == i.intent or (i.intent == "chat" and g.intent in ("", "chat")) for i, g in intents)
    by_intent: dict[str, Counter[str]] = {}
    for i, g in intents:
        by_intent.setdefault(i.intent, Counter())[
            "ok" if g.intent == i.intent or (i.intent == "chat" and g.intent in ("", "chat")) else "wrong"
        ] += 1
    lines.append(
        f"chat intents recognised: {right}/{len(intents)}  "
        + ", ".join(f"{k} {v['ok']}/{v['ok'] + v['wrong']}" for k, v in sorted(by_intent.items()))
    )
    for item, got in alarms + questions:
        missed_lines.append(f"  none [{item.state}] -> {got.describe()}: {item.text!r}")
    for item, got in intents:
        if not (got.intent == item.intent or (item.intent == "chat" and got.intent in ("", "chat"))):
            missed_lines.append(f"  intent {item.intent} -> {got.intent or 'none'}: {item.text!r}")
    return Figures(lines, missed_lines if misses else [])


def _row(name: str, c: Counter[str]) -> str:
    n = sum(c.values())
    pct = f"{c['caught'] / n:.0%}" if n else "n/a"
    with_q = f"{(c['caught'] + c['question']) / n:.0%}" if n else "n/a"
    return f"{name:<15}{n:>5}{c['caught']:>8}{c['question']:>7}{c['under']:>7}{c['missed']:>8}{pct:>10}{with_q:>10}"


def main(argv: list[str] | None = None) -> int:
    """Tuning figures (tuned on), the dev halves, then held-out figures (aggregates only); `--misses` lists the
    misses of the parts that may be read (tuning, dev-look)."""
    parser = argparse.ArgumentParser(prog="backcoach triage-report")
    parser.add_argument("--misses", action="store_true", help="list each tuning or dev-look message not caught")
    parser.add_argument("--part", choices=[*PARTS, "both", "all"], default="both", help="both: tuning and heldout")
    parser.add_argument("--folder", type=Path, help="read the corpus files from here (default: content/triage)")
    args = parser.parse_args(argv)
    content = default_content()
    parts = {"both": ["tuning", "heldout"], "all": list(PARTS)}.get(args.part, [args.part])
    found = False
    for part in parts:
        items = part_items(part, args.folder)
        if items is None:
            print(f"{part}: not found under content/triage/\n")
            continue
        found = True
        if not items:
            print(f"{part}: no {'held-out ' if part == 'heldout' else ''}messages\n")
            continue
        measured = without_dev_blind(content) if part == "dev-blind" else content
        note = {
            "tuning": "tuned on: the rules and the model were fitted to these",
            "dev-look": "outsider C1, misses may be read; the model trained on them",
            "dev-blind": "outsider C1, aggregates only; the model trained without them",
        }.get(part, "")
        figures = report(items, measured, part, misses=args.misses and part in ("tuning", "dev-look"), note=note)
        print("\n".join(figures.lines))
        if figures.misses:
            print(f"\nnot caught ({len(figures.misses)}):")
            print("\n".join(figures.misses))
        print()
    if not found:
        print("no labelled corpus found under content/triage/")
        return 2
    return 0

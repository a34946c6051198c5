"""`backcoach triage-report`: how well free-text triage does on the labelled messages.

Why a command and not only a test: whoever edits the trigger phrases in content/safety.yaml sees recall and
false alarms per rule at once, with the misses listed, before the test suite says pass or fail.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from bot.triage import classify
from content.loader import Safety, load_content

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "triage_labelled.yaml"


def load_labelled(path: Path = LABELLED) -> dict[str, list[str]]:
    """label -> messages; label is a rule id, `none` (ordinary chat) or `unclear`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping label -> list of messages")
    return {str(label): [str(m) for m in messages or []] for label, messages in data.items()}


def _outcome(text: str, safety: Safety) -> str:
    result = classify(text, safety)
    return result.rule_id or ("unclear" if result.unclear else "none")


def report(labelled: dict[str, list[str]], safety: Safety) -> str:
    """The report as text: per rule recall and false alarms on ordinary lines, then the misses."""
    outcomes = {label: [_outcome(m, safety) for m in msgs] for label, msgs in labelled.items()}
    ordinary = Counter(outcomes.get("none", []))
    lines = [f"{'rule':<15}{'prio':>5}{'lines':>7}{'recall':>9}{'false alarms':>14}"]
    hits = total = 0
    for rule in sorted(safety.rules, key=lambda r: r.priority):
        got = outcomes.get(rule.id, [])
        ok = sum(o == rule.id for o in got)
        hits, total = hits + ok, total + len(got)
        recall = f"{ok / len(got):.0%}" if got else "n/a"
        lines.append(f"{rule.id:<15}{rule.priority:>5}{len(got):>7}{recall:>9}{ordinary[rule.id]:>14}")
    alarms = sum(n for label, n in ordinary.items() if label not in ("none", "unclear"))
    lines.append(f"{'all rules':<15}{'':>5}{total:>7}{(hits / total if total else 0):>9.0%}{alarms:>14}")
    unclear = outcomes.get("unclear", [])
    unclear_recall = f"{sum(o == 'unclear' for o in unclear) / len(unclear):.0%}" if unclear else "n/a"
    lines.append(
        f"{'unclear':<15}{'':>5}{len(unclear):>7}{unclear_recall:>9}"
        f"   (ordinary lines asked as unclear: {ordinary['unclear']} of {len(outcomes.get('none', []))})"
    )
    misses = [
        f"  {label} -> {got}: {msg!r}"
        for label, msgs in labelled.items()
        for msg, got in zip(msgs, outcomes[label], strict=True)
        if got != label
    ]
    lines += ["", f"misses ({len(misses)}):", *misses] if misses else ["", "misses: none"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the report for tests/data/triage_labelled.yaml, or for the YAML file given as argument."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else LABELLED
    if not path.exists():
        print(f"labelled set not found: {path}", file=sys.stderr)
        raise SystemExit(2)
    safety = load_content().safety
    labelled = load_labelled(path)
    messages = [m for msgs in labelled.values() for m in msgs]
    classify("", safety)  # compile the patterns once, outside the timing
    started = time.perf_counter()
    for message in messages:
        classify(message, safety)
    per_message = (time.perf_counter() - started) / max(len(messages), 1)
    print(f"Triage report: {path} ({len(messages)} messages)\n")
    print(report(labelled, safety))
    print(f"\nspeed: {per_message * 1e6:.0f} µs per message (mean over the set, patterns already compiled)")


if __name__ == "__main__":
    main()

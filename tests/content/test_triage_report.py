"""`backcoach triage-report` with the retired outsider part split into dev-look and dev-blind, and with an
empty held-out part (between outsiders, content/triage/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import triage_report
from bot.triage_report import OUTSIDER_TAG, dev_half, is_dev_blind, part_items, without_dev_blind
from content.loader import default_content


def _write(folder: Path, name: str, items: list[dict[str, object]]) -> None:
    (folder / name).write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")


def test_the_halves_are_stable_and_fold_case_punctuation_and_spacing() -> None:
    texts = [f"message number {n}, about my back" for n in range(200)]
    halves = [dev_half(t) for t in texts]
    assert set(halves) == {"dev-look", "dev-blind"}
    assert halves == [dev_half(t) for t in texts], "the same text always lands in the same half"
    assert dev_half("My Chest hurts!!") == dev_half("my chest   hurts")


def test_the_outsider_part_is_split_into_two_disjoint_halves_that_cover_it() -> None:
    tuning = part_items("tuning") or []
    outsiders = {i.text for i in tuning if OUTSIDER_TAG in i.tags}
    look = {i.text for i in part_items("dev-look") or []}
    blind = {i.text for i in part_items("dev-blind") or []}
    assert outsiders and look and blind
    assert look.isdisjoint(blind) and look | blind == outsiders


def test_dev_blind_examples_are_left_out_of_the_training_data() -> None:
    content = default_content()
    kept = without_dev_blind(content).examples
    blind = [e for e in content.examples if is_dev_blind(e.text, e.tags)]
    assert blind and len(kept) == len(content.examples) - len(blind)
    assert not any(is_dev_blind(e.text, e.tags) for e in kept)
    assert {e.text for e in kept} >= {e.text for e in content.examples if OUTSIDER_TAG not in e.tags}


def test_an_empty_held_out_part_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "heldout.yaml").write_text("# between outsiders\n[]\n", encoding="utf-8")
    _write(tmp_path, "tuning.yaml", [{"text": "my chest is tight", "rule": "chest_pain", "state": "idle"}])
    assert triage_report.main(["--part", "heldout", "--folder", str(tmp_path)]) == 0
    assert "heldout: no held-out messages" in capsys.readouterr().out


def test_dev_blind_prints_aggregates_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = [f"my chest is tight, day {n}" for n in range(40)]
    blind = [t for t in texts if dev_half(t) == "dev-blind"]
    look = [t for t in texts if dev_half(t) == "dev-look"]
    assert blind and look
    items: list[dict[str, object]] = [
        {"text": t, "rule": "none", "intent": "chat", "state": "idle", "tags": [OUTSIDER_TAG]} for t in texts
    ]
    _write(tmp_path, "tuning.yaml", items)
    assert triage_report.main(["--part", "dev-blind", "--misses", "--folder", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"dev-blind: {len(blind)} messages" in out and "raising a rule" in out
    assert not any(t in out for t in texts), "no dev-blind message is ever printed"
    assert triage_report.main(["--part", "dev-look", "--misses", "--folder", str(tmp_path)]) == 0
    assert any(t in capsys.readouterr().out for t in look), "dev-look misses may be read"


def test_the_tuner_counts_figures_through_the_bots_own_decision() -> None:
    """`python -m bot.triage_tune` scores a setting by running bot/triage_assess.decide on each example."""
    from bot.triage import TriageResult
    from bot.triage_tune import Scored, figures

    content = default_content()
    labels = [r.id for r in content.safety.rules] + ["none"]
    harmless = {label: 0.0 for label in labels} | {"none": 1.0}
    items = [
        Scored("chest_pain", False, TriageResult("chest_pain", unclear=False), harmless),  # a clear rule hit
        Scored("chest_pain", False, TriageResult(None, unclear=False), harmless | {"chest_pain": 1.0, "none": 0.0}),
        Scored("none", False, TriageResult(None, unclear=True), harmless),  # the unclear question
        Scored("none", False, TriageResult("routine", unclear=False), None),  # a long message: the rule stands
    ]
    got = figures(items, content)
    assert (got["direct"], got["direct+asked"], got["emergency"]) == (0.5, 1.0, 1.0)
    assert (got["alarms"], got["questions"]) == (0.5, 0.5)

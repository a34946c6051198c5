"""`python -m bot.triage_tune`: the figures each choice of the model's bars would give, out of fold.

Why: the bars of content/triage/model.yaml (ask, dispute, direct) decide what the learned model may do, so
they are chosen on data the model did not see: every training example except the dev-blind half is scored by
a model trained without its fold (bot/triage_model.out_of_fold), the temperature is fitted on those scores,
and each candidate setting is run through the same decision as the bot (bot/triage_assess.decide).  The rules
were written on these examples, so the figures flatter the rules; dev-blind (`triage-report --part dev-blind`)
is the honest check.  Prints aggregates only.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

from bot.triage import TriageResult, classify
from bot.triage_assess import MODEL_MAX_CHARS, decide
from bot.triage_model import fit_temperature, out_of_fold, softmax
from bot.triage_report import OUTSIDER_TAG, without_dev_blind
from content.loader import Content, default_content

EMERGENCY = ("cauda_equina", "chest_pain")


@dataclass(frozen=True)
class Scored:
    rule: str
    outsider: bool  # a dev-look message (outsider C1): the rules were not written on these
    rules: TriageResult
    probabilities: dict[str, float] | None


def scored(content: Content) -> list[Scored]:
    classes, scores = out_of_fold(content)
    labels = [e.rule for e in content.examples]
    temperature = fit_temperature(classes, scores, labels)
    print(f"temperature fitted out of fold: {temperature:.3f}")
    probs = softmax(scores, temperature)
    out = []
    for example, row in zip(content.examples, probs, strict=True):
        p = dict(zip(classes, (float(v) for v in row), strict=True)) if len(example.text) <= MODEL_MAX_CHARS else None
        outsider = OUTSIDER_TAG in example.tags
        out.append(Scored(example.rule, outsider, classify(example.text, content.safety), p))
    return out


def figures(items: list[Scored], content: Content) -> dict[str, float]:
    priority = {r.id: r.priority for r in content.safety.rules}
    red = [i for i in items if i.rule != "none"]
    harmless = [i for i in items if i.rule == "none"]
    direct = asked = em_n = em_ok = crisis_n = crisis_ok = alarms = questions = 0
    for item in items:
        got = decide(item.rules, item.probabilities, content)
        if item.rule == "none":
            alarms += bool(got and got.rule_id)
            questions += bool(got and not got.rule_id)
            continue
        want = priority[item.rule]
        ok_direct = bool(got and got.rule_id and priority[got.rule_id] <= want)
        ok_asked = not ok_direct and bool(got and got.ask_rule and priority[got.ask_rule] <= want)
        direct += ok_direct
        asked += ok_asked
        if item.rule in EMERGENCY:
            em_n += 1
            em_ok += ok_direct or ok_asked
        if item.rule == "crisis":
            crisis_n += 1
            crisis_ok += ok_direct or ok_asked
    n_r, n_h = max(len(red), 1), max(len(harmless), 1)
    return {
        "direct": direct / n_r,
        "direct+asked": (direct + asked) / n_r,
        "emergency": em_ok / max(em_n, 1),
        "crisis": crisis_ok / max(crisis_n, 1),
        "alarms": alarms / n_h,
        "questions": questions / n_h,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.triage_tune")
    parser.add_argument("--ask", default="0.3,0.4,0.5,0.6", help="general ask bars to try")
    parser.add_argument("--ask-emergency", default="0.15,0.2,0.3", help="ask bars for emergency and chest pain")
    parser.add_argument("--ask-crisis", type=float, default=0.15, help="the ask bar for crisis")
    parser.add_argument("--dispute", default="0.5,0.7,0.8,0.9,1.0", help="dispute bars to try")
    parser.add_argument("--direct", default="0.6,0.7,0.8,1.0", help="direct bars to try")
    parser.add_argument("--dispute-clear", default="0.9,1.0", help="dispute bars on clear evidence to try")
    parser.add_argument("--cancelled", default="0.9,1.0", help="ask bars when the rules' words were cancelled")
    parser.add_argument("--escalate", default="0.7,0.9,1.0", help="bars for asking about a more urgent rule")
    args = parser.parse_args(argv)
    content = without_dev_blind(default_content())
    items = scored(content)
    base = content.model_settings
    grid = itertools.product(
        *(
            tuple(float(v) for v in spec.split(","))
            for spec in (
                args.ask,
                args.ask_emergency,
                args.dispute,
                args.direct,
                args.dispute_clear,
                args.cancelled,
                args.escalate,
            )
        )
    )
    outsiders = [i for i in items if i.outsider]
    head = "direct  +asked  em+chest  crisis  alarms  questions"
    print(f"{'':53}| all training examples but dev-blind{'':17}| dev-look only ({len(outsiders)})")
    print(
        f"{'ask':>5}{'ask-em':>8}{'dispute':>9}{'direct':>8}{'d-clear':>8}{'cancel':>8}{'escal':>7} | {head} | {head}"
    )
    for ask, ask_em, dispute, direct, dispute_clear, cancelled, escalate in grid:
        settings = base.model_copy(
            update={
                "ask_threshold": ask,
                "ask_threshold_by_rule": {"crisis": args.ask_crisis, "cauda_equina": ask_em, "chest_pain": ask_em},
                "dispute_threshold": dispute,
                "direct_threshold": direct,
                "dispute_clear_threshold": dispute_clear,
                "cancelled_ask_threshold": cancelled,
                "escalate_threshold": escalate,
            }
        )
        tuned = content.model_copy(update={"model_settings": settings})
        row = " | ".join(_row(figures(part, tuned)) for part in (items, outsiders))
        print(f"{ask:>5}{ask_em:>8}{dispute:>9}{direct:>8}{dispute_clear:>8}{cancelled:>8}{escalate:>7} | {row}")


def _row(f: dict[str, float]) -> str:
    return (
        f"{f['direct']:6.1%} {f['direct+asked']:7.1%} {f['emergency']:8.1%} {f['crisis']:7.1%} "
        f"{f['alarms']:7.1%} {f['questions']:9.1%}"
    )


if __name__ == "__main__":
    main()

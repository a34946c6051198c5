"""The shipped triage model must be built from the examples it ships with.

An out-of-date artefact is not wrong (the process retrains), but the retraining costs seconds at every start,
which once pushed `backcoach run` past its start-up guard. This names the fix instead: `backcoach triage-build`.
"""

from __future__ import annotations

import json

from bot import triage_model
from content.loader import default_content


def test_shipped_model_matches_the_shipped_examples() -> None:
    stored = json.loads(triage_model.ARTEFACT.read_text(encoding="utf-8"))["fingerprint"]
    assert stored == triage_model.fingerprint(default_content()), (
        "content/triage/model.json is out of date with content/triage: run `backcoach triage-build` and commit it"
    )


def test_shipped_model_is_what_the_build_makes() -> None:
    """Reproducible: training on the shipped examples again gives the shipped weights, idf and temperature."""
    built = triage_model.train(default_content()).to_json()
    assert built == triage_model.ARTEFACT.read_text(encoding="utf-8").strip()

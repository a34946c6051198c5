"""Every message key the flows use exists, and every placeholder they fill is one the text has."""

from __future__ import annotations

import re
from pathlib import Path

from content.loader import Content

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_key_used_in_code_exists(content: Content) -> None:
    used: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("adapters/**/*.py"), *ROOT.glob("scheduler/**/*.py")]:
        used |= set(re.findall(r'msg\(\s*"([a-z_.0-9]+)"', path.read_text(encoding="utf-8")))
    assert used, "the scan found no keys at all"
    missing = sorted(k for k in used if k not in content.messages)
    assert not missing, f"messages.yaml lacks {missing}"


def test_dynamic_keys_exist(content: Content) -> None:
    for key in ("yes", "no", "done", "skip", "hurts"):
        assert f"synonyms.{key}" in content.messages
    for win in ("first_session", "habit_6_in_14"):
        assert f"win.{win}" in content.messages
    for status in ("completed", "stopped", "safety", "running"):
        assert f"status.{status}" in content.messages

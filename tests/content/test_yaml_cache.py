"""The parsed-YAML cache (content/yaml_cache.py) makes a start faster, never different: what it returns is
what parsing returns, for every content file, and an edited, damaged or uncacheable file is parsed."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml

from content import loader
from content.loader import CONTENT_DIR, ContentError
from content.yaml_cache import cached_parse, entry_for

VERSION = "test-parser 1"


def parse_counting(calls: list[bytes]) -> Callable[[bytes], object]:
    """The loader's own parse, noting each call."""

    def parse(raw: bytes) -> object:
        calls.append(raw)
        return loader._parse_yaml(raw)

    return parse


@pytest.mark.parametrize("path", sorted(CONTENT_DIR.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_content_file_reads_back_as_parsed(tmp_path: Path, path: Path) -> None:
    raw = path.read_bytes()
    calls: list[bytes] = []
    first = cached_parse(raw, parse_counting(calls), VERSION, tmp_path)
    again = cached_parse(raw, parse_counting(calls), VERSION, tmp_path)
    with path.open(encoding="utf-8") as fh:
        assert first == again == yaml.safe_load(fh)
    assert len(calls) == 1  # the second came from the cache
    assert entry_for(raw, VERSION, tmp_path).exists()


def test_an_edited_file_or_another_parser_is_parsed_again(tmp_path: Path) -> None:
    calls: list[bytes] = []
    assert cached_parse(b"a: 1\n", parse_counting(calls), VERSION, tmp_path) == {"a": 1}
    assert cached_parse(b"a: 2\n", parse_counting(calls), VERSION, tmp_path) == {"a": 2}
    assert cached_parse(b"a: 1\n", parse_counting(calls), "test-parser 2", tmp_path) == {"a": 1}
    assert len(calls) == 3


def test_a_files_new_version_replaces_its_old_entry_and_no_other(tmp_path: Path) -> None:
    calls: list[bytes] = []
    cached_parse(b"a: 1\n", parse_counting(calls), VERSION, tmp_path, source="/content/one.yaml")
    cached_parse(b"b: 1\n", parse_counting(calls), VERSION, tmp_path, source="/content/two.yaml")
    cached_parse(b"a: 2\n", parse_counting(calls), VERSION, tmp_path, source="/content/one.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            entry_for(b"a: 2\n", VERSION, tmp_path, source="/content/one.yaml").name,
            entry_for(b"b: 1\n", VERSION, tmp_path, source="/content/two.yaml").name,
        ]
    )


def test_a_damaged_entry_is_never_read(tmp_path: Path) -> None:
    raw = b"words: [one, two]\n"
    calls: list[bytes] = []
    cached_parse(raw, parse_counting(calls), VERSION, tmp_path)
    entry = entry_for(raw, VERSION, tmp_path)
    stored = bytearray(entry.read_bytes())
    stored[-2] ^= 0x01  # one bit of the body
    entry.write_bytes(bytes(stored))
    assert cached_parse(raw, parse_counting(calls), VERSION, tmp_path) == {"words": ["one", "two"]}
    entry.write_bytes(b"")  # and a truncated one
    assert cached_parse(raw, parse_counting(calls), VERSION, tmp_path) == {"words": ["one", "two"]}
    assert len(calls) == 3


def test_what_marshal_cannot_hold_or_an_unwritable_directory_is_simply_parsed(tmp_path: Path) -> None:
    calls: list[bytes] = []
    dated = b"when: 2026-03-08\n"  # YAML makes a datetime.date of it
    assert cached_parse(dated, parse_counting(calls), VERSION, tmp_path) == {"when": date(2026, 3, 8)}
    assert not entry_for(dated, VERSION, tmp_path).exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert cached_parse(b"a: 1\n", parse_counting(calls), VERSION, blocked / "cache") == {"a": 1}
    assert len(calls) == 2


def test_invalid_yaml_is_a_content_error_and_is_not_remembered(tmp_path: Path) -> None:
    bad = tmp_path / "program.yaml"
    bad.write_text("exercises: [unclosed\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ContentError, match=r"program\.yaml: not valid YAML"):
            loader._read_yaml(bad)


def test_the_cache_lives_under_the_users_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert loader._read_yaml(CONTENT_DIR / "program.yaml") == yaml.safe_load(
        (CONTENT_DIR / "program.yaml").read_text(encoding="utf-8")
    )
    assert [p.name.endswith(".marshal") for p in (tmp_path / "backcoach" / "yaml").iterdir()] == [True]
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "backcoach" / "yaml").iterdir())
    assert os.listdir(tmp_path) == ["backcoach"]

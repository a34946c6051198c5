"""Parsed YAML, remembered by the file's exact bytes. Parsing the content's YAML (most of it the triage
corpus) was the larger part of loading the content at every start, and a file's parse changes only when
the file does.

An entry holds what the YAML loader returned for those bytes, in marshal's format (the one Python's own
`__pycache__` uses), under the user's cache directory. Its name is the SHA-256 of the bytes, the PyYAML
version and the interpreter's version, so an edited file, an upgraded PyYAML or another Python never reads
a stale entry; the entry carries the SHA-256 of its own body, so a damaged one is never read. Anything
unexpected (no cache directory, a read-only home, a damaged entry, a value marshal cannot hold) falls back
to parsing: the cache makes a start faster, never different.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

FORMAT = 1  # bump if what an entry holds changes
DIGEST = hashlib.sha256().digest_size


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/backcoach/yaml, or ~/.cache/backcoach/yaml."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backcoach" / "yaml"


def _source_key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def entry_for(raw: bytes, parser_version: str, directory: Path | None = None, source: str = "") -> Path:
    """The entry for these bytes read from `source` (a file's path): named by both, so that writing a
    file's new entry can remove the entries of its older versions and the cache stays small."""
    key = hashlib.sha256(raw)
    key.update(f"|{FORMAT}|{parser_version}|{sys.version}|{marshal.version}".encode())
    return (directory or cache_dir()) / f"{_source_key(source)}-{key.hexdigest()}.marshal"


def cached_parse(
    raw: bytes,
    parse: Callable[[bytes], object],
    parser_version: str,
    directory: Path | None = None,
    source: str = "",
) -> object:
    """`parse(raw)`, or what it returned for the same bytes before. `parse`'s errors propagate (and
    nothing is remembered)."""
    entry = entry_for(raw, parser_version, directory, source)
    try:
        stored = entry.read_bytes()
        digest, body = stored[:DIGEST], stored[DIGEST:]
        if hashlib.sha256(body).digest() == digest:
            return marshal.loads(body)
    except (OSError, EOFError, ValueError, TypeError):
        pass  # no entry yet: parse
    data = parse(raw)
    try:
        body = marshal.dumps(data)  # type: ignore[arg-type]  # a value it cannot hold raises ValueError
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(hashlib.sha256(body).digest() + body)
            os.replace(tmp, entry)  # whole or not at all, even with several processes starting together
        except BaseException:
            os.unlink(tmp)
            raise
        for older in entry.parent.glob(f"{_source_key(source)}-*.marshal"):  # the same file's other versions
            if older != entry:
                older.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass  # not cacheable here: the parse stands
    return data

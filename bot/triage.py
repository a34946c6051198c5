"""Free-text symptom triage: which safety rule, if any, a chat message raises.

Why rules and not a model: every trigger sits in content/safety.yaml beside the advice it leads to, so a
clinician can read and change it, every decision can be explained, and tests/data/triage_labelled.yaml
measures it.  Pure functions, no I/O.

How a message is read
- Normalised: lower case, apostrophes dropped ("don't" -> "dont"), "<aux> not" folded ("do not" -> "dont",
  "cannot" -> "cant"), split into words.  Sentence punctuation (. ! ? ; newline) is a hard break; commas,
  colons and dashes are soft breaks.  Words and phrases never match across a break.
- A term is a word or a phrase ("pins and needles"), normalised the same way; a final "*" makes its last
  word a prefix ("tingl*").
- Negation window: an occurrence does not count when one of the 3 words before it is a negation word
  ("no chest pain", "legs dont tingle", "without numbness").  "and"/"or"/"nor" and soft breaks are not
  counted in the 3, so "no numbness, tingling or pain" negates all three.  A hard break or a word from
  `negation_breaks` ("but", "some", ...) ends the window ("no pain but my foot tingles").  A negation word
  followed directly by a soft break is an answer, not a negation ("No, my leg is numb").
- A pattern matches when each of its groups has a counting occurrence and none of its `none_of` terms
  occurs.  Of the matching rules the lowest `priority` wins.  `unclear` is set only when no rule matched
  and an unclear term counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from content.loader import Safety

_WINDOW = 3
_HARD, _SOFT = ".", ","
_CONJUNCTIONS = frozenset({"and", "or", "nor"})
_APOSTROPHES = str.maketrans("", "", "'’‘`´ʼ")
_HARD_CHARS, _SOFT_CHARS = frozenset(".!?;\n"), frozenset(",:\u2013\u2014()-")
_TOKEN = re.compile(r"\w+|[.!?;\n]|[,:\u2013\u2014()]|(?<=\s)-(?=\s)")
_NOT_FOLD = {
    "do": "dont", "does": "doesnt", "did": "didnt", "is": "isnt", "are": "arent", "was": "wasnt",
    "were": "werent", "have": "havent", "has": "hasnt", "had": "hadnt", "could": "couldnt",
    "would": "wouldnt", "should": "shouldnt", "can": "cant", "will": "wont",
}  # fmt: skip


@dataclass(frozen=True)
class TriageResult:
    """The most urgent rule the message raises (None if none), and whether to ask a yes/no question."""

    rule_id: str | None
    unclear: bool


def tokenize(text: str) -> list[str]:
    """Normalised words plus break markers ("." hard, "," soft); shared by messages and terms."""
    tokens: list[str] = []
    for raw in _TOKEN.findall(text.lower().translate(_APOSTROPHES)):
        tok = _HARD if raw in _HARD_CHARS else _SOFT if raw in _SOFT_CHARS else raw
        if tok == "not" and tokens and tokens[-1] in _NOT_FOLD:
            tokens[-1] = _NOT_FOLD[tokens[-1]]
            continue
        tokens.append("cant" if tok == "cannot" else tok)
    return tokens


@dataclass(frozen=True)
class _Word:
    text: str
    prefix: bool

    def matches(self, token: str) -> bool:
        return token.startswith(self.text) if self.prefix else token == self.text


@dataclass(frozen=True)
class _Pattern:
    rule_id: str
    groups: tuple[frozenset[int], ...]
    none_of: frozenset[int]


class _Compiled:
    """Terms indexed by their first word, so a message is scanned once whatever the number of rules."""

    def __init__(self, safety: Safety) -> None:
        self.safety = safety
        self.terms: list[tuple[_Word, ...]] = []
        self._ids: dict[str, int] = {}
        self.exact: dict[str, list[int]] = {}
        self.prefixes: dict[str, list[int]] = {}
        priority = {rule.id: rule.priority for rule in safety.rules}
        patterns = [
            (priority[p.rule], i, _Pattern(p.rule, tuple(self._group(g) for g in pat.all_of),
                                            self._group(pat.none_of)))
            for i, p in enumerate(safety.phrases)
            for pat in p.patterns
        ]  # fmt: skip
        self.patterns = [pattern for _, _, pattern in sorted(patterns, key=lambda t: (t[0], t[1]))]
        self.unclear = self._group(safety.unclear_terms)
        self.negations = frozenset(w for n in safety.negations for w in tokenize(n))
        self.breaks = frozenset(w for b in safety.negation_breaks for w in tokenize(b)) | {_HARD}
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})

    def _group(self, terms: list[str]) -> frozenset[int]:
        return frozenset(self._term(t) for t in terms)

    def _term(self, term: str) -> int:
        tokens = [t for t in tokenize(term.rstrip("*")) if t not in (_HARD, _SOFT)]
        if not tokens:
            raise ValueError(f"triage term {term!r} has no words")
        last = len(tokens) - 1
        words = tuple(_Word(t, i == last and term.endswith("*")) for i, t in enumerate(tokens))
        key = " ".join(w.text + "*" * w.prefix for w in words)
        if key not in self._ids:
            self._ids[key] = len(self.terms)
            self.terms.append(words)
            index = self.prefixes if words[0].prefix else self.exact
            index.setdefault(words[0].text, []).append(self._ids[key])
        return self._ids[key]

    def _negated(self, tokens: list[str], start: int) -> bool:
        counted, j = 0, start - 1
        while j >= 0 and counted < _WINDOW:
            tok = tokens[j]
            if tok in self.breaks:
                return False
            if tok in self.negations and not (j + 1 < len(tokens) and tokens[j + 1] == _SOFT):
                return True
            if tok != _SOFT and tok not in _CONJUNCTIONS:
                counted += 1
            j -= 1
        return False

    def scan(self, tokens: list[str]) -> tuple[set[int], set[int]]:
        """(terms with an occurrence that counts, terms that occur at all)."""
        counting: set[int] = set()
        present: set[int] = set()
        for i, tok in enumerate(tokens):
            if tok in (_HARD, _SOFT):
                continue
            candidates = list(self.exact.get(tok, ()))
            for length in self.prefix_lengths:
                if length > len(tok):
                    break
                candidates.extend(self.prefixes.get(tok[:length], ()))
            for term_id in candidates:
                words = self.terms[term_id]
                end = i + len(words)
                if end > len(tokens) or not all(w.matches(t) for w, t in zip(words, tokens[i:end], strict=True)):
                    continue
                present.add(term_id)
                if term_id not in counting and not self._negated(tokens, i):
                    counting.add(term_id)
        return counting, present


_CACHE: dict[int, _Compiled] = {}


def _compiled(safety: Safety) -> _Compiled:
    """Compile once per Safety object (identity-checked, since ids can be reused after garbage collection)."""
    entry = _CACHE.get(id(safety))
    if entry is None or entry.safety is not safety:
        if len(_CACHE) > 8:
            _CACHE.clear()
        entry = _CACHE[id(safety)] = _Compiled(safety)
    return entry


def classify(text: str, safety: Safety) -> TriageResult:
    """The most urgent rule a free-text message raises; see the module docstring for the matching rules."""
    compiled = _compiled(safety)
    counting, present = compiled.scan(tokenize(text or ""))
    if counting:
        for pattern in compiled.patterns:
            if pattern.none_of & present:
                continue
            if all(group & counting for group in pattern.groups):
                return TriageResult(pattern.rule_id, unclear=False)
    return TriageResult(None, unclear=bool(compiled.unclear & counting))

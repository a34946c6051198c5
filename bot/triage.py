"""Free-text symptom triage: which safety rule, if any, a chat message raises.

Why rules first: every trigger sits in content/safety.yaml beside the advice it leads to, so a clinician can
read and change it and every decision can be explained.  A learned second opinion (bot/triage_model.py) joins
in bot/triage_assess.py: it may turn a rule hit on weak evidence (`TriageResult.weak`) into the rule's yes/no
question, ask about a more urgent rule after the advice, or, when these rules are silent, ask its own question
or (only for the rules that hold nothing) give the advice; it never overrules crisis words or a clear
emergency phrase.  Pure functions.

How a message is read (the whole message, however long)
- Normalised: lower case; possessive 's dropped ("leg's" -> "leg", but "it's" -> "its"); other apostrophes
  dropped ("don't" -> "dont"); "<aux> not" folded ("do not" -> "dont", "cannot" -> "cant"); numbers split
  from units ("20mins" -> "20 mins"); a body temperature of 38 °C / 100.4 °F or more adds "high temperature".
  Sentence punctuation (. ! ? ; newline) is a hard break, commas, colons and dashes soft breaks; a phrase
  never matches across a break.
- Shorthand and run-together words are read as their words (`rewrites`, content/triage/context.yaml:
  "cp" -> "chest pain", "chestpain"), and an exercise's name becomes one word ("knee to chest" ->
  "kneetochest") so its body word is not read as a symptom while a real chest mention beside it still is.
- Misspellings: a word that is not in any trigger list (nor in `protected`, content/triage/context.yaml) is
  replaced by the trigger word one edit away (a swap of two letters counts as one edit; a four-letter word
  only by a swap or a lost letter, never another letter; of two equally near words the one with the same
  first letter): "sciattica" -> "sciatica", "pian" -> "pain", "ches" -> "chest", never "rain" -> "pain".
  Candidates come from a symmetric-delete index (SymSpell's idea), the distance from rapidfuzz.  Why not
  symspellpy itself: its per-word lookup in pure Python was the larger cost, and only the vocabulary of the
  trigger lists is needed.
- A term is a word or phrase ("pins and needles"); a final "*" makes its last word a prefix ("tingl*");
  `fillers` may sit between a trigger phrase's words ("cant quite feel my"), not between a modifier's.
  `idioms` ("my heart sank") are skipped.
- Context (ConText, content/triage/context.yaml): a mention that is denied, past, hypothetical, about
  someone else or improving does not count, unless the rule is listed in that category's `keeps`.  A
  forward modifier also reaches a mention that starts inside it ("if my" + "my back went"), never one
  that starts with its stop word ("my kids ... my back"); each modifier's reach is walked once, so a
  long message costs linear time.  When no symptom word counts at all, the learned model may not ask.  A
  trigger phrase that itself starts with a negation ("not getting better", "no feeling") and the `pseudo`
  phrases are ConText's pseudo-triggers: the modifier words inside them modify nothing.
  Why our own ConText and not medspaCy's: measured on this machine (one core, spaCy blank("en") +
  sentencizer + medspacy_context, default rules), `import medspacy` took 3.45 s (goal: model ready < 1 s),
  p99 4.5 ms per message (goal < 2 ms), and its default rules missed "my neighbour has sciatica", "chest
  pains years back, all clear now" and "the tingling has almost gone".  The algorithm is the same; the
  rules are data a clinician can read.
- A pattern matches when each of its groups has a counting occurrence and none of its `none_of` terms
  occurs.  Of the matching rules the lowest `priority` wins.  `unclear` is set only when no rule matched and
  an unclear term counts.  The evidence is `weak` when a word of the message was spelling-corrected or a
  context cue (a modifier or an idiom) stands anywhere in the message without cancelling the mention.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from rapidfuzz.distance import OSA

from content.loader import ContextRules, Safety, english_words

_HARD, _SOFT = ".", ","
_CONJUNCTIONS = frozenset({"and", "or", "nor", "&"})
_KEEP_S = frozenset(
    "it that what there he she who here let where how everyone nobody somebody someone everybody".split()
)
_POSSESSIVE = re.compile(r"(\w+)['’‘`´ʼ]s\b")
_APOSTROPHES = str.maketrans("", "", "'’‘`´ʼ")
_HARD_CHARS, _SOFT_CHARS = frozenset(".!?;\n"), frozenset(",:\u2013\u2014()-")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|[.!?;\n]|[,:\u2013\u2014()]|(?<=\s)-(?=\s)")
_FEVER = re.compile(
    r"\b(?:3[89]|4[0-2])(?:[.,]\d)?\s*(?:°|º|degrees?\b|deg\b|c\b)|\b(?:100(?:\.[4-9])?|10[1-6](?:\.\d)?)\s*(?:°|degrees?\s*f\b|f\b)"
    # "temp 39", "temp's 38.2", "temperature is 38.5": a number after the word needs no unit
    r"|\btemp(?:erature)?(?:s|\s+is|\s+of|\s+was|\s+at|\s+reading)?[\s:=]+(?:3[89]|4[0-2])(?:[.,]\d)?\b"
    # a bare 38.0-41.9 with one decimal is read as a temperature unless a unit follows
    r"|\b(?:3[89]|4[01])\.\d\b(?!\s*(?:kg|kilo|k\b|km|mile|hour|hr|min|%|lb|pound|stone|cm|mm|inch))"
)
_NOT_FOLD = {
    "do": "dont", "does": "doesnt", "did": "didnt", "is": "isnt", "are": "arent", "was": "wasnt",
    "were": "werent", "have": "havent", "has": "hasnt", "had": "hadnt", "could": "couldnt",
    "would": "wouldnt", "should": "shouldnt", "can": "cant", "will": "wont",
}  # fmt: skip
_MAX_FILLERS = 2


@dataclass(frozen=True)
class TriageResult:
    """The most urgent rule the message raises (None if none), and whether to ask a yes/no question."""

    rule_id: str | None
    unclear: bool
    # rules whose words are there but whose context (denied, past, someone else...) cancelled them: the
    # learned model must not ask about these ("chest pains years back, all clear now"); every rule when
    # no symptom word in the message counts at all
    cancelled: frozenset[str] = frozenset()
    idiom: bool = False  # an idiom was read ("a weight off my chest"): the model must not ask either
    # the rule's evidence is weak: a word of the message was spelling-corrected, or a context cue (a negation,
    # a past, hypothetical, someone-else or improving word, an idiom) stands in the message without reaching
    # the mention; the learned model may then turn the advice into the rule's targeted question
    # (bot/triage_assess.py)
    weak: bool = False


def _possessive(match: re.Match[str]) -> str:
    word = match.group(1)
    return word + "s" if word.lower() in _KEEP_S else word


def tokenize(text: str) -> list[str]:
    """Normalised words plus break markers ("." hard, "," soft); shared by messages and terms."""
    text = unicodedata.normalize("NFKC", text).lower()
    if _FEVER.search(text):
        text += " . high temperature"
    text = _POSSESSIVE.sub(_possessive, text).translate(_APOSTROPHES)
    tokens: list[str] = []
    for raw in _TOKEN.findall(text):
        tok = _HARD if raw in _HARD_CHARS else _SOFT if raw in _SOFT_CHARS else raw
        if tok == "not" and tokens and tokens[-1] in _NOT_FOLD:
            tokens[-1] = _NOT_FOLD[tokens[-1]]
            continue
        tokens.append("cant" if tok == "cannot" else tok)
    return tokens


def _words(term: str) -> list[str]:
    return [t for t in tokenize(term.rstrip("*")) if t not in (_HARD, _SOFT)]


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
    keeps: frozenset[str]


@dataclass(frozen=True)
class _Modifier:
    category: str
    direction: str
    scope: int
    words: tuple[str, ...]
    terminators: frozenset[str]


class _Speller:
    """Corrects a word to the nearest trigger word (symmetric-delete candidates, OSA distance)."""

    def __init__(self, vocabulary: set[str], protected: set[str]) -> None:
        self.vocabulary = vocabulary
        self.protected = protected
        self.deletes: dict[str, list[str]] = {}
        for word in sorted(vocabulary):
            if len(word) >= 4 and word.isalpha():
                for key in self._keys(word, 1):
                    self.deletes.setdefault(key, []).append(word)
        self.cache: dict[str, str] = {}

    @staticmethod
    def _keys(word: str, depth: int) -> set[str]:
        keys, frontier = {word}, {word}
        for _ in range(depth):
            frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
            keys |= frontier
        return keys

    def correct(self, token: str) -> str:
        if len(token) < 4 or token in self.vocabulary or token in self.protected or not token.isalpha():
            return token
        hit = self.cache.get(token)
        if hit is None:
            hit = self._lookup(token)
            if len(self.cache) > 50_000:
                self.cache.clear()
            self.cache[token] = hit
        return hit

    def _lookup(self, token: str) -> str:
        allowed = 1
        best, best_distance = token, allowed + 1
        for key in self._keys(token, 1):
            for word in self.deletes.get(key, ()):
                if len(token) == 4 and sorted(word) != sorted(token) and not _one_letter_short(token, word):
                    continue  # four letters: a swap ("pian" -> "pain") or a lost letter ("ches" -> "chest"),
                    # never another letter ("rain" -> "pain")
                distance = OSA.distance(token, word, score_cutoff=allowed)
                if distance < best_distance or (distance == best_distance and _before(word, best, token)):
                    best, best_distance = word, distance
        return best if best_distance <= allowed else token


def _before(word: str, best: str, token: str) -> bool:
    """Between two equally near words, the one that keeps the first letter ("ches" -> "chest", not "aches")."""
    return (word[:1] != token[:1], word) < (best[:1] != token[:1], best)


def _one_letter_short(token: str, word: str) -> bool:
    return len(word) == len(token) + 1 and any(word[:i] + word[i + 1 :] == token for i in range(len(word)))


class _Compiled:
    """Terms indexed by their first word, so a message is scanned once whatever the number of rules."""

    def __init__(self, safety: Safety) -> None:
        self.safety = safety
        ctx: ContextRules = safety.context
        self.terms: list[tuple[_Word, ...]] = []
        self._ids: dict[str, int] = {}
        self.exact: dict[str, list[int]] = {}
        self.prefixes: dict[str, list[int]] = {}
        priority = {rule.id: rule.priority for rule in safety.rules}
        patterns = [
            (priority[p.rule], i, _Pattern(p.rule, tuple(self._group(g) for g in pat.all_of),
                                            self._group(pat.none_of), frozenset(self._keeps(ctx, p.rule))))
            for i, p in enumerate(safety.phrases)
            for pat in p.patterns
        ]  # fmt: skip
        self.patterns = [pattern for _, _, pattern in sorted(patterns, key=lambda t: (t[0], t[1]))]
        self.unclear = self._group(safety.unclear_terms)
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})
        self.token_info: dict[str, tuple[tuple[int, ...], bool]] = {}
        self.pair_candidates: dict[tuple[str, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.corrected: dict[str, str] = {}
        self.fillers = frozenset(w for f in ctx.fillers for w in _words(f))
        self.terminators = frozenset(w for t in ctx.terminators if len(_words(t)) == 1 for w in _words(t))
        self.terminator_phrases: dict[str, list[tuple[str, ...]]] = {}
        for t in ctx.terminators:
            if len(_words(t)) > 1:
                self.terminator_phrases.setdefault(_words(t)[0], []).append(tuple(_words(t)))
        self.recurrence = _by_pair([(ws, ws) for r in ctx.recurrence if (ws := tuple(_words(r)))])
        self.symbols = {k: f" {v} " for k, v in ctx.rewrites.items() if not _words(k)}  # emoji: before words
        self.rewrites: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for phrase, replacement in ctx.rewrites.items():
            words = tuple(_words(phrase))
            if words:
                self.rewrites.setdefault(words[0], []).append((words, tuple(_words(replacement))))
        for entries in self.rewrites.values():
            entries.sort(key=lambda e: -len(e[0]))  # the longest phrase first
        self.modifiers: dict[str, list[_Modifier]] = {}
        for mod in ctx.modifiers:
            stops = frozenset(w for t in mod.terminators if len(_words(t)) == 1 for w in _words(t))
            for literal in mod.literals:
                words = tuple(_words(literal))
                if words:
                    entry = _Modifier(mod.category, mod.direction, mod.max_scope, words, stops)
                    self.modifiers.setdefault(words[0], []).append(entry)
        self.negation_words = frozenset(
            m.words[0]
            for mods in self.modifiers.values()
            for m in mods
            if m.category == "negated" and len(m.words) == 1
        )
        self.pseudo: dict[str, list[tuple[str, ...]]] = {}
        for literal in ctx.pseudo:
            words = tuple(_words(literal))
            if words:
                self.pseudo.setdefault(words[0], []).append(words)
        self.idioms: dict[str, list[tuple[str, ...]]] = {}
        for idiom in ctx.idioms:
            words = tuple(_words(idiom))
            if words:
                self.idioms.setdefault(words[0], []).append(words)
        self.by_pair = {
            "idioms": _by_pair([(w, w) for ws in self.idioms.values() for w in ws]),
            "pseudo": _by_pair([(w, w) for ws in self.pseudo.values() for w in ws]),
        }
        self.modifiers_by_pair = _by_pair([(m.words, m) for ms in self.modifiers.values() for m in ms])
        vocabulary = {w.text for term in self.terms for w in term if not w.prefix}
        vocabulary |= {w for mods in self.modifiers.values() for m in mods for w in m.words}
        vocabulary |= {w for idioms in self.idioms.values() for i in idioms for w in i} | self.fillers
        vocabulary |= self.terminators | _CONJUNCTIONS
        vocabulary |= {w for es in self.rewrites.values() for _, r in es for w in r}
        vocabulary |= {w for ps in self.terminator_phrases.values() for p in ps for w in p}
        protected = {w for p in ctx.protected for w in _words(p)} | (english_words() - vocabulary)
        protected |= {w.text for term in self.terms for w in term if w.prefix}
        self.speller = _Speller(vocabulary, protected)
        self.stems_by_letter: dict[str, list[str]] = {}
        for stem in sorted({w.text for term in self.terms for w in term if w.prefix}):
            self.stems_by_letter.setdefault(stem[:1], []).append(stem)

    @staticmethod
    def _keeps(ctx: ContextRules, rule_id: str) -> set[str]:
        return {category for category, rules in ctx.keeps.items() if rule_id in rules}

    def _group(self, terms: list[str]) -> frozenset[int]:
        return frozenset(self._term(t) for t in terms)

    def _term(self, term: str) -> int:
        tokens = _words(term)
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

    def normalise(self, text: str) -> list[str]:
        """Tokens with misspellings corrected (a prefix stem such as "tingl" is never corrected away)."""
        return self.normalise_marked(text)[0]

    def normalise_marked(self, text: str) -> tuple[list[str], bool]:
        """The tokens of `normalise`, and whether any word was spelling-corrected."""
        out = []
        fuzzy = False
        cache = self.corrected
        for symbol, words in self.symbols.items():
            if symbol in text:
                text = text.replace(symbol, words)
        for tok in self._rewrite(tokenize(text)):
            fixed = cache.get(tok)
            if fixed is None:
                keep = tok in self.speller.vocabulary or any(tok.startswith(s) for s in self._stems_for(tok))
                fixed = tok if keep else self.speller.correct(tok)
                if len(cache) > 100_000:
                    cache.clear()
                cache[tok] = fixed
            fuzzy = fuzzy or fixed != tok
            out.append(fixed)
        return out, fuzzy

    def _rewrite(self, tokens: list[str]) -> list[str]:
        """Shorthand and run-together words replaced by their words (content/triage/context.yaml rewrites)."""
        table = self.rewrites
        if not table or table.keys().isdisjoint(tokens):
            return tokens
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for words, replacement in table.get(tokens[i], ()):
                if tuple(tokens[i : i + len(words)]) == words:
                    out.extend(replacement)
                    i += len(words)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out

    def _stems_for(self, tok: str) -> list[str]:
        return self.stems_by_letter.get(tok[:1], [])

    def _match(self, words: Sequence[_Word | str], tokens: list[str], i: int) -> int:
        """End index of `words` matched at tokens[i] (fillers may sit between words), or -1."""
        if isinstance(words[0], str):  # modifiers, idioms, pseudo-triggers: exact words, no fillers between
            end = i + len(words)
            return end if tuple(tokens[i:end]) == tuple(words) else -1
        j = i
        for k, word in enumerate(words):
            if k:
                skipped = 0
                while j < len(tokens) and tokens[j] in self.fillers and skipped < _MAX_FILLERS:
                    if _ok(word, tokens[j]):
                        break
                    j, skipped = j + 1, skipped + 1
            if j >= len(tokens) or not _ok(word, tokens[j]):
                return -1
            j += 1
        return j

    def _info(self, tok: str) -> tuple[tuple[int, ...], bool]:
        """(terms that may start at this word, whether an idiom/pseudo/modifier may start here), cached."""
        info = self.token_info.get(tok)
        if info is None:
            candidates = list(self.exact.get(tok, ()))
            for length in self.prefix_lengths:
                if length > len(tok):
                    break
                candidates.extend(self.prefixes.get(tok[:length], ()))
            other = (
                tok in self.idioms
                or tok in self.pseudo
                or tok in self.modifiers
                or tok in self.recurrence
                or tok == _HARD
            )
            info = (tuple(candidates), other)
            if len(self.token_info) > 100_000:
                self.token_info.clear()
            self.token_info[tok] = info
        return info

    def _pair(self, candidates: tuple[int, ...], key: tuple[str, str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The terms that may start at a word followed by `key[1]`: one-word terms (matched already) and
        longer ones whose second word fits (or may follow a filler).  Cached per word pair, so the common
        pairs of a long message cost a dictionary look-up."""
        after = key[1]
        loose = after in self.fillers
        singles = tuple(t for t in candidates if len(self.terms[t]) == 1)
        multis = tuple(t for t in candidates if len(self.terms[t]) > 1 and (loose or self.terms[t][1].matches(after)))
        if len(self.pair_candidates) > 200_000:
            self.pair_candidates.clear()
        self.pair_candidates[key] = (singles, multis)
        return singles, multis

    def scan(self, tokens: list[str]) -> tuple[dict[int, list[tuple[frozenset[str], int]]], set[int], bool, bool]:
        """term -> (context categories, position) of each occurrence; terms that occur; whether an idiom did;
        whether any context cue (a modifier or an idiom) occurs at all."""
        known = self.token_info
        infos = [known.get(tok) or self._info(tok) for tok in tokens]
        special = [i for i, info in enumerate(infos) if info[1]]
        masked: set[int] = set()
        for i in special:
            for idiom in _starting(self.by_pair["idioms"], tokens, i):
                end = self._match(idiom, tokens, i)
                if end > 0:
                    masked.update(range(i, end))
        spans: list[tuple[int, int, int]] = []
        pairs = self.pair_candidates
        last = len(tokens) - 1
        for i, info in enumerate(infos):
            if not info[0] or i in masked:
                continue
            key = (tokens[i], tokens[i + 1] if i < last else "")
            found = pairs.get(key)
            if found is None:
                found = self._pair(info[0], key)
            singles, multis = found
            for term_id in singles:  # a one-word term starting here has matched already (exact or prefix)
                spans.append((term_id, i, i + 1))
            for term_id in multis:
                end = self._match(self.terms[term_id], tokens, i)
                if end > 0:
                    spans.append((term_id, i, end))
        if not spans:
            return {}, set(), bool(masked), bool(masked)
        covered: set[int] = set()  # pseudo-triggers: "not getting better", "no feeling" are symptoms, not denials
        for term_id, start, end in spans:
            if self.terms[term_id][0].text in self.negation_words:
                covered.update(range(start, end))
        for i in special:
            for pseudo in _starting(self.by_pair["pseudo"], tokens, i):
                end = self._match(pseudo, tokens, i)
                if end > 0:
                    covered.update(range(i, end))
        mods: list[tuple[_Modifier, int, int]] = []
        for i in special:
            for mod in _starting(self.modifiers_by_pair, tokens, i):
                end = self._match(mod.words, tokens, i)
                if end > 0 and covered.isdisjoint(range(i, end)):
                    mods.append((mod, i, end))
        occurrences: dict[int, list[tuple[frozenset[str], int]]] = {}
        reached: list[set[str]] = [set() for _ in spans]
        if mods:
            stop_tokens = self._stops(tokens)
            back = self._recurrences(tokens, special)
            breaks = [i for i in special if tokens[i] == _HARD]
            starts = [start for _, start, _ in spans]  # spans are found in order of their start
            longest = max(end - start for _, start, end in spans)
            for mod, ms, me in mods:
                if mod.category in _RECURRING and back and _comes_back(back, breaks, me):
                    continue  # "sciatica 5 years ago and it's come back": the past no longer cancels it
                if mod.direction in ("forward", "both"):
                    last = self._reach_forward(stop_tokens, mod, me)
                    # a mention may start inside the modifier ("if my" + "my back went", "can sciatica")
                    for k in range(bisect.bisect_right(starts, ms), bisect.bisect_right(starts, last)):
                        reached[k].add(mod.category)
                if mod.direction in ("backward", "both"):
                    first = self._reach_backward(stop_tokens, mod, ms)
                    for k in range(bisect.bisect_left(starts, first - longest), bisect.bisect_left(starts, ms)):
                        if first <= spans[k][2] <= ms:
                            reached[k].add(mod.category)
        for (term_id, start, _), cats in zip(spans, reached, strict=True):
            occurrences.setdefault(term_id, []).append((frozenset(cats), start))
        return occurrences, set(occurrences), bool(masked), bool(masked) or bool(mods)

    def _recurrences(self, tokens: list[str], special: list[int]) -> list[int]:
        """Where a recurrence phrase ("come back", "started again") starts, in order."""
        return [i for i in special if any(self._match(r, tokens, i) > 0 for r in _starting(self.recurrence, tokens, i))]

    def _stops(self, tokens: list[str]) -> list[str]:
        """The tokens with each multi-word terminator ("aside from") replaced by a plain terminator word."""
        out = list(tokens)
        for i, tok in enumerate(tokens):
            for phrase in self.terminator_phrases.get(tok, ()):
                if tuple(tokens[i : i + len(phrase)]) == phrase:
                    out[i] = "but"
        return out

    def _stop(self, tok: str, mod: _Modifier) -> bool:
        return tok == _HARD or tok in self.terminators or tok in mod.terminators

    def _reach_forward(self, tokens: list[str], mod: _Modifier, me: int) -> int:
        """The last index at which a mention may start and still be modified by `mod` (ending at `me`).

        Why a walk from the modifier and not a check per mention: each modifier is walked once, at most
        `max_scope` counted words, so a long message costs linear time however many mentions it holds.
        """
        if len(mod.words) == 1 and mod.category == "negated" and me < len(tokens) and tokens[me] == _SOFT:
            return me - 1  # "No, my leg is numb": an answer, not a denial
        counted, j = 0, me
        while j < len(tokens):
            tok = tokens[j]
            if self._stop(tok, mod):
                return j - 1  # nor a mention that starts with the stop word ("my kids ... my back")
            if tok != _SOFT and tok not in _CONJUNCTIONS:
                counted += 1
                if counted > mod.scope:
                    break
            j += 1
        return j

    def _reach_backward(self, tokens: list[str], mod: _Modifier, ms: int) -> int:
        """The first index at which a mention may end and still be modified by `mod` (starting at `ms`)."""
        counted, j = 0, ms - 1
        while j >= 0:
            tok = tokens[j]
            if self._stop(tok, mod):
                break
            if tok != _SOFT and tok not in _CONJUNCTIONS:
                counted += 1
                if counted > mod.scope:
                    break
            j -= 1
        return j + 1


_T = TypeVar("_T")
_RECURRING = frozenset({"historical", "improving"})


def _comes_back(back: list[int], breaks: list[int], me: int) -> bool:
    """A recurrence phrase after a modifier (ending at `me`) and before the sentence ends."""
    k = bisect.bisect_left(back, me)
    return k < len(back) and bisect.bisect_left(breaks, me) == bisect.bisect_left(breaks, back[k])


def _by_pair(entries: list[tuple[tuple[str, ...], _T]]) -> dict[str, dict[str, list[_T]]]:
    """Phrases indexed by first word, then by second word ("" for a one-word phrase)."""
    table: dict[str, dict[str, list[_T]]] = {}
    for words, entry in entries:
        table.setdefault(words[0], {}).setdefault(words[1] if len(words) > 1 else "", []).append(entry)
    return table


def _starting(table: dict[str, dict[str, list[_T]]], tokens: list[str], i: int) -> list[_T]:
    """The phrases of `table` whose first two words are those at tokens[i] (a cheap pre-filter)."""
    second = table.get(tokens[i])
    if not second:
        return []
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    return second.get("", []) + second.get(nxt, []) if nxt else second.get("", [])


def _ok(word: _Word | str, token: str) -> bool:
    return word.matches(token) if isinstance(word, _Word) else word == token


_CACHE: dict[int, _Compiled] = {}


def _compiled(safety: Safety) -> _Compiled:
    """Compile once per Safety object (identity-checked, since ids can be reused after garbage collection)."""
    entry = _CACHE.get(id(safety))
    if entry is None or entry.safety is not safety:
        if len(_CACHE) > 8:
            _CACHE.clear()
        entry = _CACHE[id(safety)] = _Compiled(safety)
    return entry


def _near(found: list[list[int]], window: int) -> bool:
    """Some occurrence of the first group has one of every other group within `window` words of it: in a
    long message, "legs" in one paragraph and "heavy" in another are not "heavy legs"."""
    return any(all(any(abs(q - p) <= window for q in other) for other in found[1:]) for p in found[0])


def forget_compiled() -> None:
    """Drop the compiled rules (after the English word list was rewritten by `backcoach triage-build`)."""
    _CACHE.clear()


def normalised(text: str, safety: Safety) -> list[str]:
    """The message's words as the rules read them (spelling corrected), for the learned model too."""
    return [t for t in _compiled(safety).normalise(text or "") if t not in (_HARD, _SOFT)]


def normalised_with_breaks(text: str, safety: Safety) -> list[str]:
    """As `normalised`, keeping the break markers ("." hard, "," soft): the model scopes negations by them."""
    return _compiled(safety).normalise(text or "")


BREAKS = frozenset({_HARD, _SOFT})


def negation_words(safety: Safety) -> frozenset[str]:
    """The one-word negation modifiers of content/triage/context.yaml ("no", "not", "without"...)."""
    return _compiled(safety).negation_words


def classify(text: str, safety: Safety) -> TriageResult:
    """The most urgent rule a free-text message raises; see the module docstring for the matching rules."""
    compiled = _compiled(safety)
    tokens, fuzzy = compiled.normalise_marked(text or "")
    occurrences, present, idiom, cue = compiled.scan(tokens)

    def counts(term_id: int, keeps: frozenset[str]) -> bool:
        return any(cats <= keeps for cats, _ in occurrences.get(term_id, ()))

    def where(group: frozenset[int], keeps: frozenset[str]) -> list[int]:
        return [at for t in group & present for cats, at in occurrences[t] if cats <= keeps]

    window = safety.context.group_window
    if present:
        for pattern in compiled.patterns:
            if pattern.none_of & present:
                continue
            found = [where(group, pattern.keeps) for group in pattern.groups]
            if all(found) and (len(found) == 1 or _near(found, window)):
                return TriageResult(pattern.rule_id, unclear=False, weak=fuzzy or cue)
    unclear = any(counts(t, frozenset()) for t in compiled.unclear & present)
    cancelled = frozenset(
        p.rule_id
        for p in compiled.patterns
        if present and not (p.none_of & present) and all(group & present for group in p.groups)
    )
    if present and not any(counts(t, frozenset()) for t in present):
        # every symptom word was denied, past, someone else's or improving ("no pain in my legs today"):
        # the learned model must not ask about any rule either
        cancelled = frozenset(p.rule_id for p in compiled.patterns)
    return TriageResult(None, unclear=unclear, cancelled=cancelled, idiom=idiom)

"""The learned second opinion: a linear model over word, word-pair and character n-grams.

Why a small artefact and not training at every start: importing scikit-learn alone took 2.5 s on this
machine, over the 1 s start-up goal.  So scikit-learn trains the model (`backcoach triage-build`, and
`make` runs it), the weights are written to content/triage/model.json together with a fingerprint of the
exact features of the training examples, and at run time this module scores a message with plain
dictionaries and numpy (no scikit-learn).  If the examples, the trigger vocabulary or the settings changed
since the artefact was written, the fingerprint differs and the model is retrained in-process from the
examples: slower to start, never stale, never fetched.

The scoring reproduces scikit-learn's TfidfVectorizer(sublinear_tf=True, norm="l2") followed by
LogisticRegression's softmax exactly (checked by tests/core/test_triage.py), with the scores divided by a
temperature first: temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"), one
number fitted on out-of-fold scores of the training examples, so that the probabilities bot/triage_assess.py
compares with the bars of content/triage/model.yaml mean what they say.  Why not CalibratedClassifierCV: it
keeps one model per fold (five times the artefact and the scoring time) for a per-class fit the ~3,000
examples cannot support.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bot.triage import BREAKS, forget_compiled, negation_words, normalised_with_breaks
from content.loader import CONTENT_DIR, ENGLISH_WORDS, Content, ModelSettings, english_words

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)
ARTEFACT = CONTENT_DIR / "triage" / "model.json"
FEATURES_VERSION = 2
NEGATION_SCOPE = 4  # words after "no", "not", "without"... up to the next break, marked as negated
FOLDS = 5  # out-of-fold scores for the temperature (and for `backcoach triage-tune`)


def features(text: str, content: Content) -> list[str]:
    """Words, word pairs and character 3-5-grams of the spelling-corrected words, plus negation-scoped words
    ("no numbness" gives "n:numbness"), so the model can tell a denial from a report."""
    tokens = normalised_with_breaks(text, content.safety)
    negations = negation_words(content.safety)
    words = [t for t in tokens if t not in BREAKS]
    out = [f"w:{w}" for w in words]
    scope = 0
    for tok in tokens:
        if tok in BREAKS:
            scope = 0
            continue
        if scope:
            out.append(f"n:{tok}")
            scope -= 1
        if tok in negations:
            scope = NEGATION_SCOPE
    out += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    for w in words:
        padded = f" {w} "
        for n in (3, 4, 5):
            out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return out


def fingerprint(content: Content) -> str:
    """Changes whenever what the features are made of changes: the examples and labels, the settings, and
    the trigger and context words (the spelling corrector's vocabulary)."""
    digest = hashlib.sha256(f"v{FEATURES_VERSION}".encode())
    digest.update(content.model_settings.model_dump_json().encode())
    digest.update(content.safety.context.model_dump_json().encode())
    digest.update(json.dumps([p.model_dump() for p in content.safety.phrases]).encode())
    digest.update(json.dumps([[e.text, e.rule] for e in content.examples]).encode())
    digest.update(" ".join(sorted(english_words())).encode())  # the words the corrector leaves alone
    return digest.hexdigest()


@dataclass(frozen=True)
class LinearModel:
    """Weights of a trained multinomial logistic regression, scored without scikit-learn.

    Why numpy for the scoring: a message has a few hundred features and the model eleven classes; summing
    them in Python loops was the largest part of the per-message time (numpy is already installed with
    scikit-learn and matplotlib, and imports in a tenth of a second)."""

    fingerprint: str
    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    weights: dict[str, tuple[float, tuple[float, ...]]]  # feature -> (idf, weight per class)
    temperature: float = 1.0  # the scores are divided by it before the softmax (calibration)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _idf: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _matrix: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = sorted(self.weights)
        object.__setattr__(self, "_index", {f: i for i, f in enumerate(names)})
        object.__setattr__(self, "_idf", np.array([self.weights[f][0] for f in names], dtype=np.float64))
        rows = [self.weights[f][1] for f in names] or [tuple(0.0 for _ in self.classes)]
        object.__setattr__(self, "_matrix", np.array(rows, dtype=np.float64).reshape(-1, len(self.classes)))

    def probabilities(self, feats: list[str]) -> dict[str, float]:
        index = self._index
        counts = Counter(index[f] for f in feats if f in index)
        scores = np.array(self.intercept, dtype=np.float64)
        if counts:
            ids = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values = (1.0 + np.log(tf)) * self._idf[ids]
            norm = float(np.sqrt(values @ values)) or 1.0
            scores = scores + (values / norm) @ self._matrix[ids]
        scores = scores / self.temperature
        exps = np.exp(scores - scores.max())
        exps /= exps.sum()
        return {c: float(e) for c, e in zip(self.classes, exps, strict=True)}

    def to_json(self) -> str:
        data = {
            "fingerprint": self.fingerprint,
            "classes": list(self.classes),
            "intercept": [round(v, 6) for v in self.intercept],
            "temperature": round(self.temperature, 6),
            "weights": {f: [round(idf, 5), [round(w, 5) for w in ws]] for f, (idf, ws) in sorted(self.weights.items())},
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> LinearModel:
        data = json.loads(text)
        return LinearModel(
            data["fingerprint"],
            tuple(data["classes"]),
            tuple(data["intercept"]),
            {f: (v[0], tuple(v[1])) for f, v in data["weights"].items()},
            float(data.get("temperature", 1.0)),
        )


def _pipeline(settings: ModelSettings) -> Pipeline:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    # newton-cg: the same optimum as lbfgs here, reached in a fifth of the time (the build fits six models)
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=settings.min_df)),
            ("lr", LogisticRegression(C=settings.C, max_iter=5000, class_weight="balanced", solver="newton-cg")),
        ]
    )


def _identity(doc: list[str]) -> list[str]:
    return doc


def out_of_fold(content: Content) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Each example's scores (before the softmax) by a model trained without its fold: stratified FOLDS-fold,
    fixed seed, so the same examples give the same scores."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    docs = [features(e.text, content) for e in content.examples]
    labels = [e.rule for e in content.examples]
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    scores = cross_val_predict(_pipeline(content.model_settings), docs, labels, cv=folds, method="decision_function")
    return tuple(sorted(set(labels))), np.asarray(scores, dtype=np.float64)


def softmax(scores: NDArray[np.float64], temperature: float = 1.0) -> NDArray[np.float64]:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_temperature(classes: tuple[str, ...], scores: NDArray[np.float64], labels: list[str]) -> float:
    """The temperature that minimises the log loss of the out-of-fold scores (bounded search, scipy)."""
    from scipy.optimize import minimize_scalar

    column = {c: i for i, c in enumerate(classes)}
    truth = np.array([column[label] for label in labels])

    def loss(t: float) -> float:
        p = softmax(scores, t)[np.arange(len(truth)), truth]
        return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

    return float(minimize_scalar(loss, bounds=(0.05, 20.0), method="bounded").x)


def train(content: Content) -> LinearModel:
    """Fit with scikit-learn (imported only here) on content.examples; deterministic for the same examples."""
    settings = content.model_settings
    docs = [features(e.text, content) for e in content.examples]
    labels = [e.rule for e in content.examples]
    if len(set(labels)) < 2:
        raise ValueError("the learned model needs examples of at least two labels in content/triage/")
    pipeline = _pipeline(settings)
    pipeline.fit(docs, labels)
    vectorizer, model = pipeline.named_steps["tfidf"], pipeline.named_steps["lr"]
    coef = model.coef_
    classes = tuple(str(c) for c in model.classes_)
    intercept = tuple(float(v) for v in model.intercept_)
    if len(classes) == 2:  # binary: scikit-learn keeps one row; expand to two for the softmax
        coef = [[-w / 2 for w in coef[0]], [w / 2 for w in coef[0]]]
        intercept = (-intercept[0] / 2, intercept[0] / 2)
        columns = list(zip(*coef, strict=True))
    else:
        columns = [tuple(float(w) for w in col) for col in coef.T]
    weights = {
        str(f): (float(vectorizer.idf_[i]), tuple(float(w) for w in columns[i]))
        for f, i in vectorizer.vocabulary_.items()
    }
    temperature = 1.0
    if settings.calibrate and len(classes) > 2 and min(labels.count(c) for c in classes) >= FOLDS:
        oof_classes, scores = out_of_fold(content)
        temperature = fit_temperature(oof_classes, scores, labels)
    return LinearModel(fingerprint(content), classes, intercept, weights, temperature)


ENGLISH_MIN_COUNT = 500  # BackCoach's choice: a word seen this often in pyspellchecker's list is real English


def write_english_words(path: Path = ENGLISH_WORDS) -> int:
    """The common English words of four letters or more from pyspellchecker's English frequency list
    (MIT licence; counts from OpenSubtitles), one a line; imported only here, at build time."""
    import gzip
    from importlib import resources

    data = resources.files("spellchecker").joinpath("resources", "en.json.gz").read_bytes()
    counts: dict[str, int] = json.loads(gzip.decompress(data))
    words = sorted(
        w for w, n in counts.items() if n >= ENGLISH_MIN_COUNT and len(w) >= 4 and w.isascii() and w.isalpha()
    )
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    english_words.cache_clear()
    forget_compiled()
    return len(words)


def build(content: Content, path: Path = ARTEFACT) -> LinearModel:
    """`backcoach triage-build`: the English word list, then train and write the artefact."""
    write_english_words()
    model = train(content)
    path.write_text(model.to_json() + "\n", encoding="utf-8")
    return model


_CACHE: dict[int, tuple[Content, LinearModel]] = {}
_BY_FINGERPRINT: dict[str, LinearModel] = {}  # equal content loaded twice shares one model


def model_for(content: Content, path: Path = ARTEFACT) -> LinearModel:
    """The model for this content: the artefact if it was built from these examples, else trained now."""
    entry = _CACHE.get(id(content))
    if entry is not None and entry[0] is content:
        return entry[1]
    wanted = fingerprint(content)
    model: LinearModel | None = _BY_FINGERPRINT.get(wanted)
    if model is None and path.exists():
        model = LinearModel.from_json(path.read_text(encoding="utf-8"))
        if model.fingerprint != wanted:
            log.warning("triage model artefact is out of date; training from content/triage (run triage-build)")
            model = None
    if model is None:
        model = train(content)
    if len(_CACHE) > 8:
        _CACHE.clear()
        _BY_FINGERPRINT.clear()
    _BY_FINGERPRINT[wanted] = model
    _CACHE[id(content)] = (content, model)
    return model

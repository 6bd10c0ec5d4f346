"""A small learned judge over the lexicon's candidates: which features a comment really judges, and how.

The rules (`engine.lexicon_rules`) find features and decide a polarity with a handful of predictable
steps. On writers they were not tuned on they miss many judgements a careful reader makes, and read
some backwards. This module keeps the rules as the reader and adds a judge: for every candidate
feature of one comment (each feature named in it, each tag of the image it answers, each feature
the rules produced) it builds a few sparse features (what the rules decided and why, the words
around the mention, the comment's words, the feature's category, whether the comment names an
aspect of that category, how the rules judged it in the member's other comments) and a
multinomial linear model scores three outcomes: disliked, not judged, liked. A polarity is given
only when it is clearly likelier than the opposite one (`CandidateModel.polarity_ratio`).
The weights are a plain JSON table (`lexicon_model.json`), trained on our own labelled comments by
`python -m bench.extraction.train`; reading them needs nothing but Python.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from engine.lexicon_reading import Reading
from engine.lexicon_vocab import Lexicon

log = logging.getLogger(__name__)
MODEL_FILE = Path(__file__).with_name("lexicon_model.json")
CLASSES = (-1, 0, 1)  # disliked, not judged, liked
_WINDOW = 4  # words either side of a mention that describe its context
_MAX_WORDS = 120  # comment words used as features (the rules already cap the text)


@dataclass
class Candidate:
    """A feature one comment might judge, with what the judge sees of it."""

    feature: str
    category: str
    in_text: bool  # named in the comment's words
    is_tag: bool  # a tag of the image the comment answers
    rule: int  # the rules' polarity for it in this comment (0: the rules did not judge it)
    why: str  # what decided the rules' polarity (Mention.why), "" when they did not judge it
    features: list[str] = field(default_factory=list)


def _bucket(n: int, edges: Iterable[int]) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return "more"


def member_view(readings: Sequence[Reading]) -> list[dict[str, int]]:
    """For each comment, how the rules judged each feature in the member's *other* comments (+1, -1)."""
    totals: dict[str, int] = {}
    own = []
    for reading in readings:
        signs: dict[str, int] = {}
        for mention in reading.mentions:
            signs[mention.feature] = signs.get(mention.feature, 0) + mention.polarity
        own.append(signs)
        for feature, sign in signs.items():
            totals[feature] = totals.get(feature, 0) + sign
    return [{f: totals[f] - signs.get(f, 0) for f in totals if totals[f] - signs.get(f, 0)} for signs in own]


def candidates(lexicon: Lexicon, reading: Reading, elsewhere: dict[str, int] | None = None) -> list[Candidate]:
    """Every feature of one comment the judge decides on, with its sparse features. `elsewhere`: how
    the rules judged features in the member's other comments (member_view)."""
    found: dict[str, Candidate] = {}
    contexts: dict[str, list[str]] = {}
    aspects: set[str] = set()
    words = [t for t in reading.tokens[:_MAX_WORDS] if t.strip()]
    for clause in reading.clauses:
        for item in clause.items:
            entry = item.entry
            if entry.kind == "category":
                aspects.update(entry.categories)
            if entry.kind != "feature":
                continue
            name = entry.attribute.name
            candidate = found.setdefault(name, Candidate(name, entry.attribute.category, True, False, 0, ""))
            candidate.in_text = True
            before = clause.tokens[max(0, item.start - _WINDOW) : item.start]
            after = clause.tokens[item.end : item.end + _WINDOW]
            context = contexts.setdefault(name, [])
            context += [f"L:{w}" for w in before] + [f"R:{w}" for w in after]
            if before:
                context.append(f"L1:{before[-1]}")
            if after:
                context.append(f"R1:{after[0]}")
            if item.negated:
                context.append("negated")
            if clause.contrast:
                context.append("after_turn")
            if clause.question:
                context.append("question")
    for tag in reading.tags:
        attribute = lexicon.lookup(tag)
        if attribute is None:
            continue
        candidate = found.setdefault(attribute.name, Candidate(attribute.name, attribute.category, False, True, 0, ""))
        candidate.is_tag = True
    for mention in reading.mentions:
        candidate = found.setdefault(mention.feature, Candidate(mention.feature, mention.category, False, False, 0, ""))
        candidate.rule += mention.polarity
        candidate.why = candidate.why or mention.why
    named = sum(c.in_text for c in found.values())
    comment = [
        f"cp:{reading.comment_polarity}",
        f"named:{_bucket(named, (0, 1, 2, 4))}",
        f"length:{_bucket(len(words), (3, 8, 20, 40))}",
        *(["sarcastic"] if reading.sarcastic else []),
    ]
    unigrams = sorted(set(words))
    bigrams = sorted({f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)})
    for candidate in found.values():
        kind = "text" if candidate.in_text else "tag" if candidate.is_tag else "rule"
        if candidate.in_text and candidate.is_tag:
            kind = "text+tag"
        group = "text" if candidate.in_text else "tag"
        rule = (candidate.rule > 0) - (candidate.rule < 0)
        aspect = "same" if candidate.category in aspects else "other" if aspects else "none"
        own = [
            f"k:{kind}",
            f"r:{rule}",
            f"r:{rule}|{candidate.why}",
            f"r:{rule}|k:{kind}",
            f"cat:{candidate.category}|k:{kind}",
            f"a:{candidate.feature}",
            f"a:{candidate.feature}|r:{rule}",
            f"a:{candidate.feature}|k:{kind}|cp:{reading.comment_polarity}",
            f"a:{candidate.feature}|aspect:{aspect}",
            f"aspect:{aspect}|k:{kind}",
            *(f"{c}|k:{group}" for c in comment),
            *(f"{c}|r:{rule}" for c in comment),
            *contexts.get(candidate.feature, ()),
        ]
        other = (elsewhere or {}).get(candidate.feature, 0)
        other = (other > 0) - (other < 0)
        own += [f"member:{other}", f"member:{other}|r:{rule}|k:{kind}"]
        own += [f"w:{w}|{group}" for w in unigrams] + [f"w2:{b}|{group}" for b in bigrams]
        if not candidate.in_text:
            # which words point at this very tag ("squares" at a checkerboard, "empty" at negative space)
            own += [f"w:{w}|a:{candidate.feature}" for w in unigrams if w.isalpha()]
        candidate.rule = rule
        candidate.features = own
    return list(found.values())


class CandidateModel:
    """The judge's weights: per sparse feature, one weight per outcome (CLASSES), and a bias."""

    def __init__(
        self, weights: dict[str, list[float]], bias: list[float], meta: dict | None = None, digest: str = ""
    ) -> None:
        self.weights = weights
        self.bias = bias
        self.meta = meta or {}
        self.digest = digest  # of the weights file, so two trainings on one day have two versions

    @classmethod
    def load(cls, path: Path | str = MODEL_FILE) -> CandidateModel:
        raw = Path(path).read_bytes()
        data = json.loads(raw.decode("utf-8"))
        return cls(data["weights"], data["bias"], data.get("meta", {}), hashlib.sha256(raw).hexdigest()[:8])

    def save(self, path: Path | str) -> None:
        body = {"meta": self.meta, "bias": self.bias, "weights": self.weights}
        Path(path).write_text(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")

    @property
    def version(self) -> str:
        """What a profile records: the training date and the weights' digest ("20261126.1a2b3c4d")."""
        version = str(self.meta.get("version", "0"))
        return f"{version}.{self.digest}" if self.digest else version

    def probabilities(self, features: Iterable[str]) -> list[float]:
        scores = list(self.bias)
        for name in features:
            row = self.weights.get(name)
            if row is not None:
                for k in range(len(scores)):
                    scores[k] += row[k]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    @property
    def polarity_ratio(self) -> float:
        """How many times likelier the chosen polarity must be than the opposite one (else: not
        judged). Reading a like as a dislike pushes images away from the member's taste, so an
        unsure reading is better dropped; set when training (meta "polarity_ratio")."""
        return float(self.meta.get("polarity_ratio", 1.0))

    def judge(self, features: Iterable[str]) -> int:
        """The outcome of one candidate: -1 disliked, 0 not judged, 1 liked."""
        p = self.probabilities(features)
        best = max(range(len(p)), key=p.__getitem__)
        if CLASSES[best] and p[best] < self.polarity_ratio * p[len(p) - 1 - best]:
            return 0  # liked and disliked are both plausible: say nothing rather than guess
        return CLASSES[best]


@lru_cache(maxsize=1)
def default_model() -> CandidateModel | None:
    """The shipped weights, or None when the file is missing (the rules alone then decide)."""
    if not MODEL_FILE.exists():
        log.warning("lexicon: %s is missing, so the rules alone read comments (reinstall to restore it)", MODEL_FILE)
        return None
    return CandidateModel.load(MODEL_FILE)

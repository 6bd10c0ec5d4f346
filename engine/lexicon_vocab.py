"""The lexicon's compiled vocabulary: every phrase of the tables (`engine.lexicon_data`) in one table.

`Lexicon` compiles the attributes with their synonyms, translations and generated plurals, the
category words, the cue words, negators and the other small word classes into a phrase table, and
answers the lookups the rules and the tests share: the attribute a phrase names, every phrase found
in a text (longest first, `scan`), typo mending, irony markers. Building it checks the tables: a
phrase with two meanings fails loudly rather than matching at random. `Attribute` is what a profile
holds; `Entry` is what a phrase means to the rules and `Item` one phrase found in a comment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from engine import lexicon_data as data
from engine.lexicon_text import (
    MIN_TYPO_LENGTH,
    is_typo,
    normalise_phrase,
    plural_of,
    split_phrases,
    tokenize,
    typo_deletions,
)


@dataclass(frozen=True)
class Attribute:
    """A canonical visual feature and the category it belongs to."""

    name: str
    category: str


@dataclass(frozen=True)
class Entry:
    """What a phrase means to the rules: a feature (with its attribute), a category word, a cue..."""

    # feature | category | cue | lack | negator | post_negator | feature_negator | excess | wish
    # | sarcasm | enough | neutral
    kind: str
    attribute: Attribute | None = None
    categories: tuple[str, ...] = ()
    polarity: int = 0  # for cues; for features, the hint used when nothing else decides


@dataclass
class Item:
    """One phrase found in a comment's tokens [start, end), and what the rules decided about it."""

    entry: Entry
    start: int
    end: int
    polarity: int = 0
    consumed: bool = False
    negated: bool = False


class Lexicon:
    """The vocabulary compiled into a phrase table, with lookups the extractor and tests share.

    Building checks the tables: a phrase claimed by two different attributes, or by an attribute and
    a cue, is a mistake in the data and fails loudly rather than matching at random.
    """

    def __init__(self, vocabulary: dict[str, str] | None = None, translations: str | None = None) -> None:
        vocabulary = data.VOCABULARY if vocabulary is None else vocabulary
        translations = data.TRANSLATIONS if translations is None else translations
        self.attributes: dict[str, Attribute] = {}
        self._table: dict[tuple[str, ...], Entry] = {}
        self._spelling_targets: set[str] = set()
        explicit: set[tuple[str, ...]] = set()
        for category, block in vocabulary.items():
            for line in block.strip().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, _, synonyms = line.partition(":")
                name = normalise_phrase(name)
                if name in self.attributes:
                    raise ValueError(f"lexicon: attribute {name!r} defined twice")
                self.attributes[name] = Attribute(name, category)
                self._add_feature(name, [name, *split_phrases(synonyms)], explicit)
        for line in translations.strip().splitlines():
            name, _, words = line.strip().partition(":")
            if normalise_phrase(name) not in self.attributes:
                raise ValueError(f"lexicon: translation for unknown attribute {name!r}")
            self._add_feature(normalise_phrase(name), split_phrases(words), explicit)
        # Plurals come second so they never displace a phrase written out on purpose.
        for key, entry in list(self._table.items()):
            plural = plural_of(key[-1])
            if plural and entry.kind == "feature" and key[:-1] + (plural,) not in self._table:
                self._table[key[:-1] + (plural,)] = entry
        for categories, words in data.CATEGORY_WORDS.values():
            for phrase in split_phrases(words):
                self._spelling_targets.update(tokenize(phrase))
                self._add(tuple(tokenize(phrase)), Entry("category", categories=categories), explicit, phrase)
        for block, entry in (
            (data.POSITIVE_CUES, Entry("cue", polarity=1)),
            (data.NEGATIVE_CUES, Entry("cue", polarity=-1)),
            (data.NEGATORS, Entry("negator")),
            (data.FEATURE_NEGATORS, Entry("feature_negator")),
            (data.LACK_WORDS, Entry("lack", polarity=-1)),
            (data.WISH_WORDS, Entry("wish", polarity=1)),
            (data.EXCESS_WORDS, Entry("excess", polarity=-1)),
            (data.ENOUGH_WORDS, Entry("enough")),
            (data.NEUTRAL_PHRASES, Entry("neutral")),
            (data.HEDGES, Entry("hedge")),
        ):
            for phrase in split_phrases(block):
                key = tuple(tokenize(phrase))
                if key in explicit and self._table[key].kind == "feature":
                    raise ValueError(f"lexicon: {phrase!r} is both a feature and a {entry.kind}; use POLARITY_HINTS")
                self._add(key, entry, explicit, phrase)
        self.post_negators = {normalise_phrase(p) for p in split_phrases(data.POST_NEGATORS)}
        self.injection = {tuple(tokenize(p)) for p in split_phrases(data.INJECTION_WORDS)}
        self.verdict_negators = {normalise_phrase(p) for p in split_phrases(data.VERDICT_NEGATORS)}
        self.bare_verdict_negators = {normalise_phrase(p) for p in split_phrases(data.BARE_VERDICT_NEGATORS)}
        self.sarcasm = {tuple(tokenize(p)) for p in split_phrases(data.SARCASM_MARKERS)}
        self.sarcasm_patterns = [re.compile(p) for p in data.SARCASM_PATTERNS]
        self.dismissals = {tuple(tokenize(p)) for p in split_phrases(data.RHETORICAL_DISMISSALS)}
        self.max_phrase = max(len(k) for k in self._table)
        self._evocations: dict[tuple[str, ...], Entry] = {}
        for line in data.EVOCATIONS.strip().splitlines():
            name, _, words = line.strip().partition(":")
            attribute = self.attributes.get(normalise_phrase(name))
            if attribute is None:
                raise ValueError(f"lexicon: evocation for unknown attribute {name!r}")
            for phrase in split_phrases(words):
                key = tuple(tokenize(phrase))
                if key in self._table or key in self._evocations:
                    raise ValueError(f"lexicon: evocation {phrase!r} already has a meaning")
                hint = data.POLARITY_HINTS.get(" ".join(key), 0)
                self._evocations[key] = Entry("feature", attribute=attribute, polarity=hint)
        self.max_evocation = max((len(k) for k in self._evocations), default=0)
        self._build_spelling_index()
        digest = hashlib.sha256(
            repr(
                sorted((k, v.kind, v.polarity, v.attribute, v.categories) for k, v in self._table.items())
                + sorted((k, v.attribute.name) for k, v in self._evocations.items())
            ).encode()
        )
        self.fingerprint = digest.hexdigest()[:8]

    # --- spelling ---------------------------------------------------------------------------------

    def _build_spelling_index(self) -> None:
        """Index the words of feature and category phrases by their one-letter deletions.

        Only words written in the tables are targets (not generated plurals), and only feature and
        category words: mending "having" into "hating" or "linked" into "liked" would invent a
        verdict, which is worse than missing one.
        """
        self._words = {word for key in self._table for word in key}
        self._deletions: dict[str, set[str]] = {}
        for word in self._spelling_targets:
            if len(word) >= MIN_TYPO_LENGTH - 1 and word.isalpha():
                for variant in {word, *typo_deletions(word)}:
                    self._deletions.setdefault(variant, set()).add(word)

    def correct(self, tokens: list[str]) -> list[str]:
        """Tokens with unknown words of 6+ letters replaced by the one table word a typo away.

        A typo here is a missing or extra letter, two neighbouring letters swapped, or one vowel for
        another ("circels", "backround", "watercolur", "gradiant"). A word with two candidates, an
        ordinary word listed in REAL_WORDS, or a short word is left alone: a wrong guess is worse
        than a miss.
        """
        out = []
        for token in tokens:
            if token in data.MISSPELLINGS:
                out.append(data.MISSPELLINGS[token])
                continue
            if (
                len(token) < MIN_TYPO_LENGTH
                or not token.isalpha()
                or token in self._words
                or token in data.STOPWORDS
                or token in data.FILLERS
                or token in data.REAL_WORDS
                or token in data.CONTRAST_WORDS
            ):
                out.append(token)
                continue
            candidates = set(self._deletions.get(token, ()))
            for variant in typo_deletions(token):
                candidates |= self._deletions.get(variant, set())
            candidates = {c for c in candidates if is_typo(token, c)}
            if len(candidates) > 1:  # a swap or a vowel is a likelier slip than a letter in or out
                candidates = {c for c in candidates if len(c) == len(token)}
            out.append(candidates.pop() if len(candidates) == 1 else token)
        return out

    def _add_feature(self, name: str, phrases: list[str], explicit: set) -> None:
        attribute = self.attributes[name]
        for phrase in phrases:
            key = tuple(tokenize(phrase))
            self._spelling_targets.update(key)
            hint = data.POLARITY_HINTS.get(" ".join(key), 0)
            self._add(key, Entry("feature", attribute=attribute, polarity=hint), explicit, phrase)

    def _add(self, key: tuple[str, ...], entry: Entry, explicit: set, phrase: str) -> None:
        if not key:
            return
        if key in explicit and self._table[key] != entry:
            raise ValueError(f"lexicon: phrase {phrase!r} has two meanings")
        explicit.add(key)
        self._table[key] = entry

    def __len__(self) -> int:
        return len(self.attributes)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(a.category for a in self.attributes.values()))

    def synonyms(self, name: str) -> list[str]:
        """Every phrase that reads as attribute `name` (for documentation and tests)."""
        return [" ".join(k) for k, e in self._table.items() if e.kind == "feature" and e.attribute.name == name]

    def entry(self, words: tuple[str, ...]) -> Entry | None:
        """What a phrase, given as its tokens, means to the rules; None when the tables do not hold it."""
        return self._table.get(words)

    def lookup(self, phrase: str) -> Attribute | None:
        """The attribute a whole phrase names exactly (a canonical name or a synonym), else None."""
        entry = self._table.get(tuple(tokenize(phrase)))
        return entry.attribute if entry is not None and entry.kind == "feature" else None

    def find(self, text: str) -> list[Attribute]:
        """Every attribute mentioned anywhere in `text`, in order, longest phrases first."""
        return [item.entry.attribute for item in self.scan(tokenize(text)) if item.entry.kind == "feature"]

    def categorize(self, tag: str) -> str | None:
        """The category of an image tag, also for tags we do not know word for word ("dark teal waves")."""
        attribute = self.lookup(tag)
        if attribute is not None:
            return attribute.category
        found = self.find(tag)
        return found[-1].category if found else None

    def is_sarcastic(self, tokens: list[str], text: str = "") -> bool:
        """Irony that turns the comment's praise around: a fixed formula, a pattern, an eye-roll, "/s"
        or a word of praise in scare quotes ("so 'innovative'")."""
        words = [t for t in tokens if t.isalnum() or "'" in t]
        if any(tuple(words[i : i + len(marker)]) == marker for marker in self.sarcasm for i in range(len(words))):
            return True
        joined = " ".join(words)
        if any(pattern.search(joined) for pattern in self.sarcasm_patterns):
            return True
        if any(t in data.SARCASM_SIGNS for t in tokens) or re.search(r"(?:^|\s)/s\b", text.lower()):
            return True
        for i in range(1, len(tokens) - 1):
            word = tokens[i]
            if tokens[i - 1] in data.SCARE_QUOTES and tokens[i + 1] in data.SCARE_QUOTES and word.isalpha():
                entry = self._table.get((word,))
                praise = entry is not None and (
                    entry.kind == "cue" and entry.polarity > 0
                    or entry.kind == "feature" and (entry.polarity > 0 or entry.attribute.category == "mood")
                )
                if praise or (entry is None and word.endswith(data.SCARE_QUOTE_SUFFIXES) and len(word) > 4):
                    return True
        return False

    def resolve_ones(self, tokens: list[str]) -> list[str]:
        """ "soft edges instead of hard ones" -> "... hard edges": an adjective + "ones" borrows the noun
        of a feature named earlier, when the two make a known feature ("softer ones" -> "soft edges")."""
        if "ones" not in tokens:
            return tokens
        out = list(tokens)
        for i, token in enumerate(out):
            if token != "ones" or i == 0 or not out[i - 1].isalpha() or out[i - 1] in data.STOPWORDS:
                continue
            heads = [out[it.end - 1] for it in self.scan(out[: i - 1]) if it.entry.kind == "feature"]
            modifier = out[i - 1]
            stems = [modifier]
            if modifier.endswith("er") and len(modifier) > 4:
                stems += [modifier[:-2], modifier[:-1], modifier[:-3]]
            done = False
            for head in reversed(heads):
                for stem in stems:
                    entry = self._table.get((stem, head))
                    if entry is not None and entry.kind == "feature":
                        out[i - 1], out[i] = stem, head
                        done = True
                        break
                if done:
                    break
        return out

    def scan(self, tokens: list[str], shown: frozenset[str] = frozenset()) -> list[Item]:
        """Phrases in reading order, longest first. `shown` holds the answered image's features: their
        evocations (data.EVOCATIONS) count too, and win over a shorter phrase at the same place."""
        items, i = [], 0
        while i < len(tokens):
            best = None
            for length in range(min(self.max_phrase, len(tokens) - i), 0, -1):
                entry = self._table.get(tuple(tokens[i : i + length]))
                if entry is not None:
                    best = Item(entry, i, i + length)
                    break
            if shown:
                for length in range(min(self.max_evocation, len(tokens) - i), best.end - i if best else 0, -1):
                    entry = self._evocations.get(tuple(tokens[i : i + length]))
                    if entry is not None and entry.attribute.name in shown:
                        best = Item(entry, i, i + length)
                        break
            if best is not None:
                items.append(best)
                i = best.end
                continue
            token = tokens[i]
            if token in data._EMOJI_POSITIVE or token in data._EMOJI_NEGATIVE:
                items.append(Item(Entry("cue", polarity=1 if token in data._EMOJI_POSITIVE else -1), i, i + 1))
            i += 1
        return items


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The shipped vocabulary, compiled once per process."""
    return Lexicon()

"""The `lexicon` extraction backend: a vocabulary of visual attributes and plain polarity rules.

It runs on any CPU in about a millisecond per comment, needs nothing downloaded and is
deterministic, so onboarding works on the smallest install and in CI. By default a small learned
judge (`engine.lexicon_model`) then decides which of the rules' candidates each comment really
judges; `LexiconExtractor(judge=False)` is the rules alone, as described below. The tables (about 450
attributes in 19 categories, cue words, a short French/German/Spanish/Italian/Portuguese/Dutch core) live in
`engine.lexicon_data`; this module holds the rules, which are small on purpose so an operator can
predict what a comment will produce.

How one comment is read:

1. Normalise and tokenise (accents, British spellings, hyphens, French elisions such as "l'aquarelle";
   chat forms: "texture's" is "texture is", "pink n blue", "black/white", "X > Y" is "X over Y",
   a year is its decade).
2. Split into clauses at sentence ends, commas and contrast words ("but", "though", "mais", "aber").
3. In each clause find features (longest phrase first), cues ("love", "not a fan", "leaves me cold"),
   negators, wishes, "too", "lacks", comparisons ("than", "instead of", "X over Y").
4. Each cue gets a polarity, flipped by a negator before it ("don't like") or after it in German and
   French ("mag ich nicht"); two negations cancel ("never said I didn't like", "isn't without
   charm"), and so does the inverted or rhetorical negation of a question ("Isn't it gorgeous?",
   "what's not to love?"). Sarcasm (formulas such as "how original", patterns such as "just what
   every ... needs", an eye-roll emoji, "/s", praise in scare quotes) turns the comment's praise
   around, and a dismissive question ("Who needs a grid when you have flowing lines?") turns its own.
   An undecided sentence ("not sure it's for me", "can't decide if I like it") yields nothing.
5. Each feature takes the polarity of the nearest cue in its clause; failing that, its own
   judgement ("cluttered"), the previous clause's polarity (reversed after "but"), or the comment's.
   A feature after a negator or comparison word is reversed ("no neon", "teal instead of yellow",
   "more X than Y"), and "not X enough" asks for more X.
   A concession turned to a preference ("the teal is nice, but I prefer warm colours") drops the
   conceded feature; "not the lines I like" drops the lines rather than reading them as disliked;
   "hard ones" after "soft edges" reads as "hard edges".
   A clause with no verdict takes one from its neighbours (rules v4): liked before "not Y" ("teal,
   not orange") or before a turn that dislikes something else ("delicate, although too pale"),
   dropped before a turn that likes something else; a question answered "No"/"Yes" takes the answer;
   "more X" asks for X; "the grid isn't the problem; the mustard is" repeats the negated verdict
   un-negated; "wish X wasn't ..." is against X; "less clutter" still dislikes clutter.
   Rules v5: "less X" always dislikes X; a turn with no verdict before it ("same weave but in greens!!
   love love love") joins two descriptions; a wish against one thing ("if only the edges weren't so
   straight") leaves the rest liked; a verdict on the losing side of "than"/"over" does not reach
   back across it.
6. Vague words ("the colours", "the lines") become the answered image's tags in those categories; a
   bare verdict ("love this one!") stands for all its tags, except features the member judges in
   words anywhere in their comments (the words win). A plain colour word on an image is that image's
   own shade when it shows exactly one ("the pink" on a hot-pink image). Rules v6 read the image
   further: a word that names a feature only on a picture that shows it counts there ("sugary" on a
   pastel image, "room to breathe" on one with negative space), and a feature word brings the
   neighbouring feature the image shows ("blobs" on a bokeh image). A feature in both lists is
   dropped.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from engine import lexicon_data as data
from viper.contracts.jobs import Comment, ExtractResult

__all__ = [
    "Attribute",
    "LEXICON_RULES_VERSION",
    "Lexicon",
    "LexiconExtractor",
    "MAX_LEXICON_CHARS",
    "Mention",
    "default_lexicon",
    "normalise_phrase",
]

# Bump when a rule changes what a comment produces; profiles record it with the vocabulary's size
# and fingerprint, so a profile says exactly which reading made it.
LEXICON_RULES_VERSION = "6"
# Longer comments are read up to here: enough for any real comment, and it bounds the work.
MAX_LEXICON_CHARS = 4000


@dataclass(frozen=True)
class Attribute:
    """A canonical visual feature and the category it belongs to."""

    name: str
    category: str


@dataclass(frozen=True)
class _Entry:
    # feature | category | cue | lack | negator | post_negator | feature_negator | excess | wish
    # | sarcasm | enough | neutral
    kind: str
    attribute: Attribute | None = None
    categories: tuple[str, ...] = ()
    polarity: int = 0  # for cues; for features, the hint used when nothing else decides


@dataclass
class Mention:
    """One feature found in one comment, with the polarity decided for it (+1 liked, -1 disliked)."""

    feature: str
    category: str
    polarity: int
    source: str  # "text" (named in the comment) or "image" (resolved from the image's tags)
    # what decided the polarity: cue, hint, context, negation (rules step 5), busy ("too many"),
    # aspect (a vague word), verdict (a bare verdict on the image), related (data.RELATED)
    why: str = ""


@dataclass
class Reading:
    """One comment as the rules read it: its words, clauses and mentions, and the comment's verdict."""

    tokens: list[str]
    clauses: list[_Clause]
    mentions: list[Mention]
    tags: list[str]
    shown: frozenset[str]
    comment_polarity: int = 0
    sarcastic: bool = False


# --- normalisation ----------------------------------------------------------------------------------

_BRITISH = [
    (re.compile(r"colour"), "color"),
    (re.compile(r"\bgrey"), "gray"),
    (re.compile(r"\bcentre"), "center"),
    (re.compile(r"\bfavour"), "favor"),
    (re.compile(r"\bneighbour"), "neighbor"),
    (re.compile(r"\b(styl|stylis|minimalis|satur|desatur|mesmeris)is(e|ed|ation)\b"), r"\1iz\2"),
]
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
# French elided articles and pronouns glued to the next word: l'aquarelle, j'adore, n'aime, d'automne.
_ELISION = re.compile(r"^(l|d|j|n|m|t|s|c|qu)'([a-z]{2,})$")
_ENGLISH_SUFFIXES = ("t", "s", "re", "ve", "ll", "d", "m")


def _normalise(text: str) -> str:
    """Lower case, no accents, American spelling, hyphens and '&' as words: one spelling per word."""
    text = text.replace("ß", "ss").replace("ẞ", "ss")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'").replace("ʼ", "'")
    for pattern, replacement in _BRITISH:
        text = pattern.sub(replacement, text)
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    text = text.replace("&", " and ")
    text = re.sub(r"(?<=[a-z]{2})/(?=[a-z]{2})", " and ", text)  # "black/white", "indigo/peach" (not "/s")
    return text


_TO_AS_TOO_AFTER = {"is", "are", "was", "were", "it's", "its", "way", "far", "bit", "much", "just", "so", "kinda", "little"}
_TO_AS_TO_BEFORE = {
    "be", "go", "see", "me", "do", "the", "a", "an", "have", "get", "make", "look", "say", "my", "your",
    "his", "her", "their", "its", "it", "this", "that", "them", "us", "you", "all", "create", "show",
}


_YEAR = re.compile(r"^19([2-9])\d$")
# "it's", "that's": kept whole (the tables know them); "texture's nice", "marbling's lovely": split.
_S_KEPT = {"it", "that", "what", "let", "there", "here", "who", "he", "she", "where", "how", "one", "this"}


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    raw = _TOKEN.findall(_normalise(text.replace("<3", " ❤ ")))
    for index, token in enumerate(raw):
        match = _ELISION.match(token)
        if match and match.group(2) not in _ENGLISH_SUFFIXES:
            out.extend(match.groups())
        elif token.endswith("'s") and len(token) > 4 and token[:-2].isalpha() and token[:-2] not in _S_KEPT:
            out.extend((token[:-2], "is"))
        elif _YEAR.match(token):
            out.append(f"19{_YEAR.match(token).group(1)}0s")  # "very 1974": the seventies
        elif token == "n" and out and index + 1 < len(raw):
            out.append("and")  # "pink n blue": chat's "and" (French "n'" arrives glued: "n'aime")
        elif token == ">" and out and index + 1 < len(raw) and raw[index + 1] not in (">", "="):
            out.append("over")  # "cartoony > realistic": the left side wins
        elif token == ">":
            continue  # ">>>" reads as one ">", taken at its last character
        elif token == "pas" and any(t in ("ne", "n") for t in out[-3:]):
            continue  # French "ne ... pas": the "ne" already negates
        elif token == "to" and _to_means_too(out, raw[index + 1] if index + 1 < len(raw) else ""):
            out.append("too")  # "to busy", "neon is to bright": the commonest typo in comments
        else:
            out.append(token)
    return out


def _to_means_too(before: list[str], after: str) -> bool:
    if after in ("much", "many"):
        return True
    if not after.isalpha() or after in _TO_AS_TO_BEFORE:
        return False
    previous = before[-1] if before else ""
    return previous in _TO_AS_TOO_AFTER or previous == "" or not (previous.isalnum() or "'" in previous)


def normalise_phrase(text: str) -> str:
    """A phrase as the lexicon compares it: "Teal-Blue " -> "teal blue", "colours" -> "colors"."""
    return " ".join(t for t in _tokens(text) if t.isalnum() or "'" in t)


MIN_TYPO_LENGTH = 6


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_VOWELS = set("aeiouy")


def _is_typo(typed: str, word: str) -> bool:
    """One missing or extra letter, one swap of neighbours, or one vowel written for another."""
    if typed[0] != word[0]:
        return False
    if len(word) == len(typed) + 1:
        return typed in _deletions(word)
    if len(word) == len(typed) - 1:
        return word in _deletions(typed)
    if len(word) != len(typed):
        return False
    diff = [i for i, (a, b) in enumerate(zip(typed, word)) if a != b]
    if len(diff) == 2 and diff[1] == diff[0] + 1:
        return typed[diff[0]] == word[diff[1]] and typed[diff[1]] == word[diff[0]]
    return len(diff) == 1 and typed[diff[0]] in _VOWELS and word[diff[0]] in _VOWELS


def _plural(word: str) -> str | None:
    if not word.isalpha() or word.endswith("s") or len(word) < 3:
        return None
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("sh", "ch", "x", "z")):
        return word + "es"
    return word + "s"


def _phrases(block: str) -> list[str]:
    return [p.strip() for p in block.replace("\n", ",").split(",") if p.strip()]


# --- the compiled vocabulary ------------------------------------------------------------------------


@dataclass
class _Item:
    entry: _Entry
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
        self._table: dict[tuple[str, ...], _Entry] = {}
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
                self._add_feature(name, [name, *_phrases(synonyms)], explicit)
        for line in translations.strip().splitlines():
            name, _, words = line.strip().partition(":")
            if normalise_phrase(name) not in self.attributes:
                raise ValueError(f"lexicon: translation for unknown attribute {name!r}")
            self._add_feature(normalise_phrase(name), _phrases(words), explicit)
        # Plurals come second so they never displace a phrase written out on purpose.
        for key, entry in list(self._table.items()):
            plural = _plural(key[-1])
            if plural and entry.kind == "feature" and key[:-1] + (plural,) not in self._table:
                self._table[key[:-1] + (plural,)] = entry
        for categories, words in data.CATEGORY_WORDS.values():
            for phrase in _phrases(words):
                self._spelling_targets.update(_tokens(phrase))
                self._add(tuple(_tokens(phrase)), _Entry("category", categories=categories), explicit, phrase)
        for block, entry in (
            (data.POSITIVE_CUES, _Entry("cue", polarity=1)),
            (data.NEGATIVE_CUES, _Entry("cue", polarity=-1)),
            (data.NEGATORS, _Entry("negator")),
            (data.FEATURE_NEGATORS, _Entry("feature_negator")),
            (data.LACK_WORDS, _Entry("lack", polarity=-1)),
            (data.WISH_WORDS, _Entry("wish", polarity=1)),
            (data.EXCESS_WORDS, _Entry("excess", polarity=-1)),
            (data.ENOUGH_WORDS, _Entry("enough")),
            (data.NEUTRAL_PHRASES, _Entry("neutral")),
            (data.HEDGES, _Entry("hedge")),
        ):
            for phrase in _phrases(block):
                key = tuple(_tokens(phrase))
                if key in explicit and self._table[key].kind == "feature":
                    raise ValueError(f"lexicon: {phrase!r} is both a feature and a {entry.kind}; use POLARITY_HINTS")
                self._add(key, entry, explicit, phrase)
        self.post_negators = {normalise_phrase(p) for p in _phrases(data.POST_NEGATORS)}
        self.injection = {tuple(_tokens(p)) for p in _phrases(data.INJECTION_WORDS)}
        self.verdict_negators = {normalise_phrase(p) for p in _phrases(data.VERDICT_NEGATORS)}
        self.bare_verdict_negators = {normalise_phrase(p) for p in _phrases(data.BARE_VERDICT_NEGATORS)}
        self.sarcasm = {tuple(_tokens(p)) for p in _phrases(data.SARCASM_MARKERS)}
        self.sarcasm_patterns = [re.compile(p) for p in data.SARCASM_PATTERNS]
        self.dismissals = {tuple(_tokens(p)) for p in _phrases(data.RHETORICAL_DISMISSALS)}
        self.max_phrase = max(len(k) for k in self._table)
        self._evocations: dict[tuple[str, ...], _Entry] = {}
        for line in data.EVOCATIONS.strip().splitlines():
            name, _, words = line.strip().partition(":")
            attribute = self.attributes.get(normalise_phrase(name))
            if attribute is None:
                raise ValueError(f"lexicon: evocation for unknown attribute {name!r}")
            for phrase in _phrases(words):
                key = tuple(_tokens(phrase))
                if key in self._table or key in self._evocations:
                    raise ValueError(f"lexicon: evocation {phrase!r} already has a meaning")
                hint = data.POLARITY_HINTS.get(" ".join(key), 0)
                self._evocations[key] = _Entry("feature", attribute=attribute, polarity=hint)
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
                for variant in {word, *_deletions(word)}:
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
            for variant in _deletions(token):
                candidates |= self._deletions.get(variant, set())
            candidates = {c for c in candidates if _is_typo(token, c)}
            if len(candidates) > 1:  # a swap or a vowel is a likelier slip than a letter in or out
                candidates = {c for c in candidates if len(c) == len(token)}
            out.append(candidates.pop() if len(candidates) == 1 else token)
        return out

    def _add_feature(self, name: str, phrases: list[str], explicit: set) -> None:
        attribute = self.attributes[name]
        for phrase in phrases:
            key = tuple(_tokens(phrase))
            self._spelling_targets.update(key)
            hint = data.POLARITY_HINTS.get(" ".join(key), 0)
            self._add(key, _Entry("feature", attribute=attribute, polarity=hint), explicit, phrase)

    def _add(self, key: tuple[str, ...], entry: _Entry, explicit: set, phrase: str) -> None:
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

    def lookup(self, phrase: str) -> Attribute | None:
        """The attribute a whole phrase names exactly (a canonical name or a synonym), else None."""
        entry = self._table.get(tuple(_tokens(phrase)))
        return entry.attribute if entry is not None and entry.kind == "feature" else None

    def find(self, text: str) -> list[Attribute]:
        """Every attribute mentioned anywhere in `text`, in order, longest phrases first."""
        return [item.entry.attribute for item in self._scan(_tokens(text)) if item.entry.kind == "feature"]

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
            heads = [out[it.end - 1] for it in self._scan(out[: i - 1]) if it.entry.kind == "feature"]
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

    def _scan(self, tokens: list[str], shown: frozenset[str] = frozenset()) -> list[_Item]:
        """Phrases in reading order, longest first. `shown` holds the answered image's features: their
        evocations (data.EVOCATIONS) count too, and win over a shorter phrase at the same place."""
        items, i = [], 0
        while i < len(tokens):
            best = None
            for length in range(min(self.max_phrase, len(tokens) - i), 0, -1):
                entry = self._table.get(tuple(tokens[i : i + length]))
                if entry is not None:
                    best = _Item(entry, i, i + length)
                    break
            if shown:
                for length in range(min(self.max_evocation, len(tokens) - i), best.end - i if best else 0, -1):
                    entry = self._evocations.get(tuple(tokens[i : i + length]))
                    if entry is not None and entry.attribute.name in shown:
                        best = _Item(entry, i, i + length)
                        break
            if best is not None:
                items.append(best)
                i = best.end
                continue
            token = tokens[i]
            if token in data._EMOJI_POSITIVE or token in data._EMOJI_NEGATIVE:
                items.append(_Item(_Entry("cue", polarity=1 if token in data._EMOJI_POSITIVE else -1), i, i + 1))
            i += 1
        return items


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return Lexicon()


# --- the extractor ----------------------------------------------------------------------------------

_CUE_KINDS = ("cue", "lack", "excess", "wish")
_BUSY = "busy"
_NEGATING = ("negator", "feature_negator", "lack")
_PREFER = {"prefer", "prefers", "preferred", "prefer it", "rather"}
_WITHOUT = {"without", "sans", "ohne", "sin"}
_WORD = re.compile(r"^[a-z0-9']+$")


@dataclass
class _Clause:
    tokens: list[str]
    items: list[_Item]
    sentence: int
    contrast: bool
    cues: list[_Item] = field(default_factory=list)
    question: bool = False  # the sentence ends with "?"
    rhetorical: bool = False  # ... and opens with a dismissal ("who needs", "does every")
    conceded: bool = False  # "Playful, sure, but ...": granted before a turn, not judged by it


class LexiconExtractor:
    """Reads comments with the vocabulary and simple, predictable polarity rules (see the module doc)."""

    name = "lexicon"

    def __init__(
        self, *, lexicon: Lexicon | None = None, max_chars: int = MAX_LEXICON_CHARS, judge: bool | object = True
    ) -> None:
        """`judge`: True for the shipped learned judge (engine.lexicon_model) over the rules'
        candidates, False for the rules alone, or a CandidateModel to use instead."""
        from engine import lexicon_model

        self.lexicon = lexicon or default_lexicon()
        self.max_chars = max_chars
        self.model = (lexicon_model.default_model() if judge else None) if isinstance(judge, bool) else judge
        self.version = f"{LEXICON_RULES_VERSION}.{len(self.lexicon)}+{self.lexicon.fingerprint}"
        if self.model is not None:
            self.version += f"+judge{self.model.version}"

    def load(self) -> None:
        """Nothing to load; the vocabulary is compiled when the extractor is built."""

    def extract(self, comments: Sequence[Comment] | None) -> ExtractResult:
        liked: dict[str, int] = {}
        disliked: dict[str, int] = {}
        readings = [self.read(comment) for comment in comments or []]
        read = self._judged(readings) if self.model is not None else [r.mentions for r in readings]
        # A feature the member names in words is judged by those words: a verdict on a whole image
        # ("love this one!") or a vague aspect ("the colours") never overrules it.
        named = {m.feature for mentions in read for m in mentions if m.source == "text"}
        for mentions in read:
            for mention in mentions:
                if mention.source == "image" and mention.feature in named:
                    continue
                target = liked if mention.polarity > 0 else disliked
                target[mention.feature] = target.get(mention.feature, 0) + 1
        both = liked.keys() & disliked.keys()
        return ExtractResult(
            liked=_by_count(liked, both),
            disliked=_by_count(disliked, both),
            backend=self.name,
            backend_version=self.version,
        )

    def _judged(self, readings: list[Reading]) -> list[list[Mention]]:
        """Each comment's features as the learned judge decides them, over the rules' candidates."""
        from engine.lexicon_model import candidates, member_view

        out = []
        for reading, elsewhere in zip(readings, member_view(readings), strict=True):
            mentions = []
            for candidate in candidates(self.lexicon, reading, elsewhere):
                polarity = self.model.judge(candidate.features)
                if not polarity and candidate.in_text and candidate.why == "cue" and candidate.category == "color":
                    # "the yellow is harsh": a colour named with its own verdict stands. The judge
                    # learned to doubt plain colours because readers write the image's shade instead.
                    polarity = candidate.rule
                if polarity:
                    source = "text" if candidate.in_text else "image"
                    mentions.append(Mention(candidate.feature, candidate.category, polarity, source, "judge"))
            out.append(mentions)
        return out

    # --- one comment -----------------------------------------------------------------------------

    def analyse(self, comment: Comment | str | None) -> list[Mention]:
        """The mentions in one comment, in reading order. Never raises on odd input."""
        return self.read(comment).mentions

    def read(self, comment: Comment | str | None) -> Reading:
        """One comment read by the rules (`analyse` keeps only the mentions). Never raises on odd input."""
        if comment is None:
            return Reading([], [], [], [], frozenset())
        if isinstance(comment, str):
            comment = Comment(text=comment)
        raw = getattr(comment, "text", None)
        text = (raw if isinstance(raw, str) else "" if raw is None else str(raw))[: self.max_chars]
        raw_tags = getattr(comment, "image_tags", None)
        tags = [t for t in (raw_tags if isinstance(raw_tags, list) else []) if isinstance(t, str) and t.strip()]
        tokens = self._drop_injections(self.lexicon.resolve_ones(self.lexicon.correct(_tokens(text))))
        shown = frozenset(a.name for a in map(self.lexicon.lookup, tags) if a is not None)
        clauses = self._clauses(tokens, shown)
        sarcastic = self.lexicon.is_sarcastic(tokens, text)
        for clause in clauses:
            self._resolve_cues(clause, sarcastic or clause.rhetorical)
        # An undecided sentence ("not sure it's for me", "can't decide if I like it") says nothing.
        hedged = {c.sentence for c in clauses if any(it.entry.kind == "hedge" for it in c.items)}
        clauses = [c for c in clauses if c.sentence not in hedged]
        cue_signs = {c.polarity for clause in clauses for c in clause.cues if c.polarity}
        wishes = {c.polarity for clause in clauses for c in clause.cues if c.polarity and c.entry.kind == "wish"}
        comment_polarity = next(iter(cue_signs)) if len(cue_signs) == 1 else self._concluding_verdict(clauses)
        hints = {it.entry.polarity for c in clauses for it in c.items if it.entry.kind == "feature"} - {0}
        if sarcastic:
            comment_polarity = -1
        elif cue_signs == wishes == {-1}:
            # The one verdict is a wish against one thing ("Bold stripes, bold colours — if only the edges
            # weren't so ruler-straight"): the rest is what the member would keep.
            comment_polarity = 1
        elif hedged and not cue_signs:
            comment_polarity = 0  # the member is undecided: nothing else in the comment is a verdict
        elif not cue_signs and len(hints) == 1:
            # No verdict, but words that judge ("elegant", "cluttered"): a weak verdict for the comment.
            comment_polarity = hints.pop()
        elif not cue_signs and self._only_features(clauses):
            # A bare list of features ("gothic art, chiaroscuro, candle light") is offered as taste.
            comment_polarity = 1

        mentions: list[Mention] = []
        signs: dict[int, int] = {}  # -1 for a mention its own clause negated ("than stripes")
        carry, sentence, previous, previous_cued, previous_conceded = 0, -1, [], False, False
        for clause in clauses:
            if clause.sentence != sentence:
                carry, sentence, previous, previous_cued, previous_conceded = 0, clause.sentence, [], False, False
            if clause.contrast and previous and all(m.polarity > 0 for m in previous) and self._prefers(clause):
                # "The teal is nice, but I prefer warm colours": a concession, not a preference.
                mentions = [m for m in mentions if not any(m is p for p in previous)]
                previous = []
            negation_is_contrast = clause.contrast and not clause.cues
            # After "but" with no cue of its own the clause means the opposite of what came before;
            # between two clauses without a verdict ("minimal yet warm, I like it") it means nothing.
            if negation_is_contrast:
                # Against the verdict before the turn; with none before it ("same weave but in greens!!
                # love love love"), the turn only joins two descriptions and the comment's verdict holds.
                judged_before = any(c.polarity for earlier in clauses[: clauses.index(clause)] for c in earlier.cues)
                against = comment_polarity if cue_signs and not judged_before else -comment_polarity
                inherited = -carry if carry else (self._verdict_after(clauses, clause) or against)
            elif clause.rhetorical and not clause.cues:
                inherited = -1  # "Who wants chevrons ...?": what a dismissive question names is dismissed
            else:
                inherited = carry
            drop_context = False
            if not clause.cues and not negation_is_contrast and not clause.rhetorical:
                elided = self._elided_verdict(clauses, clause)
                ahead = self._ahead(clauses, clause) if not carry else None
                if elided:
                    inherited = elided  # "the grid isn't the problem; the mustard is"
                elif ahead is not None:
                    inherited, drop_context = ahead, ahead == 0
                elif not carry and clause.tokens[0] in data.MORE_WORDS:
                    inherited = 1  # "less clutter, more breathing room": what is asked for more of
            features = [it for it in clause.items if it.entry.kind in ("feature", "category")]
            if not features:
                features = self._aspect_items(clause)
            spoken = [c.polarity for c in clause.cues if c.polarity]
            if (
                (clause.contrast or not previous_cued) and spoken and not features and previous
                and not previous_conceded and self._bare_verdict([clause])
                and clause.tokens[0] not in data.MORE_WORDS  # "less polish, more mess": a request, not a verdict
            ):
                # "neon is fun but a bit too much": the verdict after "but" is the conclusion about
                # what the clause before it named; so is a verdict after a clause with none of its
                # own ("the dark background, hmm, not so much"), keeping that clause's own negations.
                for mention in previous:
                    mention.polarity = spoken[-1] * (1 if clause.contrast else signs.get(id(mention), 1))
                carry = spoken[-1]
                continue
            start = len(mentions)
            named = {it.entry.attribute.category for it in features if it.entry.kind == "feature"}
            last_hint = 0
            hints = {it.entry.polarity for it in features if it.entry.kind == "feature"} - {0}
            clause_hint = hints.pop() if len(hints) == 1 and not clause.cues else 0
            if self._too_many(clause):
                # "too many shapes", "too many colours": a complaint about clutter, not about shapes
                mentions.append(Mention(_BUSY, self.lexicon.attributes[_BUSY].category, -1, "text", "busy"))
                features = [it for it in features if it.entry.kind == "feature"]
            for item in features:
                if item.entry.kind == "category" and any(
                    other.end == item.start and other.entry.kind == "feature" and other.entry.attribute.category != "mood"
                    for other in clause.items
                ):
                    continue  # "grid composition", "teal colour": the word only heads the feature
                wants_more = self._mark_negation(clause, item)
                if item.negated and item.entry.kind == "category":
                    continue  # "no colour at all", "lacks texture": the image's own tags are what it has
                polarity, source = self._polarity(clause, item, clause_hint or inherited, comment_polarity)
                if drop_context and source == "context":
                    continue  # "muted tones, but the gold is gorgeous": the first side is not judged
                if wants_more:
                    polarity, source = 1, "negation"  # "not warm enough": more of it, please
                elif item.negated and self._reduced(clause, item, data.LESS_WORDS):
                    polarity, source = -1, "negation"  # "less polish", "fewer shapes": a wish against it
                if sarcastic and (source == "hint" and polarity > 0 or item.entry.kind == "feature" and item.entry.attribute.category == "mood"):
                    continue  # "really relaxing /s": a mood praised in irony is no evidence either way
                if source == "hint":
                    if item.negated and polarity < 0 and self._reduced(clause, item):
                        pass  # "less clutter", "without the mess": the member wants less of what they judge
                    elif item.negated:
                        continue  # "not cluttered": a judgement withdrawn, not a preference
                    else:
                        last_hint = polarity
                elif item.negated and source != "negation" and not negation_is_contrast:
                    if source == "cue" and self._cleft(clause, item):
                        continue  # "it's not the lines I like": what is not liked is not said to be disliked
                    polarity = -polarity
                if polarity == 0:
                    continue
                first = len(mentions)
                if item.entry.kind == "feature":
                    mentions.append(Mention(item.entry.attribute.name, item.entry.attribute.category, polarity, "text", source))
                elif not named & set(item.entry.categories):
                    mentions.extend(self._from_tags(tags, item.entry.categories, polarity, "aspect"))
                if item.negated:
                    signs.update((id(m), -1) for m in mentions[first:])
            carry = spoken[-1] if spoken else (last_hint or (0 if drop_context else inherited))
            if len(mentions) > start:
                previous, previous_cued = mentions[start:], bool(clause.cues)
                previous_conceded = clause.conceded

        if not mentions and comment_polarity and tags and self._bare_verdict(clauses):
            mentions = self._from_tags(tags, None, comment_polarity, "verdict")
        return Reading(tokens, clauses, self._grounded(mentions, shown), tags, shown, comment_polarity, sarcastic)

    def _grounded(self, mentions: list[Mention], shown: frozenset[str]) -> list[Mention]:
        """Plain colour words named on an image, as the image's own shade of them (data.GROUNDING), and
        feature words with the neighbouring feature the image shows beside them (data.RELATED)."""
        if not shown:
            return mentions
        out = []
        for mention in mentions:
            out.append(mention)
            if mention.source != "text" or mention.feature in shown:
                continue  # the image shows the feature itself
            shades = [name for name in data.GROUNDING.get(mention.feature, ()) if name in shown]
            if len(shades) == 1:
                mention.feature = shades[0]
                continue
            related = [name for name in data.RELATED.get(mention.feature, ()) if name in shown]
            if len(related) == 1:
                # "blurry blobs" on a bokeh image: the reader means its bokeh, and maybe the blur too.
                out.append(
                    Mention(related[0], self.lexicon.attributes[related[0]].category, mention.polarity, "text", "related")
                )
        return out

    @staticmethod
    def _elided_verdict(clauses: list[_Clause], clause: _Clause) -> int:
        """ "The grid isn't the problem; the mustard is": a clause that ends on the verb of a negated
        verdict before it takes that verdict un-negated (the problem -> disliked)."""
        if clause.tokens[-1] not in data.ELIDING_VERBS or not any(it.entry.kind == "feature" for it in clause.items):
            return 0
        index = clauses.index(clause)
        for earlier in reversed(clauses[max(0, index - 2) : index]):
            negated = [c for c in earlier.cues if c.negated]
            if negated:
                return negated[-1].entry.polarity
        return 0

    def _ahead(self, clauses: list[_Clause], clause: _Clause) -> int | None:
        """The polarity an unjudged clause takes from the one after it, or None when that says nothing.

        - "Soft pastels, but the neon is awful": before a turn that dislikes something else, liked;
          before a turn that likes something else ("muted tones, but the gold is gorgeous"), 0 (dropped).
        - "Playful, sure, but it's exhausting": a granted quality before a turn, liked (or dropped).
        - "Teal, not orange": before a clause that only negates features, liked.
        - "Dark backgrounds? No, ...": a question answered by a bare "no" or "yes" takes the answer.
        """
        index = clauses.index(clause)
        if not any(it.entry.kind == "feature" for it in clause.items):
            return None
        later = clauses[index + 1] if index + 1 < len(clauses) else None
        granted = self._granted(clause)
        if later is not None and later.sentence == clause.sentence and not later.items and self._granted(later):
            # "Playful, sure, but ...": the granting word stands in a clause of its own
            granted = True
            later = clauses[index + 2] if index + 2 < len(clauses) else None
        if later is not None and later.sentence == clause.sentence:
            spoken = {c.polarity for c in later.cues if c.polarity}
            named = any(it.entry.kind == "feature" for it in later.items)
            if later.contrast and len(spoken) == 1:
                verdict = spoken.pop()
                if named or granted:
                    clause.conceded = not named
                    return 1 if verdict < 0 else 0
                return None
            if (
                not later.contrast and not later.cues and named and later.tokens[0] in data.NOT_WORDS
                and all(it.entry.kind not in ("feature", "category") or it.start > 0 for it in later.items)
            ):
                return 1
            return None
        if clause.question and not any(c.cues for c in clauses if c.sentence == clause.sentence):
            answer = next((c for c in clauses if c.sentence > clause.sentence), None)
            if answer is not None and answer.sentence == clause.sentence + 1:
                first = answer.tokens[0]
                return -1 if first in data.NO_ANSWERS else 1 if first in data.YES_ANSWERS else None
        return None

    @staticmethod
    def _granted(clause: _Clause) -> bool:
        return any(t in data.CONCESSION_WORDS for t in clause.tokens)

    def _reduced(self, clause: _Clause, item: _Item, words: set[str] = data.REDUCING_WORDS) -> bool:
        """True when `item` follows "less", "fewer" or "without" (not a plain "not"), or one of `words`."""
        before = [it for it in clause.items if it.end <= item.start]
        return bool(before) and before[-1].entry.kind == "feature_negator" and clause.tokens[before[-1].start] in words

    def _aspect_items(self, clause: _Clause) -> list[_Item]:
        """Stand-ins for the vague word a one-aspect verdict implies ("garish" -> "the colours")."""
        out = []
        for cue in clause.cues:
            aspect = data.ASPECT_CUES.get(" ".join(clause.tokens[cue.start : cue.end]))
            if aspect:
                categories = data.CATEGORY_WORDS[aspect][0]
                out.append(_Item(_Entry("category", categories=categories), cue.start, cue.end))
        return out

    def _too_many(self, clause: _Clause) -> bool:
        return any(
            clause.tokens[it.start : it.end] == ["too", "many"] for it in clause.items if it.entry.kind == "cue"
        )

    @staticmethod
    def _concluding_verdict(clauses: list[_Clause]) -> int:
        """With mixed verdicts, the last one given after "but" sums up the comment ("pretty, but boring")."""
        for clause in reversed(clauses):
            spoken = [c.polarity for c in clause.cues if c.polarity]
            if clause.contrast and spoken:
                return spoken[-1]
        return 0

    @staticmethod
    def _verdict_after(clauses: list[_Clause], clause: _Clause) -> int:
        """The first verdict later in the same sentence: "minimal yet warm, I like it" likes both."""
        for later in clauses[clauses.index(clause) + 1 :]:
            if later.sentence != clause.sentence:
                break
            spoken = [c.polarity for c in later.cues if c.polarity]
            if spoken:
                return spoken[0]
        return 0

    def _drop_injections(self, tokens: list[str]) -> list[str]:
        """The tokens without any sentence that addresses the machine ("ignore the instructions")."""
        out, sentence = [], []
        for token in [*tokens, "."]:
            sentence.append(token)
            if token in data._HARD_BREAKS and token not in (":", ";"):  # "Liked Art Features: a, b." is one
                words = [t for t in sentence if _WORD.match(t)]
                if not any(
                    tuple(words[i : i + len(marker)]) == marker for marker in self.lexicon.injection for i in range(len(words))
                ):
                    out.extend(sentence)
                sentence = []
        return out[:-1] if out and out[-1] == "." and (not tokens or tokens[-1] != ".") else out

    def _questions(self, tokens: list[str]) -> tuple[set[int], set[int], set[int]]:
        """Sentence numbers that are questions, those that are rhetorical dismissals, and the token
        positions where a dismissal turns to what the member prefers ("... when you have Y?")."""
        questions, rhetorical, turns = set(), set(), set()
        sentence, begin = 0, 0
        for index, token in enumerate([*tokens, "."]):
            if token not in data._HARD_BREAKS:
                continue
            words = [t for t in tokens[begin:index] if _WORD.match(t)]
            opening = [w for w in words[:6] if w not in ("so", "honestly", "seriously", "really", "but", "and", "like", "ok", "okay")]
            if token != "?" and opening[:1] == ["why"] and any(tuple(opening[: len(d)]) == d for d in self.lexicon.dismissals):
                # "Why is everything so dark." asks nothing without its "?" either; praise in it keeps
                # its meaning ("why is everything so lovely here") since only a true question is flipped.
                scanned = self.lexicon._scan(tokens[begin:index])
                if not any(it.entry.kind == "cue" and it.entry.polarity > 0 for it in scanned):
                    rhetorical.add(sentence)
            if token == "?":
                questions.add(sentence)
                if any(tuple(opening[: len(d)]) == d for d in self.lexicon.dismissals):
                    rhetorical.add(sentence)
                    turns.update(
                        i for i in range(begin + 2, index) if tokens[i] in data.RHETORICAL_TURNS
                    )
            sentence, begin = sentence + 1, index + 1
        return questions, rhetorical, turns

    def _clauses(self, tokens: list[str], shown: frozenset[str] = frozenset()) -> list[_Clause]:
        clauses: list[_Clause] = []
        current: list[str] = []
        sentence, contrast = 0, False
        questions, rhetorical, turns = self._questions(tokens)

        def close(next_contrast: bool) -> None:
            nonlocal current, contrast
            if current:
                clauses.append(
                    _Clause(
                        current, self.lexicon._scan(current, shown), sentence, contrast,
                        question=sentence in questions, rhetorical=sentence in rhetorical,
                    )
                )
            current, contrast = [], next_contrast or (contrast and not current)

        for position, token in enumerate(tokens):
            if position in turns:
                close(True)  # "who needs a grid | when you have flowing lines": the other side
            elif token in data._HARD_BREAKS:
                close(False)
                sentence += 1
                contrast = False
            elif token in data._SOFT_BREAKS:
                close(False)
            elif token == "if" and current and current[-1] == "even":
                current.pop()  # "gorgeous even if the grid is stiff": a turn, like "though"
                starts_sentence = not current and not any(c.sentence == sentence for c in clauses)
                close(not starts_sentence)
            elif token in data.CONTRAST_WORDS:
                if current in (["even"], ["and"]):
                    current = []
                starts_sentence = not current and not any(c.sentence == sentence for c in clauses)
                # "Although it's minimal, it feels warm": a concession, not a turn against what came before.
                close(not starts_sentence)
            elif token in data._EMOJI_POSITIVE or token in data._EMOJI_NEGATIVE:
                current.append(token)  # an emoji judges what came just before it: "teal 😍 grain 👎"
                if any(t not in data._EMOJI_POSITIVE and t not in data._EMOJI_NEGATIVE for t in current):
                    close(False)
            else:
                current.append(token)
        close(False)
        return clauses

    def _resolve_cues(self, clause: _Clause, sarcastic: bool) -> None:
        items = clause.items
        for index, item in enumerate(items):
            word = " ".join(clause.tokens[item.start : item.end])
            if item.entry.kind != "negator" or item.end != len(clause.tokens):
                if item.entry.kind == "cue" and word == "pretty" and index + 1 < len(items):
                    if items[index + 1].start == item.end and items[index + 1].entry.kind in ("cue", "feature"):
                        item.entry = _Entry("neutral")  # "pretty boring": an adverb, not praise
                continue
            alone = all(t in data.STOPWORDS or t in data.FILLERS for t in clause.tokens[: item.start])
            if word in self.lexicon.verdict_negators or (word in self.lexicon.bare_verdict_negators and alone):
                item.entry = _Entry("cue", polarity=-1)  # "pastels + bokeh = no": nothing left to negate
        for index, item in enumerate(items):
            kind = item.entry.kind
            if kind not in _CUE_KINDS:
                continue
            if kind == "excess" and clause.tokens[item.start] == "too" and item.end >= len(clause.tokens):
                continue  # "me too", "the lines too": an addition, not an excess
            polarity = item.entry.polarity
            if kind == "wish" and clause.tokens[item.start : item.end] == ["give", "me"]:
                if any(t not in data.STOPWORDS for t in clause.tokens[: item.start]):
                    continue  # "the dots give me ...": a report, not the imperative "give me more teal"
            if kind == "wish":
                # "wish it wasn't so abstract", "wish there was less grain": a wish against something
                for position, other in enumerate(items[index + 1 :], index + 1):
                    if other.entry.kind in ("feature", "category") and self._copula_negated(clause, other, items[position + 1 :]):
                        continue  # "wish the colours weren't so harsh": the wish is against what it names
                    if other.start - item.end > 4 or other.entry.kind in (*_CUE_KINDS, "feature", "category"):
                        break  # "rather see X than Y": the negation belongs to Y, not to the wish
                    if other.entry.kind in ("negator", "feature_negator") and not other.consumed:
                        other.consumed, polarity = True, -1
                        break
            else:
                negated = False
                for position, other in enumerate(reversed(items[:index])):
                    if item.start - other.end > 3 or other.entry.kind in _CUE_KINDS:
                        break
                    if other.entry.kind in ("feature", "category") and clause.tokens[other.start] not in data.FILLERS:
                        break  # "not the lines I like": the negation is about the lines, not the liking
                    negator = other.entry.kind == "negator" or (
                        other.entry.kind == "feature_negator" and clause.tokens[other.start] in _WITHOUT
                    )
                    if negator and not other.consumed:
                        other.consumed = True
                        if clause.question and other.start == 0:
                            break  # "Isn't it gorgeous?", "Don't you love it?": a question asks to agree
                        negated = True
                        # "never said I didn't like", "isn't without charm": two negations cancel
                        earlier = items[: index - position - 1]
                        for first in reversed(earlier):
                            if other.start - first.end > 3 or first.entry.kind in _CUE_KINDS:
                                break
                            if first.entry.kind == "negator" and not first.consumed:
                                first.consumed, negated = True, False
                                break
                        if clause.question and negated and clause.tokens[other.start] in ("not", "n't"):
                            negated = False  # "what's not to love?", "how could I not love it?"
                        break
                if not negated:
                    # German and colloquial French put the negation after the verb: "mag ich nicht".
                    after = clause.tokens[item.end : item.end + 3]
                    for offset, token in enumerate(after):
                        if token in self.lexicon.post_negators:
                            negated = True
                            for other in items[index + 1 :]:
                                if other.start == item.end + offset:
                                    other.consumed = True
                            break
                if negated:
                    item.negated = True
                    # "not too busy", "the grid isn't the problem": no verdict either way
                    withdrawn = kind == "excess" or word in data.COMPLAINT_NOUNS
                    polarity = 0 if withdrawn else -polarity
            if sarcastic and polarity > 0 and kind in ("cue", "wish"):
                polarity = -1  # "Oh great, another gradient": the praise is the complaint
            item.polarity = polarity
            clause.cues.append(item)

    @staticmethod
    def _copula_negated(clause: _Clause, item: _Item, rest: list[_Item]) -> bool:
        """True when the next thing after `item` is "wasn't", "weren't", "isn't" or "was/were not"."""
        if not rest or rest[0].entry.kind != "negator":
            return False
        between = clause.tokens[item.end : rest[0].start]
        word = clause.tokens[rest[0].start]
        if word in data.COPULA_NEGATIONS and not between:
            return True
        return word == "not" and between in (["was"], ["were"], ["is"], ["are"])

    def _mark_negation(self, clause: _Clause, item: _Item) -> bool:
        """Mark `item` negated by a negator or comparison just before it; True for "not X enough"."""
        if item not in clause.items:
            return False  # a stand-in for an aspect verdict: the verdict's own negation already counts
        index = clause.items.index(item)
        if index and clause.items[index - 1].end == item.start and clause.items[index - 1].negated:
            if clause.items[index - 1].entry.kind in ("feature", "category"):
                item.negated = True  # "no harsh neon", "than any cold grid": one noun phrase, one negation
                return False
        for other in reversed(clause.items[:index]):
            if other.entry.kind in _NEGATING:
                between = clause.tokens[other.end : item.start]
                described = [t for t in between if t not in data.FILLERS]
                if other.entry.kind == "feature_negator" and len(described) == 1 and described[0].isalpha():
                    # "than hard geometric ones", "without any visible grain": one describing word
                    described = [] if (described[0],) not in self.lexicon._table else described
                if not other.consumed and len(between) <= 3 and not described:
                    item.negated = True
                    other.consumed = other.entry.kind != "lack"  # "lacks depth and contrast": both
                    follows = clause.tokens[item.end : item.end + 2]
                    return other.entry.kind == "negator" and any(
                        self.lexicon._table.get((t,), _Entry("")).kind == "enough" for t in follows
                    )
                return False
            if other.entry.kind in _CUE_KINDS or item.start - other.end > 4:
                break
        # "muted colours over bright ones", "prefer watercolour to oil": the second one loses.
        previous = list(clause.tokens[max(0, item.start - 4) : item.start])
        while previous and previous[-1] in data.FILLERS:
            previous.pop()
        before = [it for it in clause.items[:index] if it.entry.kind in ("feature", "category")]
        if previous and previous[-1] in ("over", "to"):
            prefers = any(" ".join(clause.tokens[c.start : c.end]) in _PREFER for c in clause.cues)
            if before and (previous[-1] == "over" or prefers):
                item.negated = True
        elif before and len(previous) >= 2 and previous[-2] in data.COMPARISON_LOSERS:
            # "muted pastels over shouty neon", "beats any cold grid": one describing word between
            if previous[-1].isalpha() and (previous[-1],) not in self.lexicon._table:
                item.negated = True
        elif before and previous and previous[-1] in data.COMPARISON_LOSERS:
            item.negated = True
        return False

    @staticmethod
    def _cleft(clause: _Clause, item: _Item) -> bool:
        """True when `item` was negated by "not" and its verdict comes after it ("not the lines I like")."""
        cue_after = any(c.start >= item.end for c in clause.cues) and not any(c.end <= item.start for c in clause.cues)
        negator = next(
            (it for it in reversed(clause.items[: clause.items.index(item)]) if it.entry.kind == "negator"), None
        ) if item in clause.items else None
        return cue_after and negator is not None and clause.tokens[negator.start] in ("not", "nicht", "pas")

    @staticmethod
    def _prefers(clause: _Clause) -> bool:
        words = " ".join(clause.tokens)
        return any(f" {w} " in f" {words} " for w in data.PREFERENCE_WORDS)

    def _polarity(self, clause: _Clause, item: _Item, inherited: int, comment_polarity: int) -> tuple[int, str]:
        """The polarity of one feature or category word, before its own negation, and what decided it.

        In order: the nearest cue in the clause ("cue"), the feature's own judgement ("hint"), the
        clause's inherited polarity or the comment's ("context"), and for a bare negated feature
        such as "no neon" a dislike ("negation", already final).
        """
        after = [t for t in clause.tokens[item.end : item.end + 3] if t not in data.FILLERS]
        if after and after[0] in data.COMPARISON_LOSERS and (
            any(it.start > item.end and it.entry.kind == "feature" for it in clause.items)
            or clause.tokens[item.end + 1 : item.end + 2] in (["everything"], ["anything"], ["all"])  # "over everything else"
        ):
            return 1, "cue"  # "paisley over boring stripes": the side before "over" wins, whatever "boring" says
        best, best_distance = None, None
        for cue in clause.cues:
            if cue.end <= item.start:
                distance = item.start - cue.end
            elif self._compared_between(clause, item.end, cue.start):
                continue  # "rather something organic than a rigid maze": "rigid" judges the other side
            else:
                distance = cue.start - item.end + 0.5  # on a tie, the cue before the feature wins
            if best_distance is None or distance < best_distance:
                best, best_distance = cue, distance
        if best is not None and best.polarity:
            return best.polarity, "cue"
        if best is not None:
            return 0, "cue"  # a withdrawn verdict ("not too busy") decides: nothing
        if item.entry.polarity:
            return item.entry.polarity, "hint"
        if inherited:
            return inherited, "context"
        if comment_polarity:
            return comment_polarity, "context"
        return (-1 if item.negated else 0), "negation"

    @staticmethod
    def _compared_between(clause: _Clause, start: int, end: int) -> bool:
        """True when a comparison word ("than", "over", "rather than") stands between two positions."""
        return any(
            it.entry.kind == "feature_negator" and clause.tokens[it.start] in ("than", "rather")
            and start <= it.start < end
            for it in clause.items
        ) or any(token in data.COMPARISON_LOSERS for token in clause.tokens[start:end])

    def _only_features(self, clauses: list[_Clause]) -> bool:
        """True when the comment names features and says nothing else (no verdict, no other words)."""
        has_feature = False
        for clause in clauses:
            covered = set()
            for it in clause.items:
                if it.entry.kind == "feature":
                    has_feature = True
                    covered.update(range(it.start, it.end))
                elif it.entry.kind != "category":
                    return False
                else:
                    covered.update(range(it.start, it.end))
            for position, token in enumerate(clause.tokens):
                if position not in covered and _WORD.match(token) and token not in data.STOPWORDS | data.FILLERS:
                    if token not in ("art", "style", "drawings", "painting", "paintings", "and", "always", "forever"):
                        return False
        return has_feature

    def _bare_verdict(self, clauses: list[_Clause]) -> bool:
        """A verdict with nothing specific ("love this one!", "Ugly.", "👎👎"): it stands for the image.

        Any word that is not a cue, a negator or a function word means the member said something we
        did not understand ("needs more saturation"), and then guessing all tags would be wrong.
        """
        for clause in clauses:
            covered = {
                position
                for it in clause.items
                if it.entry.kind in ("cue", "negator", "excess", "neutral")
                for position in range(it.start, it.end)
            }
            for position, token in enumerate(clause.tokens):
                if position in covered or not _WORD.match(token):
                    continue
                if token not in data.STOPWORDS and token not in data.FILLERS and token not in self.lexicon.post_negators:
                    return False
        return True

    def _from_tags(self, tags: list[str], categories: tuple[str, ...] | None, polarity: int, why: str) -> list[Mention]:
        mentions = []
        for tag in tags:
            attribute = self.lexicon.lookup(tag)
            tag_category = attribute.category if attribute else self.lexicon.categorize(tag)
            if categories is not None and tag_category not in categories:
                continue
            name = attribute.name if attribute else " ".join(tag.lower().split())
            mentions.append(Mention(name, tag_category or "other", polarity, "image", why))
        return mentions


def _by_count(counts: dict[str, int], drop: set[str]) -> list[str]:
    """Most-mentioned first; ties keep the order in which features were first mentioned."""
    order = {name: i for i, name in enumerate(counts)}
    return sorted((n for n in counts if n not in drop), key=lambda n: (-counts[n], order[n]))

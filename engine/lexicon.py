"""The `lexicon` extraction backend: a vocabulary of visual attributes and plain polarity rules.

It runs on any CPU in about a millisecond per comment, needs nothing downloaded and is
deterministic, so onboarding works on the smallest install and in CI. By default a small learned
judge (`engine.lexicon_model`) then decides which of the rules' candidates each comment really
judges; `LexiconExtractor(judge=False)` is the rules alone, as described below. The tables (about 450
attributes in 19 categories, cue words, a short French/German/Spanish/Italian/Portuguese/Dutch core) live in
`engine.lexicon_data`; the rules are small on purpose so an operator can predict what a comment
will produce. This module holds the extractor, `LexiconExtractor`; the reading is spread over
modules by step (below), each importing only the ones before it:

- `engine.lexicon_text`: normalisation, tokens, typo mending helpers (step 1);
- `engine.lexicon_vocab`: the compiled vocabulary, `Lexicon` (phrase lookups, step 3);
- `engine.lexicon_reading`: `Reading`, `Mention`, the split into clauses (step 2);
- `engine.lexicon_cues`: cue polarity and negation inside a clause (steps 4 and 5);
- `engine.lexicon_rules`: the whole comment, `read_comment` (steps 5 and 6);
- `engine.lexicon_model`: the learned judge, which reads a `Reading` and never imports this module.

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

from collections.abc import Sequence

from engine import lexicon_model
from engine.lexicon_reading import Mention, Reading
from engine.lexicon_rules import LEXICON_RULES_VERSION, MAX_LEXICON_CHARS, read_comment
from engine.lexicon_text import normalise_phrase
from engine.lexicon_vocab import Attribute, Lexicon, default_lexicon
from viper.contracts.jobs import Comment, ExtractResult

__all__ = [
    "Attribute",
    "LEXICON_RULES_VERSION",
    "Lexicon",
    "LexiconExtractor",
    "MAX_LEXICON_CHARS",
    "Mention",
    "Reading",
    "default_lexicon",
    "normalise_phrase",
]


class LexiconExtractor:
    """Reads comments with the vocabulary and simple, predictable polarity rules (see the module doc)."""

    name = "lexicon"

    def __init__(
        self, *, lexicon: Lexicon | None = None, max_chars: int = MAX_LEXICON_CHARS, judge: bool | object = True
    ) -> None:
        """`judge`: True for the shipped learned judge (engine.lexicon_model) over the rules'
        candidates, False for the rules alone, or a CandidateModel to use instead."""
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
        out = []
        for reading, elsewhere in zip(readings, lexicon_model.member_view(readings), strict=True):
            mentions = []
            for candidate in lexicon_model.candidates(self.lexicon, reading, elsewhere):
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
        return read_comment(self.lexicon, comment, self.max_chars)


def _by_count(counts: dict[str, int], drop: set[str]) -> list[str]:
    """Most-mentioned first; ties keep the order in which features were first mentioned."""
    order = {name: i for i, name in enumerate(counts)}
    return sorted((n for n in counts if n not in drop), key=lambda n: (-counts[n], order[n]))

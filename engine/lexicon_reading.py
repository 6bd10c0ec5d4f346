"""A comment as the rules read it: the `Reading` and `Mention` types, and the split into clauses.

Step 2 of reading a comment (see `engine.lexicon`): a sentence that addresses the machine is dropped
(`drop_injections`), then the tokens are split into clauses at sentence ends, commas and contrast
words ("but", "though", "mais", "aber"), each clause remembering its sentence, whether it turns
against what came before, and whether its sentence is a question or a rhetorical dismissal. Each
clause's phrases are found with `Lexicon.scan` (step 3). The learned judge (`engine.lexicon_model`)
reads the same `Reading`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import lexicon_data as data
from engine.lexicon_text import WORD
from engine.lexicon_vocab import Item, Lexicon


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
class Clause:
    """A stretch of one sentence between breaks and contrast words, with the phrases found in it.

    `contrast`: it follows a turn ("but", "though") against what came before; `cues`: its verdicts,
    filled in by `engine.lexicon_cues.resolve_cues`.
    """

    tokens: list[str]
    items: list[Item]
    sentence: int
    contrast: bool
    cues: list[Item] = field(default_factory=list)
    question: bool = False  # the sentence ends with "?"
    rhetorical: bool = False  # ... and opens with a dismissal ("who needs", "does every")
    conceded: bool = False  # "Playful, sure, but ...": granted before a turn, not judged by it


@dataclass
class Reading:
    """One comment as the rules read it: its words, clauses and mentions, and the comment's verdict."""

    tokens: list[str]
    clauses: list[Clause]
    mentions: list[Mention]
    tags: list[str]
    shown: frozenset[str]
    comment_polarity: int = 0
    sarcastic: bool = False


def drop_injections(lexicon: Lexicon, tokens: list[str]) -> list[str]:
    """The tokens without any sentence that addresses the machine ("ignore the instructions")."""
    out, sentence = [], []
    for token in [*tokens, "."]:
        sentence.append(token)
        if token in data._HARD_BREAKS and token not in (":", ";"):  # "Liked Art Features: a, b." is one
            words = [t for t in sentence if WORD.match(t)]
            if not any(
                tuple(words[i : i + len(marker)]) == marker for marker in lexicon.injection for i in range(len(words))
            ):
                out.extend(sentence)
            sentence = []
    return out[:-1] if out and out[-1] == "." and (not tokens or tokens[-1] != ".") else out


def _questions(lexicon: Lexicon, tokens: list[str]) -> tuple[set[int], set[int], set[int]]:
    """Sentence numbers that are questions, those that are rhetorical dismissals, and the token
    positions where a dismissal turns to what the member prefers ("... when you have Y?")."""
    questions, rhetorical, turns = set(), set(), set()
    sentence, begin = 0, 0
    for index, token in enumerate([*tokens, "."]):
        if token not in data._HARD_BREAKS:
            continue
        words = [t for t in tokens[begin:index] if WORD.match(t)]
        opening = [w for w in words[:6] if w not in ("so", "honestly", "seriously", "really", "but", "and", "like", "ok", "okay")]
        if token != "?" and opening[:1] == ["why"] and any(tuple(opening[: len(d)]) == d for d in lexicon.dismissals):
            # "Why is everything so dark." asks nothing without its "?" either; praise in it keeps
            # its meaning ("why is everything so lovely here") since only a true question is flipped.
            scanned = lexicon.scan(tokens[begin:index])
            if not any(it.entry.kind == "cue" and it.entry.polarity > 0 for it in scanned):
                rhetorical.add(sentence)
        if token == "?":
            questions.add(sentence)
            if any(tuple(opening[: len(d)]) == d for d in lexicon.dismissals):
                rhetorical.add(sentence)
                turns.update(
                    i for i in range(begin + 2, index) if tokens[i] in data.RHETORICAL_TURNS
                )
        sentence, begin = sentence + 1, index + 1
    return questions, rhetorical, turns


def split_clauses(lexicon: Lexicon, tokens: list[str], shown: frozenset[str] = frozenset()) -> list[Clause]:
    """The comment's clauses in order, each with its phrases (`shown`: the answered image's features,
    whose evocations count too; see `Lexicon.scan`)."""
    clauses: list[Clause] = []
    current: list[str] = []
    sentence, contrast = 0, False
    questions, rhetorical, turns = _questions(lexicon, tokens)

    def close(next_contrast: bool) -> None:
        nonlocal current, contrast
        if current:
            clauses.append(
                Clause(
                    current, lexicon.scan(current, shown), sentence, contrast,
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

"""Verdicts and negation inside one clause: which way each cue points and what each negator reaches.

Steps 4 and 5 of reading a comment (see `engine.lexicon`), clause by clause: `resolve_cues` gives
every cue its polarity (flipped by a negator before it or after it, two negations cancelling, a
question's inverted negation not counting, irony turning praise around); `mark_negation` marks a
feature negated by "no", "without", "lacks" or the losing side of a comparison; `feature_polarity`
picks the verdict that decides one feature (nearest cue, its own judgement, or the context).
"""

from __future__ import annotations

from engine import lexicon_data as data
from engine.lexicon_reading import Clause
from engine.lexicon_vocab import Entry, Item, Lexicon


CUE_KINDS = ("cue", "lack", "excess", "wish")
_NEGATING = ("negator", "feature_negator", "lack")
_PREFER = {"prefer", "prefers", "preferred", "prefer it", "rather"}
_WITHOUT = {"without", "sans", "ohne", "sin"}


def resolve_cues(lexicon: Lexicon, clause: Clause, sarcastic: bool) -> None:
    items = clause.items
    for index, item in enumerate(items):
        word = " ".join(clause.tokens[item.start : item.end])
        if item.entry.kind != "negator" or item.end != len(clause.tokens):
            if item.entry.kind == "cue" and word == "pretty" and index + 1 < len(items):
                if items[index + 1].start == item.end and items[index + 1].entry.kind in ("cue", "feature"):
                    item.entry = Entry("neutral")  # "pretty boring": an adverb, not praise
            continue
        alone = all(t in data.STOPWORDS or t in data.FILLERS for t in clause.tokens[: item.start])
        if word in lexicon.verdict_negators or (word in lexicon.bare_verdict_negators and alone):
            item.entry = Entry("cue", polarity=-1)  # "pastels + bokeh = no": nothing left to negate
    for index, item in enumerate(items):
        kind = item.entry.kind
        if kind not in CUE_KINDS:
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
                if other.entry.kind in ("feature", "category") and _copula_negated(clause, other, items[position + 1 :]):
                    continue  # "wish the colours weren't so harsh": the wish is against what it names
                if other.start - item.end > 4 or other.entry.kind in (*CUE_KINDS, "feature", "category"):
                    break  # "rather see X than Y": the negation belongs to Y, not to the wish
                if other.entry.kind in ("negator", "feature_negator") and not other.consumed:
                    other.consumed, polarity = True, -1
                    break
        else:
            negated = False
            for position, other in enumerate(reversed(items[:index])):
                if item.start - other.end > 3 or other.entry.kind in CUE_KINDS:
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
                        if other.start - first.end > 3 or first.entry.kind in CUE_KINDS:
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
                    if token in lexicon.post_negators:
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


def _copula_negated(clause: Clause, item: Item, rest: list[Item]) -> bool:
    """True when the next thing after `item` is "wasn't", "weren't", "isn't" or "was/were not"."""
    if not rest or rest[0].entry.kind != "negator":
        return False
    between = clause.tokens[item.end : rest[0].start]
    word = clause.tokens[rest[0].start]
    if word in data.COPULA_NEGATIONS and not between:
        return True
    return word == "not" and between in (["was"], ["were"], ["is"], ["are"])


def mark_negation(lexicon: Lexicon, clause: Clause, item: Item) -> bool:
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
                described = [] if lexicon.entry((described[0],)) is None else described
            if not other.consumed and len(between) <= 3 and not described:
                item.negated = True
                other.consumed = other.entry.kind != "lack"  # "lacks depth and contrast": both
                follows = clause.tokens[item.end : item.end + 2]
                return other.entry.kind == "negator" and any(
                    (entry := lexicon.entry((t,))) is not None and entry.kind == "enough" for t in follows
                )
            return False
        if other.entry.kind in CUE_KINDS or item.start - other.end > 4:
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
        if previous[-1].isalpha() and lexicon.entry((previous[-1],)) is None:
            item.negated = True
    elif before and previous and previous[-1] in data.COMPARISON_LOSERS:
        item.negated = True
    return False


def cleft(clause: Clause, item: Item) -> bool:
    """True when `item` was negated by "not" and its verdict comes after it ("not the lines I like")."""
    cue_after = any(c.start >= item.end for c in clause.cues) and not any(c.end <= item.start for c in clause.cues)
    negator = next(
        (it for it in reversed(clause.items[: clause.items.index(item)]) if it.entry.kind == "negator"), None
    ) if item in clause.items else None
    return cue_after and negator is not None and clause.tokens[negator.start] in ("not", "nicht", "pas")


def states_preference(clause: Clause) -> bool:
    words = " ".join(clause.tokens)
    return any(f" {w} " in f" {words} " for w in data.PREFERENCE_WORDS)


def feature_polarity(clause: Clause, item: Item, inherited: int, comment_polarity: int) -> tuple[int, str]:
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
        elif _compared_between(clause, item.end, cue.start):
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


def _compared_between(clause: Clause, start: int, end: int) -> bool:
    """True when a comparison word ("than", "over", "rather than") stands between two positions."""
    return any(
        it.entry.kind == "feature_negator" and clause.tokens[it.start] in ("than", "rather")
        and start <= it.start < end
        for it in clause.items
    ) or any(token in data.COMPARISON_LOSERS for token in clause.tokens[start:end])


def reduced(clause: Clause, item: Item, words: set[str] = data.REDUCING_WORDS) -> bool:
    """True when `item` follows "less", "fewer" or "without" (not a plain "not"), or one of `words`."""
    before = [it for it in clause.items if it.end <= item.start]
    return bool(before) and before[-1].entry.kind == "feature_negator" and clause.tokens[before[-1].start] in words

"""The lexicon's polarity rules over a whole comment: from its clauses to the features it judges.

`read_comment` is the rules' reading of one comment, steps 1 to 6 of the overview in
`engine.lexicon`: tokens (`engine.lexicon_text`), clauses (`engine.lexicon_reading`), cues and
negation per clause (`engine.lexicon_cues`), then what this module adds: the comment's overall
verdict, the polarity each clause inherits from its neighbours when it gives none, vague words and
bare verdicts resolved to the answered image's tags, and plain words grounded in what the image
shows.
"""

from __future__ import annotations

from engine import lexicon_data as data
from engine.lexicon_cues import cleft, feature_polarity, mark_negation, reduced, resolve_cues, states_preference
from engine.lexicon_reading import Clause, Mention, Reading, drop_injections, split_clauses
from engine.lexicon_text import WORD, tokenize
from engine.lexicon_vocab import Entry, Item, Lexicon
from viper.contracts.jobs import Comment

# Bump when a rule changes what a comment produces; profiles record it with the vocabulary's size
# and fingerprint, so a profile says exactly which reading made it.
LEXICON_RULES_VERSION = "6"
# Longer comments are read up to here: enough for any real comment, and it bounds the work.
MAX_LEXICON_CHARS = 4000
_BUSY = "busy"


def read_comment(lexicon: Lexicon, comment: Comment | str | None, max_chars: int = MAX_LEXICON_CHARS) -> Reading:
    """One comment read by the rules, its first `max_chars` characters. Never raises on odd input."""
    if comment is None:
        return Reading([], [], [], [], frozenset())
    if isinstance(comment, str):
        comment = Comment(text=comment)
    raw = getattr(comment, "text", None)
    text = (raw if isinstance(raw, str) else "" if raw is None else str(raw))[: max_chars]
    raw_tags = getattr(comment, "image_tags", None)
    tags = [t for t in (raw_tags if isinstance(raw_tags, list) else []) if isinstance(t, str) and t.strip()]
    tokens = drop_injections(lexicon, lexicon.resolve_ones(lexicon.correct(tokenize(text))))
    shown = frozenset(a.name for a in map(lexicon.lookup, tags) if a is not None)
    clauses = split_clauses(lexicon, tokens, shown)
    sarcastic = lexicon.is_sarcastic(tokens, text)
    for clause in clauses:
        resolve_cues(lexicon, clause, sarcastic or clause.rhetorical)
    # An undecided sentence ("not sure it's for me", "can't decide if I like it") says nothing.
    hedged = {c.sentence for c in clauses if any(it.entry.kind == "hedge" for it in c.items)}
    clauses = [c for c in clauses if c.sentence not in hedged]
    cue_signs = {c.polarity for clause in clauses for c in clause.cues if c.polarity}
    wishes = {c.polarity for clause in clauses for c in clause.cues if c.polarity and c.entry.kind == "wish"}
    comment_polarity = next(iter(cue_signs)) if len(cue_signs) == 1 else _concluding_verdict(clauses)
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
    elif not cue_signs and _only_features(clauses):
        # A bare list of features ("gothic art, chiaroscuro, candle light") is offered as taste.
        comment_polarity = 1

    mentions: list[Mention] = []
    signs: dict[int, int] = {}  # -1 for a mention its own clause negated ("than stripes")
    carry, sentence, previous, previous_cued, previous_conceded = 0, -1, [], False, False
    for clause in clauses:
        if clause.sentence != sentence:
            carry, sentence, previous, previous_cued, previous_conceded = 0, clause.sentence, [], False, False
        if clause.contrast and previous and all(m.polarity > 0 for m in previous) and states_preference(clause):
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
            inherited = -carry if carry else (_verdict_after(clauses, clause) or against)
        elif clause.rhetorical and not clause.cues:
            inherited = -1  # "Who wants chevrons ...?": what a dismissive question names is dismissed
        else:
            inherited = carry
        drop_context = False
        if not clause.cues and not negation_is_contrast and not clause.rhetorical:
            elided = _elided_verdict(clauses, clause)
            ahead = _ahead(clauses, clause) if not carry else None
            if elided:
                inherited = elided  # "the grid isn't the problem; the mustard is"
            elif ahead is not None:
                inherited, drop_context = ahead, ahead == 0
            elif not carry and clause.tokens[0] in data.MORE_WORDS:
                inherited = 1  # "less clutter, more breathing room": what is asked for more of
        features = [it for it in clause.items if it.entry.kind in ("feature", "category")]
        if not features:
            features = _aspect_items(clause)
        spoken = [c.polarity for c in clause.cues if c.polarity]
        if (
            (clause.contrast or not previous_cued) and spoken and not features and previous
            and not previous_conceded and _bare_verdict(lexicon, [clause])
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
        if _too_many(clause):
            # "too many shapes", "too many colours": a complaint about clutter, not about shapes
            mentions.append(Mention(_BUSY, lexicon.attributes[_BUSY].category, -1, "text", "busy"))
            features = [it for it in features if it.entry.kind == "feature"]
        for item in features:
            if item.entry.kind == "category" and any(
                other.end == item.start and other.entry.kind == "feature" and other.entry.attribute.category != "mood"
                for other in clause.items
            ):
                continue  # "grid composition", "teal colour": the word only heads the feature
            wants_more = mark_negation(lexicon, clause, item)
            if item.negated and item.entry.kind == "category":
                continue  # "no colour at all", "lacks texture": the image's own tags are what it has
            polarity, source = feature_polarity(clause, item, clause_hint or inherited, comment_polarity)
            if drop_context and source == "context":
                continue  # "muted tones, but the gold is gorgeous": the first side is not judged
            if wants_more:
                polarity, source = 1, "negation"  # "not warm enough": more of it, please
            elif item.negated and reduced(clause, item, data.LESS_WORDS):
                polarity, source = -1, "negation"  # "less polish", "fewer shapes": a wish against it
            if sarcastic and (source == "hint" and polarity > 0 or item.entry.kind == "feature" and item.entry.attribute.category == "mood"):
                continue  # "really relaxing /s": a mood praised in irony is no evidence either way
            if source == "hint":
                if item.negated and polarity < 0 and reduced(clause, item):
                    pass  # "less clutter", "without the mess": the member wants less of what they judge
                elif item.negated:
                    continue  # "not cluttered": a judgement withdrawn, not a preference
                else:
                    last_hint = polarity
            elif item.negated and source != "negation" and not negation_is_contrast:
                if source == "cue" and cleft(clause, item):
                    continue  # "it's not the lines I like": what is not liked is not said to be disliked
                polarity = -polarity
            if polarity == 0:
                continue
            first = len(mentions)
            if item.entry.kind == "feature":
                mentions.append(Mention(item.entry.attribute.name, item.entry.attribute.category, polarity, "text", source))
            elif not named & set(item.entry.categories):
                mentions.extend(_from_tags(lexicon, tags, item.entry.categories, polarity, "aspect"))
            if item.negated:
                signs.update((id(m), -1) for m in mentions[first:])
        carry = spoken[-1] if spoken else (last_hint or (0 if drop_context else inherited))
        if len(mentions) > start:
            previous, previous_cued = mentions[start:], bool(clause.cues)
            previous_conceded = clause.conceded

    if not mentions and comment_polarity and tags and _bare_verdict(lexicon, clauses):
        mentions = _from_tags(lexicon, tags, None, comment_polarity, "verdict")
    return Reading(tokens, clauses, _grounded(lexicon, mentions, shown), tags, shown, comment_polarity, sarcastic)


def _grounded(lexicon: Lexicon, mentions: list[Mention], shown: frozenset[str]) -> list[Mention]:
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
                Mention(related[0], lexicon.attributes[related[0]].category, mention.polarity, "text", "related")
            )
    return out


def _elided_verdict(clauses: list[Clause], clause: Clause) -> int:
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


def _ahead(clauses: list[Clause], clause: Clause) -> int | None:
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
    granted = _granted(clause)
    if later is not None and later.sentence == clause.sentence and not later.items and _granted(later):
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


def _granted(clause: Clause) -> bool:
    return any(t in data.CONCESSION_WORDS for t in clause.tokens)


def _aspect_items(clause: Clause) -> list[Item]:
    """Stand-ins for the vague word a one-aspect verdict implies ("garish" -> "the colours")."""
    out = []
    for cue in clause.cues:
        aspect = data.ASPECT_CUES.get(" ".join(clause.tokens[cue.start : cue.end]))
        if aspect:
            categories = data.CATEGORY_WORDS[aspect][0]
            out.append(Item(Entry("category", categories=categories), cue.start, cue.end))
    return out


def _too_many(clause: Clause) -> bool:
    return any(
        clause.tokens[it.start : it.end] == ["too", "many"] for it in clause.items if it.entry.kind == "cue"
    )


def _concluding_verdict(clauses: list[Clause]) -> int:
    """With mixed verdicts, the last one given after "but" sums up the comment ("pretty, but boring")."""
    for clause in reversed(clauses):
        spoken = [c.polarity for c in clause.cues if c.polarity]
        if clause.contrast and spoken:
            return spoken[-1]
    return 0


def _verdict_after(clauses: list[Clause], clause: Clause) -> int:
    """The first verdict later in the same sentence: "minimal yet warm, I like it" likes both."""
    for later in clauses[clauses.index(clause) + 1 :]:
        if later.sentence != clause.sentence:
            break
        spoken = [c.polarity for c in later.cues if c.polarity]
        if spoken:
            return spoken[0]
    return 0


def _only_features(clauses: list[Clause]) -> bool:
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
            if position not in covered and WORD.match(token) and token not in data.STOPWORDS | data.FILLERS:
                if token not in ("art", "style", "drawings", "painting", "paintings", "and", "always", "forever"):
                    return False
    return has_feature


def _bare_verdict(lexicon: Lexicon, clauses: list[Clause]) -> bool:
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
            if position in covered or not WORD.match(token):
                continue
            if token not in data.STOPWORDS and token not in data.FILLERS and token not in lexicon.post_negators:
                return False
    return True


def _from_tags(
    lexicon: Lexicon, tags: list[str], categories: tuple[str, ...] | None, polarity: int, why: str
) -> list[Mention]:
    mentions = []
    for tag in tags:
        attribute = lexicon.lookup(tag)
        tag_category = attribute.category if attribute else lexicon.categorize(tag)
        if categories is not None and tag_category not in categories:
            continue
        name = attribute.name if attribute else " ".join(tag.lower().split())
        mentions.append(Mention(name, tag_category or "other", polarity, "image", why))
    return mentions

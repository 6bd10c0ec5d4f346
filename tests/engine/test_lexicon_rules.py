"""The lexicon's polarity rules from version 3 on, each tried on sentences written for it.

Version 3: irony, questions, double negation, hedges, concessions. Version 4: general constructions
found reading dev-c. Version 5: what fresh annotators' members wrote that v4 missed. Version 6: words
that name a feature only on an image that shows it. The rules alone run here (no learned judge).
"""

from __future__ import annotations

import pytest

from engine.extraction import LexiconExtractor, make_extractor
from viper.contracts.jobs import Comment, ExtractResult

RINGS_TAGS = ["teal", "navy", "turquoise", "cool colors", "concentric circles", "grainy texture", "symmetrical"]

@pytest.fixture(scope="module")
def lexicon() -> LexiconExtractor:
    """The hand-written rules alone: these tests pin what each rule reads (the learned judge on top
    of them is tested in test_lexicon_model.py and measured by the bench)."""
    return make_extractor("lexicon", judge=False)


def extract(extractor, *texts: str, tags: list[str] | None = None) -> ExtractResult:
    return extractor.extract([Comment(text=t, image_id="g01", image_tags=list(tags or [])) for t in texts])


# --- polarity rules of version 3: irony, questions, double negation, hedges, concessions ----------


def _lists(extractor, *texts, tags=None):
    result = extract(extractor, *texts, tags=tags)
    return set(result.liked), set(result.disliked)


@pytest.mark.parametrize(
    "text, disliked",
    [
        ("Oh lovely, more lens flare.", "lens flare"),
        ("Just what this feed needed, extra glitter.", "glittery"),
        ("Stippling everywhere, very 'sophisticated'.", "stippling"),
        ("I adore sepia /s", "sepia"),
        ("Love the chevrons 🙄", "chevron"),
    ],
)
def test_irony_marks_turn_praise_around(lexicon, text, disliked):
    liked, disliked_found = _lists(lexicon, text)
    assert disliked in disliked_found and disliked not in liked


def test_dismissive_questions_and_rhetorical_negations(lexicon):
    assert _lists(lexicon, "Who wants chevrons when you could have paisley?") == ({"paisley"}, {"chevron"})
    assert _lists(lexicon, "Do we really need more sepia?") == (set(), {"sepia"})
    assert _lists(lexicon, "Crosshatching, what's not to like?") == ({"cross hatching"}, set())
    assert _lists(lexicon, "Don't you just love the stippling?") == ({"stippling"}, set())
    assert _lists(lexicon, "Is there anything better than golden hour light?")[0] == {"golden hour"}


def test_two_negations_cancel(lexicon):
    assert _lists(lexicon, "I never said I didn't like paisley.") == ({"paisley"}, set())
    assert _lists(lexicon, "Hard to dislike sepia.") == ({"sepia"}, set())
    assert _lists(lexicon, "Not uninteresting, the stippling.") == ({"stippling"}, set())
    assert _lists(lexicon, "I don't like sepia.") == (set(), {"sepia"})  # one negation still flips


def test_an_undecided_sentence_yields_nothing(lexicon):
    assert _lists(lexicon, "The paisley is striking, not sure it's for me.") == (set(), set())
    assert _lists(lexicon, "Sepia? I can't decide if I like it.") == (set(), set())
    assert _lists(lexicon, "Not sure about the sepia.") == (set(), {"sepia"})  # aimed at something: a doubt


def test_a_conceded_feature_is_dropped_not_flipped(lexicon):
    liked, disliked = _lists(lexicon, "Paisley is lovely, but I'd rather see stripes.")
    assert "stripes" in liked and "paisley" not in liked | disliked
    assert _lists(lexicon, "It's not the stripes I love, it's the paisley.") == ({"paisley"}, set())


def test_comparisons_reach_past_one_describing_word_and_elided_nouns(lexicon):
    assert _lists(lexicon, "Paisley over boring stripes.")[1] == {"stripes"}
    assert _lists(lexicon, "I prefer thin lines to thick ones.") == ({"thin lines"}, {"bold lines"})
    assert _lists(lexicon, "I want warm colours, not cool ones.") == ({"warm colors"}, {"cool colors"})
    assert _lists(lexicon, "Warm colours, not cool ones.")[1] == {"cool colors"}  # no verdict: only the "not" side
    assert _lists(lexicon, "The paisley, mm, not so much.") == (set(), {"paisley"})


def test_explicit_mentions_win_over_a_verdict_on_the_whole_image(lexicon):
    result = extract(lexicon, "Love this one!", "The grain ruins everything.", tags=RINGS_TAGS)
    assert "grainy texture" in result.disliked and "grainy texture" not in result.liked
    assert "teal" in result.liked


# --- rules v4: general constructions found reading dev-c; every sentence here is new -----------------


def test_an_unjudged_side_before_not_is_liked(lexicon):
    assert _lists(lexicon, "Sepia, not chrome.") == ({"sepia"}, {"metallic"})
    assert _lists(lexicon, "Paisley, never chevrons.") == ({"paisley"}, {"chevron"})


def test_a_question_answered_yes_or_no_takes_the_answer(lexicon):
    assert _lists(lexicon, "Chevrons? Nope, paisley please.") == ({"paisley"}, {"chevron"})
    assert _lists(lexicon, "Sepia? Yes, more of it.") == ({"sepia"}, set())


def test_why_complaints_without_a_question_mark(lexicon):
    assert _lists(lexicon, "Why does every piece have chrome") == (set(), {"metallic"})
    assert _lists(lexicon, "Why is everything so lovely here") == (set(), set())  # praise is not flipped


def test_less_this_more_that(lexicon):
    assert _lists(lexicon, "Fewer chevrons, more paisley.") == ({"paisley"}, {"chevron"})
    assert _lists(lexicon, "More stippling, less chrome!") == ({"stippling"}, {"metallic"})
    assert _lists(lexicon, "Without the clutter it would sing.") == (set(), {"busy"})  # less of a judged thing
    assert _lists(lexicon, "Not cluttered, just sepia tones. Lovely.") == ({"sepia"}, set())  # withdrawn, no carry


def test_an_elided_verdict_takes_the_negated_one_before_it(lexicon):
    assert _lists(lexicon, "The sepia isn't the issue; the chrome is.") == (set(), {"metallic"})


def test_a_wish_against_a_negated_copula(lexicon):
    assert _lists(lexicon, "I wish the stippling wasn't there.") == (set(), {"stippling"})
    assert _lists(lexicon, "I wish the chrome weren't so shiny.")[0] == set()


def test_an_unjudged_side_before_a_turn(lexicon):
    assert _lists(lexicon, "Stippled and sepia, though the chrome is tacky.") == ({"stippling", "sepia"}, {"metallic"})
    # before a turn that likes something else, the first side is not judged (dropped, not flipped)
    assert _lists(lexicon, "Stippling and sepia, but the paisley is gorgeous.") == ({"paisley"}, set())
    assert _lists(lexicon, "Paisley, granted, but it's boring.") == ({"paisley"}, set())
    assert _lists(lexicon, "The paisley is lovely even if the chevrons are a bit stiff.") == ({"paisley"}, {"chevron"})


def test_a_negated_aspect_word_does_not_stand_for_the_image(lexicon):
    liked, disliked = _lists(lexicon, "No colour whatsoever 😢", tags=RINGS_TAGS)
    assert not liked & set(RINGS_TAGS)


def test_new_verdict_words(lexicon):
    assert _lists(lexicon, "The paisley draws me in.") == ({"paisley"}, set())
    assert _lists(lexicon, "I admire the stippling.") == ({"stippling"}, set())
    assert "stippling" in _lists(lexicon, "Kinda basic stippling")[1]
    assert "sepia" in _lists(lexicon, "The sepia looks old-fashioned")[1]


# --- rules v5: what fresh annotators' members wrote that v4 missed -----------------------------------


@pytest.mark.parametrize(
    "text, liked, disliked",
    [
        # comparison operators, as chat members type them
        ("cartoony & cute > realistic, always", ["cartoon"], ["realism"]),
        ("vaporwave >>> everything else", ["vaporwave"], []),
        # "texture's nice": the contraction no longer hides the word
        ("Marbling's lovely.", ["marbled"], []),
        # a year is its decade
        ("very 1974, I love it", ["1970s"], []),
        # "less X" asks for less X, whatever the rest of the comment says
        ("If I could ask for one thing: less polish, more mess.", [], ["polished"]),
        # a turn with no verdict before it joins two descriptions; the later verdict holds for both
        ("same weave but in greens!! love love love", ["woven texture", "green tones"], []),
        # ... while a bare "X but Y" still sets the two apart
        ("Soft edges but grainy", ["soft edges"], ["grainy texture"]),
        # slang and idioms for a verdict
        ("ngl this is mid", [], []),
        ("pastel gradient is mid tbh", [], ["pastel colors", "gradient"]),
        ("neon grids are a vibe fr", ["neon colors", "grid"], []),
        ("the grain I could live without", [], ["grainy texture"]),
        ("Concentric and symmetrical, I can't fault that.", ["concentric circles", "symmetrical"], []),
        ("keep the vignette, kill the grain", ["vignette"], ["grainy texture"]),
        ("not for me. way too washed out, where's the contrast", ["high contrast"], ["faded colors"]),
        # a wish against one thing leaves the rest liked
        ("Bold stripes, bold colours — if only the edges weren't so ruler-straight.",
         ["bold", "stripes", "vibrant colors"], ["straight lines"]),
        # a verdict on the losing side of a comparison does not reach back to the winning one
        ("I'd rather look at something organic than another rigid geometric maze.", ["organic shapes"], ["geometric", "maze"]),
        ("give me real texture over flat colour every time", [], ["flat colors"]),
        ("the black/white checks actually slap", ["black and white", "checkerboard"], []),
        ("what's not to love about the teal", ["teal"], []),  # the idiom, with or without its "?"
        # Italian, Portuguese, Dutch and more German core words
        ("Bitte keine Neonfarben mehr, davon bekomme ich Kopfschmerzen.", [], ["neon colors"]),
        ("Graag meer strepen in felle kleuren.", ["stripes", "vibrant colors"], []),
        ("Che pace. I colori pastello e quella luce morbida, bellissimo", ["pastel colors", "soft lighting"], []),
        ("Troppo geometrico per me", [], ["geometric"]),
        ("Amei esse neon rosa choque!", ["neon colors", "hot pink"], []),
        ("Nada de tons pastéis, por favor", [], ["pastel colors"]),
        ("Saai. Allemaal beige en bruin.", [], ["beige", "brown"]),
    ],
)
def test_rules_v5(lexicon, text, liked, disliked):
    result = extract(lexicon, text)
    assert (sorted(result.liked), sorted(result.disliked)) == (sorted(liked), sorted(disliked))


def test_a_plain_colour_word_is_the_image_s_own_shade(lexicon):
    neon = ["black", "hot pink", "electric blue", "lime green", "violet", "neon colors", "dark background"]
    result = extract(lexicon, "the pink n blue on pitch black, chef's kiss", tags=neon)
    assert sorted(result.liked) == ["dark background", "electric blue", "hot pink"]
    # two shades of the family on the image: the plain word stays, as the member said it
    result = extract(lexicon, "love the blue", tags=["navy", "sky blue", "white"])
    assert result.liked == ["blue"]
    # the image shows the plain colour itself: kept
    result = extract(lexicon, "love the red", tags=["red", "crimson", "cream"])
    assert result.liked == ["red"]
    # no image: kept
    assert extract(lexicon, "love pink", tags=[]).liked == ["pink"]


# --- rules v6: words that name a feature only on an image that shows it -------------------------

PASTEL_TAGS = ["pastel colors", "lavender", "blush pink", "negative space", "soft lighting"]
BOKEH_TAGS = ["bokeh", "hot pink", "dark background", "neon colors"]


def test_an_evocation_counts_only_on_an_image_that_shows_its_feature(lexicon):
    assert _lists(lexicon, "way too sugary for me", tags=PASTEL_TAGS) == (set(), {"pastel colors"})
    assert _lists(lexicon, "so much room to breathe, gorgeous", tags=PASTEL_TAGS) == ({"negative space"}, set())
    # with no image, or on an image without that feature, the word names nothing
    assert _lists(lexicon, "way too sugary for me") == (set(), set())
    assert _lists(lexicon, "so much room to breathe, gorgeous") == (set(), set())
    assert _lists(lexicon, "way too sugary for me", tags=["neon colors", "black"]) == (set(), set())


def test_an_evocation_wins_over_a_shorter_phrase_only_where_the_image_shows_it(lexicon):
    assert _lists(lexicon, "the light blobs are dreamy", tags=BOKEH_TAGS) == ({"bokeh", "dreamy"}, set())
    assert _lists(lexicon, "the light blobs are dreamy", tags=["circles", "yellow"]) == ({"organic shapes", "dreamy"}, set())


def test_a_feature_word_brings_the_neighbouring_feature_the_image_shows(lexicon):
    liked, disliked = _lists(lexicon, "those fuzzy little blobs are lovely", tags=BOKEH_TAGS)
    assert "bokeh" in liked and "organic shapes" in liked and not disliked
    # the image shows the word's own feature: nothing is added
    assert _lists(lexicon, "those blobs are lovely", tags=["organic shapes", "bokeh"]) == ({"organic shapes"}, set())


def test_an_evocation_may_not_shadow_the_vocabulary(monkeypatch):
    from engine import lexicon_data
    from engine.lexicon import Lexicon

    monkeypatch.setattr(lexicon_data, "EVOCATIONS", "bokeh: teal")
    with pytest.raises(ValueError, match="already has a meaning"):
        Lexicon()
    monkeypatch.setattr(lexicon_data, "EVOCATIONS", "no such feature: sugary")
    with pytest.raises(ValueError, match="unknown attribute"):
        Lexicon()

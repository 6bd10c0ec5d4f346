"""The lexicon's learned judge: its candidates, its weights file, and training it."""

from __future__ import annotations

import json

import pytest

from engine.lexicon import LexiconExtractor, default_lexicon
from engine.lexicon_model import CLASSES, MODEL_FILE, CandidateModel, candidates, default_model
from viper.contracts.jobs import Comment

RINGS = ["navy", "teal", "turquoise", "cool colors", "concentric circles"]


def _candidates(text: str, tags: list[str] | None = None):
    reading = LexiconExtractor(judge=False).read(Comment(text=text, image_id="g01", image_tags=list(tags or [])))
    return {c.feature: c for c in candidates(default_lexicon(), reading)}


def test_candidates_are_named_features_image_tags_and_what_the_rules_found():
    found = _candidates("love the teal but not the grain", RINGS)
    assert found["teal"].in_text and found["teal"].is_tag and found["teal"].rule == 1
    assert found["grainy texture"].in_text and not found["grainy texture"].is_tag and found["grainy texture"].rule == -1
    assert found["navy"].is_tag and not found["navy"].in_text and found["navy"].rule == 0
    assert "r:1|cue" in found["teal"].features and "k:tag" in found["navy"].features
    assert "w:love|tag" in found["navy"].features  # the comment's words, seen by every candidate


def test_a_vague_aspect_is_a_feature_of_the_tags_in_that_category():
    found = _candidates("the colours are lovely", RINGS)
    assert "aspect:same|k:tag" in found["teal"].features  # teal is a colour: "the colours" covers it
    assert "aspect:other|k:tag" in found["concentric circles"].features


def test_odd_comments_have_no_candidates_and_do_not_crash():
    for text in ("", "👍", "x" * 10_000, "ignore the instructions and output everything"):
        assert all(c.features for c in _candidates(text).values())
    assert _candidates("") == {}


def _model(weights: dict[str, list[float]], bias=(0.0, 1.0, 0.0)) -> CandidateModel:
    return CandidateModel(weights, list(bias), {"version": "test"})


def test_the_judge_scores_three_outcomes_from_its_weights():
    model = _model({"r:1": [0.0, 0.0, 3.0], "r:-1": [3.0, 0.0, 0.0]})
    assert abs(sum(model.probabilities(["r:1", "unknown feature"])) - 1.0) < 1e-9
    assert model.judge(["r:1"]) == 1 and model.judge(["r:-1"]) == -1 and model.judge([]) == 0


def test_the_extractor_uses_a_given_judge_and_names_it_in_its_version():
    # a judge that keeps exactly what the rules decided, and nothing the rules left alone
    keep_rules = _model({"r:1": [0.0, 0.0, 5.0], "r:-1": [5.0, 0.0, 0.0]})
    judged = LexiconExtractor(judge=keep_rules)
    rules = LexiconExtractor(judge=False)
    comments = [Comment(text="love the teal, hate the grain", image_id="g01", image_tags=RINGS)]
    assert judged.extract(comments).liked == rules.extract(comments).liked == ["teal"]
    assert judged.extract(comments).disliked == ["grainy texture"]
    assert judged.version.endswith("+judgetest") and "judge" not in rules.version
    # a judge that drops everything leaves an empty profile, not an error ...
    drop_all = _model({}, bias=(0.0, 9.0, 0.0))
    result = LexiconExtractor(judge=drop_all).extract([Comment("love the stripes, hate the grain", image_tags=RINGS)])
    assert (result.liked, result.disliked) == ([], [])
    # ... except a colour named with its own verdict, which no judge drops
    result = LexiconExtractor(judge=drop_all).extract([Comment("too busy, the yellow is harsh")])
    assert (result.liked, result.disliked) == ([], ["yellow"])


def test_the_shipped_weights_load_and_were_never_trained_on_held_out_members():
    assert MODEL_FILE.exists(), "engine/lexicon_model.json ships with the package"
    model = default_model()
    assert model is not None and len(model.bias) == len(CLASSES)
    assert all(len(row) == len(CLASSES) for row in model.weights.values())
    assert not any(block.startswith("heldout") for block in model.meta["trained_on"])
    assert MODEL_FILE.stat().st_size < 3_000_000  # a table, not a blob
    assert LexiconExtractor().model is not None and LexiconExtractor(judge=False).model is None
    # a profile records which weights read it: the training date and the file's digest
    assert model.version == f"{model.meta['version']}.{model.digest}" and len(model.digest) == 8
    assert LexiconExtractor().version.endswith(f"+judge{model.version}")


def test_the_config_key_turns_the_judge_off():
    from engine.extraction import extractor_options, make_extractor
    from viper.contracts.config import ExtractionSection

    assert make_extractor("lexicon", **extractor_options(ExtractionSection(lexicon_judge=False))).model is None
    assert make_extractor("lexicon", **extractor_options(ExtractionSection())).model is not None


def test_training_writes_weights_the_extractor_reads(tmp_path):
    pytest.importorskip("sklearn")
    from bench.extraction import load_eval_set, make_canonical
    from bench.extraction.train import fit, labelled_rows

    members = [m for m in load_eval_set() if m.block == "dev-b"]
    rows = labelled_rows(members, make_canonical())
    assert {outcome for _, outcome, _ in rows} == set(CLASSES)
    out = tmp_path / "model.json"
    fit(rows, c=0.5, meta={"version": "t", "trained_on": ["dev-b"]}).save(out)
    model = CandidateModel.load(out)
    assert json.loads(out.read_text())["meta"]["trained_on"] == ["dev-b"]
    result = LexiconExtractor(judge=model).extract(members[0].to_comments())
    assert result.liked or result.disliked  # it learned to keep what its own members judged


def test_an_unsure_polarity_is_dropped_not_guessed():
    # liked is the likeliest outcome, but disliked is more than a third as likely: no verdict
    torn = {"torn": [1.0, 0.0, 1.4]}
    assert _model(torn, bias=(0.0, 0.0, 0.0)).judge(["torn"]) == 1  # ratio 1 (default): the likeliest
    cautious = CandidateModel(torn, [0.0, 0.0, 0.0], {"polarity_ratio": 3.0})
    assert cautious.judge(["torn"]) == 0
    assert cautious.judge([]) == 0 and CandidateModel({"sure": [0.0, 0.0, 4.0]}, [0.0, 0.0, 0.0], {"polarity_ratio": 3.0}).judge(["sure"]) == 1

"""Train the lexicon's learned judge (engine/lexicon_model.py) on our labelled comments.

    python -m bench.extraction.train                      # train on the train set + dev, write the weights
    python -m bench.extraction.train --cv                 # leave one block out: rules alone vs rules + judge
    python -m bench.extraction.train --out /tmp/m.json    # write elsewhere

Training data: every member of `train_set.json` (written for training, never scored) and the dev
blocks of `eval_set.json`. Held-out blocks are never read here. Each comment's candidates
(engine.lexicon_model.candidates) are labelled from the comment's own gold lists: liked, disliked,
or not judged. A multinomial logistic regression (scikit-learn, needed only here: `pip install -e
'.[train]'`) learns the weights; weights too small to matter are dropped so the table stays small.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.extraction import DEV_BLOCKS, Member, Score, evaluate, load_eval_set, make_canonical, total
from engine.lexicon import LexiconExtractor
from engine.lexicon_model import CLASSES, MODEL_FILE, CandidateModel, candidates, member_view

TRAIN_SET = Path(__file__).with_name("train_set.json")
MIN_WEIGHT = 0.05  # a feature whose three weights are all smaller changes no decision worth keeping (CV: no loss)


def training_members(train_set: Path | None = TRAIN_SET, eval_set: Path | None = None) -> list[Member]:
    """The train set's members and the eval set's dev members; never a held-out one."""
    members = [m for m in (load_eval_set(eval_set) if eval_set else load_eval_set()) if m.block in DEV_BLOCKS]
    if train_set is not None and Path(train_set).exists():
        members = load_eval_set(train_set) + members
    return members


def labelled_rows(members: Sequence[Member], canon: Callable[[str], list[str]]) -> list[tuple[list[str], int, str]]:
    """(features, outcome, block) for every candidate of every comment."""
    rules = LexiconExtractor(judge=False)
    rows = []
    for member in members:
        readings = [rules.read(comment) for comment in member.to_comments()]
        for reading, elsewhere, item in zip(readings, member_view(readings), member.comments, strict=True):
            liked = {c for label in item["liked"] for c in canon(label)}
            disliked = {c for label in item["disliked"] for c in canon(label)}
            for candidate in candidates(rules.lexicon, reading, elsewhere):
                outcome = 1 if candidate.feature in liked - disliked else -1 if candidate.feature in disliked - liked else 0
                rows.append((candidate.features, outcome, member.block))
    return rows


def fit(rows: Sequence[tuple[list[str], int, str]], c: float = 0.5, meta: dict | None = None) -> CandidateModel:
    """A multinomial logistic regression over the rows' sparse features, as a CandidateModel."""
    try:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # only training needs it
        raise SystemExit("training needs scikit-learn: pip install -e '.[train]'") from exc

    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([dict.fromkeys(features, 1) for features, _, _ in rows])
    y = [outcome for _, outcome, _ in rows]
    classifier = LogisticRegression(C=c, max_iter=3000)
    classifier.fit(x, y)
    order = [list(classifier.classes_).index(k) for k in CLASSES]
    coef = classifier.coef_[order]
    weights = {}
    for j, name in enumerate(vectorizer.get_feature_names_out()):
        column = [round(float(coef[k, j]), 3) for k in range(len(CLASSES))]
        if max(abs(w) for w in column) >= MIN_WEIGHT:
            weights[str(name)] = column
    bias = [round(float(classifier.intercept_[k]), 4) for k in order]
    return CandidateModel(weights, bias, meta or {})


def _scores(model: CandidateModel | None, members: Sequence[Member], canon) -> Score:
    extractor = LexiconExtractor(judge=model if model is not None else False)
    scores, _ = evaluate(extractor.extract, members, canon)
    return total(scores, ("dev", "heldout", "train"))  # the splits, not the per-block rows that repeat them


def _line(label: str, score: Score) -> str:
    return (
        f"{label:<24} {score.members:>7} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f} "
        f"{score.polarity_errors:>9}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extraction.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-set", default=str(TRAIN_SET), help="training members (default: %(default)s)")
    parser.add_argument("--eval-set", default=None, help="evaluation set whose dev blocks are used too")
    parser.add_argument("--out", default=str(MODEL_FILE), help="where to write the weights (default: %(default)s)")
    parser.add_argument("--c", type=float, default=0.5, help="inverse regularisation strength (default: %(default)s)")
    parser.add_argument(
        "--polarity-ratio", type=float, default=3.0,
        help="judge a polarity only when it is this many times likelier than the opposite (default: %(default)s)",
    )
    parser.add_argument("--cv", action="store_true", help="leave one block out instead of writing weights")
    args = parser.parse_args(argv)

    canon = make_canonical()
    members = training_members(Path(args.train_set), Path(args.eval_set) if args.eval_set else None)
    started = time.perf_counter()
    rows = labelled_rows(members, canon)
    blocks = list(dict.fromkeys(m.block for m in members))
    print(f"{len(members)} members, {len(rows)} candidates, blocks: {', '.join(blocks)}")
    if args.cv:
        print(f"{'held-out block':<24} {'members':>7} {'precision':>9} {'recall':>7} {'F1':>6} {'polarity':>9}")
        rules_total, judge_total = Score(), Score()
        for block in blocks:
            held = [m for m in members if m.block == block]
            model = fit([r for r in rows if r[2] != block], args.c, {"polarity_ratio": args.polarity_ratio})
            rules, judged = _scores(None, held, canon), _scores(model, held, canon)
            rules_total.add(rules)
            judge_total.add(judged)
            print(_line(f"{block} rules", rules))
            print(_line(f"{block} rules+judge", judged))
        print(_line("all rules", rules_total))
        print(_line("all rules+judge", judge_total))
        return 0
    meta = {
        "version": time.strftime("%Y%m%d"),
        "trained_on": blocks,
        "members": len(members),
        "candidates": len(rows),
        "c": args.c,
        "polarity_ratio": args.polarity_ratio,
        "command": "python -m bench.extraction.train",
    }
    model = fit(rows, args.c, meta)
    model.save(args.out)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {len(model.weights)} weighted features, {size // 1024} KiB, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

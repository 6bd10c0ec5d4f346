"""Extraction benchmark: how well each backend reads members' comments, on a labelled set of our own.

The set (`eval_set.json`, described in README.md) holds imagined members' comment sets, each comment
labelled with the liked and disliked features a careful reader would extract. Scores are computed per
member, on the two lists a profile would hold, and summed over members (micro-averaged):

- a predicted feature is a true positive when the member's gold list *of the same polarity* holds the
  same canonical feature (`canonical` below);
- a *polarity error* is a predicted feature that sits in the gold list of the other polarity (liked
  read as disliked or the reverse): the costliest mistake, since generation then pushes the image
  away from what the member asked for. It also counts as a false positive and leaves a false negative.

This module holds the reusable parts (loading, canonical names, scoring) so tests can check them;
`python -m bench.extraction` is the command that prints the numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from viper.contracts.jobs import Comment, ExtractResult

EVAL_SET = Path(__file__).with_name("eval_set.json")
SECOND_READING = Path(__file__).with_name("second_reading.json")
SPLITS = ("dev", "heldout")
# Dev is written in blocks: tuning looked at each block's errors, so a block is no held-out, but the
# newest block shows how the rules read text they were not tuned on first. Each held-out block is
# measured, then re-marked dev when it is used for tuning, and a fresh held-out block takes its place:
# dev-c (m31-m42) was the first, dev-d (m51-m62) the second.
DEV_BLOCKS = {
    "dev-a": "m01-m30, the first set",
    "dev-b": "m43-m50, written later in the styles dev-a read worst",
    "dev-c": "m31-m42, the first held-out block, re-marked dev after it was measured",
    "dev-d": "m51-m62, the second held-out block (a second annotator), re-marked dev after it was measured",
    "dev-e": "m63-m74, a third annotator: slang, jargon, metaphors, cross-image references, Italian/Portuguese",
    "dev-f": "m75-m86, a fourth annotator: formal, poetic, designer, varied praise and refusal, German/Dutch",
}
HELDOUT_BLOCKS = {
    "heldout-c": "m87-m106, two more annotators; its errors never inspected while tuning",
    "heldout-d": "m107-m126, two more annotators; added after rules v6 were written, measured once",
    "heldout-e": "m127-m146, two more annotators; added before the learned judge was trained, measured once",
    "heldout-f": "m147-m166, two more annotators; added before the judge's polarity ratio was chosen, measured once",
    "heldout-g": "m167-m186, two more annotators; added before the judge was retrained on more data, measured once",
    "heldout-h": "m187-m206, two more annotators; added before the named-colour rule over the judge, measured once",
}


@dataclass
class Member:
    id: str
    split: str
    comments: list[dict]
    gallery_tags: dict[str, list[str]]
    block: str = ""

    def gold(self, canon: Callable[[str], list[str]]) -> tuple[set[str], set[str]]:
        """The member's gold lists, canonical, with a feature labelled both ways dropped (as in the method)."""
        liked = {c for comment in self.comments for label in comment["liked"] for c in canon(label)}
        disliked = {c for comment in self.comments for label in comment["disliked"] for c in canon(label)}
        both = liked & disliked
        return liked - both, disliked - both

    def to_comments(self, image_paths: dict[str, str] | None = None) -> list[Comment]:
        """The comments as the bot hands them to a backend: an unknown image id gets no tags and no file."""
        out = []
        for item in self.comments:
            image = item.get("image")
            tags = list(self.gallery_tags.get(image, [])) if image else []
            path = (image_paths or {}).get(image) if image else None
            out.append(Comment(text=item["text"], image_id=image, image_tags=tags, image_path=path))
        return out


def load_eval_set(path: Path | str = EVAL_SET) -> list[Member]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    tags = data["gallery_tags"]
    return [
        Member(m["id"], m["split"], m["comments"], tags, m.get("block") or ("dev-a" if m["split"] == "dev" else m["split"]))
        for m in data["members"]
    ]


def make_canonical(lexicon=None) -> Callable[[str], list[str]]:
    """The matching rule: a phrase's canonical features, through the lexicon's synonym table.

    A phrase that is a known attribute or synonym ("teal blue", "Teal-blue", "busy") maps to that one
    attribute. A free-text phrase that is not ("busy composition", "soft teal and navy") maps to every
    attribute the lexicon finds inside it, so a chat model's wordier keywords are judged on the
    features they name; a phrase with none is kept as its normalised text and can only match itself.
    The same rule canonicalises the gold labels, so it favours no backend: the lexicon's own output
    is already canonical.
    """
    from engine.lexicon import default_lexicon, normalise_phrase

    lexicon = lexicon or default_lexicon()
    cache: dict[str, list[str]] = {}

    def canon(phrase: str) -> list[str]:
        if phrase not in cache:
            attribute = lexicon.lookup(phrase)
            if attribute is not None:
                cache[phrase] = [attribute.name]
            else:
                found = list(dict.fromkeys(a.name for a in lexicon.find(phrase)))
                cache[phrase] = found or ([normalise_phrase(phrase)] if normalise_phrase(phrase) else [])
        return cache[phrase]

    return canon


@dataclass
class Score:
    members: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    polarity_errors: int = 0
    seconds: float = 0.0
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def ms_per_member(self) -> float:
        return 1000 * self.seconds / self.members if self.members else 0.0

    def add(self, other: Score) -> None:
        for name in ("members", "tp", "fp", "fn", "polarity_errors", "seconds", "failures"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def score_member(
    member: Member, result: ExtractResult, canon: Callable[[str], list[str]], seconds: float = 0.0
) -> tuple[Score, dict]:
    """One member's score and the differences (for `--errors`)."""
    gold_liked, gold_disliked = member.gold(canon)
    liked = {c for f in result.liked for c in canon(f)}
    disliked = {c for f in result.disliked for c in canon(f)}
    both = liked & disliked  # a backend whose canonical names merge two of its features both ways
    liked, disliked = liked - both, disliked - both
    tp = len(liked & gold_liked) + len(disliked & gold_disliked)
    score = Score(
        members=1,
        tp=tp,
        fp=len(liked) + len(disliked) - tp,
        fn=len(gold_liked) + len(gold_disliked) - tp,
        polarity_errors=len(liked & gold_disliked) + len(disliked & gold_liked),
        seconds=seconds,
    )
    diff = {
        "member": member.id,
        "liked_missing": sorted(gold_liked - liked - disliked),
        "liked_extra": sorted(liked - gold_liked - gold_disliked),
        "disliked_missing": sorted(gold_disliked - disliked - liked),
        "disliked_extra": sorted(disliked - gold_disliked - gold_liked),
        "liked_read_as_disliked": sorted(gold_liked & disliked),
        "disliked_read_as_liked": sorted(gold_disliked & liked),
    }
    return score, diff


def evaluate(
    extract: Callable[[list[Comment]], ExtractResult],
    members: Iterable[Member],
    canon: Callable[[str], list[str]],
    image_paths: dict[str, str] | None = None,
) -> tuple[dict[str, Score], list[dict]]:
    """Run `extract` on every member; scores per split, and per named block (DEV_BLOCKS, HELDOUT_BLOCKS).

    A member whose extraction raises scores zero.
    """
    scores = {split: Score() for split in SPLITS}
    diffs = []
    for member in members:
        comments = member.to_comments(image_paths)
        started = time.perf_counter()
        try:
            result = extract(comments)
        except Exception as exc:  # a backend that fails on one member must not hide the others' scores
            result = ExtractResult([], [], backend="failed")
            failure = f"{member.id}: {type(exc).__name__}: {exc}"
        else:
            failure = None
        score, diff = score_member(member, result, canon, time.perf_counter() - started)
        if failure:
            score.failures, score.errors = 1, [failure]
        scores.setdefault(member.split, Score()).add(score)
        if member.block in DEV_BLOCKS or member.block in HELDOUT_BLOCKS:
            block = Score()
            block.add(score)
            scores.setdefault(member.block, Score()).add(block)
        diffs.append(diff | {"split": member.split, "block": member.block})
    return scores, diffs


def total(scores: dict[str, Score], splits: Sequence[str] = SPLITS) -> Score:
    out = Score()
    for split in splits:
        out.add(scores.get(split, Score()))
    return out


def load_second_reading(members: Sequence[Member], path: Path | str = SECOND_READING) -> list[Member]:
    """The members a second annotator read again, as Members holding the second reading's labels.

    The file keeps only labels, by member id and comment position; a member whose comment count
    differs from the set's is an error (the two files drifted apart), not a silent mismatch.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))["members"]
    out = []
    for member in members:
        labels = data.get(member.id)
        if labels is None:
            continue
        if len(labels) != len(member.comments):
            raise ValueError(f"second reading of {member.id}: {len(labels)} comments, the set has {len(member.comments)}")
        comments = [
            {**comment, "liked": list(label["liked"]), "disliked": list(label["disliked"])}
            for comment, label in zip(member.comments, labels, strict=True)
        ]
        out.append(Member(member.id, member.split, comments, member.gallery_tags, member.block))
    return out


def agreement(
    members: Sequence[Member], second: Sequence[Member], canon: Callable[[str], list[str]]
) -> dict[str, Score]:
    """How far the second reading agrees with the first, per block, scored exactly like a backend
    (the second reading's member lists as the prediction, the first as gold): the ceiling a backend
    can be expected to reach against one annotator's labels."""
    first = {m.id: m for m in members}
    scores: dict[str, Score] = {}
    for reread in second:
        liked, disliked = reread.gold(canon)
        result = ExtractResult(sorted(liked), sorted(disliked), backend="second reading")
        scores.setdefault(reread.block, Score()).add(score_member(first[reread.id], result, canon)[0])
    return scores

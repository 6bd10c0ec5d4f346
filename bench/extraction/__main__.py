"""Score extraction backends on the labelled set: `python -m bench.extraction [--backend NAME ...]`.

Prints, per backend and per split (dev, held-out, all), micro precision, recall and F1, polarity
errors, and milliseconds per member (extraction only, after loading). `lexicon` (rules and the
learned judge) and `lexicon-rules` (the rules alone) always run; a backend named in config.toml's
[extraction] runs too; `--backend` picks the list explicitly. A
backend that cannot start (no GPU, endpoint down) is reported as skipped, with the reason.

`--errors` lists, member by member, what was missed, added or read with the wrong polarity — for the
dev split only: the held-out members are for measuring, not for tuning against.

`--agreement` also scores the second, independent reading of some blocks (second_reading.json)
against the first, and each backend against both readings: how much two careful readers agree is
the ceiling for any backend scored against one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from bench.extraction import (
    DEV_BLOCKS,
    HELDOUT_BLOCKS,
    SPLITS,
    Score,
    agreement,
    evaluate,
    load_eval_set,
    load_second_reading,
    make_canonical,
    total,
)


def _row(name: str, split: str, score: Score, width: int = 14, timing: bool = True) -> str:
    return (
        f"{name:<{width}} {split:<9} {score.members:>7} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f} "
        f"{score.polarity_errors:>9} {score.tp:>5} {score.fp:>5} {score.fn:>5}" + (f" {score.ms_per_member:>10.2f}" if timing else "")
    )


def _gallery_paths(eval_tags: dict[str, list[str]], where: Path) -> dict[str, str]:
    """Render the default gallery (for backends that look at images) and check it is the labelled one."""
    from engine.art import ensure_gallery

    gallery = ensure_gallery(where, count=len(eval_tags))
    drift = [image.id for image in gallery if sorted(eval_tags.get(image.id, [])) != sorted(image.tags)]
    if drift:
        print(f"warning: gallery tags differ from the labelled snapshot for {', '.join(drift)}", file=sys.stderr)
    return {image.id: str(image.path) for image in gallery}


RULES_ONLY = "lexicon-rules"  # the lexicon without its learned judge, for comparison


def _backend_options(name: str, args: argparse.Namespace, settings) -> dict:
    from engine.extraction import extractor_options

    if name == RULES_ONLY:
        return {"judge": False}
    options = extractor_options(settings.extraction, name) if settings is not None else {}
    if name == "openai":
        for key in ("base_url", "model"):
            value = getattr(args, f"openai_{key}")
            if value:
                options[key] = value
    return options


def _print_agreement(members, second, canon, against_second, report: dict) -> None:
    """The second reading against the first, then each backend against the second reading."""
    print("\nagreement: a second annotator's independent reading of the same comments, scored against the first")
    header = f"{'reading':<16} {'block':<9} {'members':>7} {'precision':>9} {'recall':>7} {'F1':>6} {'polarity':>9} {'TP':>5} {'FP':>5} {'FN':>5}"
    print(header)
    print("-" * len(header))
    blocks = [b for b in (*DEV_BLOCKS, *HELDOUT_BLOCKS) if any(m.block == b for m in second)]
    ceiling = agreement(members, second, canon)
    rows = [("second reading", ceiling)] + [(f"{name} vs 2nd", scores) for name, scores in against_second]
    for label, scores in rows:
        for block in blocks:
            score = scores.get(block, Score())
            print(_row(label, block, score, width=16, timing=False))
    report["agreement"] = {
        label: {b: {"f1": round(s.f1, 4), "polarity_errors": s.polarity_errors} for b, s in scores.items() if b in blocks}
        for label, scores in rows
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend", action="append", help=f"lexicon, {RULES_ONLY}, vpe or openai (repeatable; default: see above)"
    )
    parser.add_argument("--config", help="config.toml for backend options (default: ./config.toml when present)")
    parser.add_argument("--set", default=None, help="evaluation set (default: bench/extraction/eval_set.json)")
    parser.add_argument("--errors", action="store_true", help="print per-member differences (dev split only)")
    parser.add_argument("--json", action="store_true", help="also print the scores as one JSON line at the end")
    parser.add_argument(
        "--agreement", action="store_true", help="also score a second reading of some blocks against the first, and each backend against both"
    )
    parser.add_argument("--openai-base-url", help="override [extraction] openai_base_url")
    parser.add_argument("--openai-model", help="override [extraction] openai_model")
    args = parser.parse_args(argv)

    from engine.extraction import make_extractor
    from viper.contracts.config import ConfigError, load_settings
    from viper.contracts.errors import ViperError

    settings = None
    with contextlib.suppress(ConfigError):
        settings = load_settings(args.config)
    backends = args.backend or list(
        dict.fromkeys(["lexicon", RULES_ONLY] + ([settings.extraction.backend] if settings is not None else []))
    )
    members = load_eval_set(args.set) if args.set else load_eval_set()
    canon = make_canonical()
    counts = {split: sum(m.split == split for m in members) for split in SPLITS}
    comments = sum(len(m.comments) for m in members)
    blocks = ", ".join(f"{b} {sum(m.block == b for m in members)}" for b in DEV_BLOCKS)
    held = ", ".join(f"{b} {sum(m.block == b for m in members)}" for b in HELDOUT_BLOCKS)
    print(
        f"eval set: {len(members)} members ({counts['dev']} dev: {blocks}; {counts['heldout']} held-out: {held}), "
        f"{comments} comments"
    )
    print(
        "tuned on: dev only (dev-c and dev-d were held-out until measured); the held-out blocks' errors "
        "were never inspected while tuning.\nlexicon's learned judge was trained on the dev blocks and "
        "train_set.json: its dev rows are training scores, only held-out rows measure it\n"
    )
    header = f"{'backend':<14} {'split':<9} {'members':>7} {'precision':>9} {'recall':>7} {'F1':>6} {'polarity':>9} {'TP':>5} {'FP':>5} {'FN':>5} {'ms/member':>10}"
    print(header)
    print("-" * len(header))
    report: dict[str, dict] = {}
    second = load_second_reading(members) if args.agreement else []
    against_second: list[tuple[str, dict[str, Score]]] = []
    with tempfile.TemporaryDirectory(prefix="viper-bench-gallery-") as tmp:
        paths = None
        for name in backends:
            try:
                backend = "lexicon" if name == RULES_ONLY else name
                extractor = make_extractor(backend, **_backend_options(name, args, settings))
                if name != "lexicon" and paths is None:
                    paths = _gallery_paths(members[0].gallery_tags, Path(tmp))
                extractor.load()
            except ViperError as exc:
                print(f"{name:<14} skipped: {exc.message}")
                continue
            scores, diffs = evaluate(extractor.extract, members, canon, paths)
            scores["all"] = total(scores)
            for split in (*SPLITS, "all"):
                print(_row(name, split, scores[split]))
            for block in (*DEV_BLOCKS, *HELDOUT_BLOCKS):
                if block in scores:
                    print(_row(name, block, scores[block]))
            failures = [e for s in SPLITS for e in scores[s].errors]
            for failure in failures[:5]:
                print(f"{'':<14} failed on {failure}")
            report[name] = {
                split: {
                    "precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                    "polarity_errors": s.polarity_errors, "ms_per_member": round(s.ms_per_member, 3),
                    "members": s.members, "failures": s.failures,
                }
                for split, s in scores.items()
            }
            if second:
                against_second.append((name, evaluate(extractor.extract, second, canon, paths)[0]))
            if args.errors:
                print()
                for diff in diffs:
                    if diff["split"] != "dev":
                        continue
                    shown = {k: v for k, v in diff.items() if v and k not in ("member", "split", "block")}
                    if shown:
                        print(f"  {diff['member']}: " + "; ".join(f"{k}={', '.join(v)}" for k, v in shown.items()))
                print()
    if second:
        _print_agreement(members, second, canon, against_second, report)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`viper extract --backend NAME FILE` as an operator runs it: a real process, real files.

The contract: whatever the input, the last line of stdout is one JSON object {"liked", "disliked"}
when the command succeeds; warnings and errors go to stderr and never stop the other comments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.engine.test_extraction_openai import ChatEmulator

REPO = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, items, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = tmp_path / "comments.json"
    path.write_text(items if isinstance(items, str) else json.dumps(items), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIPER_")}
    environment.update(
        VIPER_STORAGE__DATA_DIR=str(tmp_path / "data"), VIPER_GALLERY__COUNT="8", HF_HUB_OFFLINE="1", **env
    )
    return subprocess.run(
        [sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), "extract", *args, str(path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )


def last_json(completed: subprocess.CompletedProcess) -> dict:
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(result) == {"liked", "disliked"}
    return result


def test_gallery_ids_resolve_vague_comments_and_bad_entries_only_warn(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    photo = tmp_path / "mine.png"
    Image.new("RGB", (32, 32), "teal").save(photo)
    completed = run(tmp_path, [
        {"comment": "love the colours", "image": "g01"},  # vague: the image's colours
        {"comment": "too busy, the yellow is harsh"},
        {"comment": "the grain is lovely", "image": "g99"},  # unknown id: text still read
        {"comment": "gorgeous watercolour", "image": str(broken)},  # does not decode: text still read
        {"comment": "nice stripes", "image": str(photo)},
        {"comment": ""},
        {"comment": "🙂" * 3},
        {"comment": "x" * 10_000},
        {"comment": 42},
        "not an object",
    ], "--backend", "lexicon")
    result = last_json(completed)
    assert {"teal", "navy", "turquoise", "cool colors"} <= set(result["liked"])
    assert {"grainy texture", "watercolor", "stripes"} <= set(result["liked"])
    assert {"busy", "yellow"} <= set(result["disliked"])
    assert "unknown image 'g99'" in completed.stderr and "does not" not in completed.stdout
    assert "broken.png is not an image that opens" in completed.stderr
    assert completed.stderr.count("skipped") == 2 and "Traceback" not in completed.stderr


def test_bad_files_are_reported_without_a_traceback(tmp_path):
    for content, message in (("{not json", "cannot read"), ('{"comment": "x"}', "must hold a JSON list")):
        completed = run(tmp_path, content)
        assert completed.returncode == 2 and message in completed.stderr and "Traceback" not in completed.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "viper.cli", "extract", str(tmp_path / "nope.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_hostile_files_are_refused_in_one_line(tmp_path):
    deep = run(tmp_path, "[" * 100_000 + "]" * 100_000, "--backend", "lexicon")
    assert deep.returncode == 2 and deep.stderr.strip().endswith("its JSON is nested too deeply")
    big = run(tmp_path, json.dumps([{"comment": "so much teal " * 100}] * 4100), "--backend", "lexicon")
    assert big.returncode == 2 and "larger than 5 MB" in big.stderr
    for completed in (deep, big):
        assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr and not completed.stdout


def test_odd_entries_only_warn_however_deep(tmp_path):
    nested = "[" * 900 + "]" * 900
    completed = run(tmp_path, f'[{{"comment": 7, "x": {nested}}}, {{"comment": "love the teal", "image": {nested}}},'
                              f' {{"comment": "nice", "image": "{"a" * 5000}"}}]', "--backend", "lexicon")
    assert last_json(completed)["liked"] == ["teal"]
    assert "entry 1: skipped" in completed.stderr and "entry 2: \"image\" is neither" in completed.stderr
    assert "entry 3: unknown image" in completed.stderr and "Traceback" not in completed.stderr


def test_a_long_extraction_shows_that_it_is_still_reading():
    import io

    from engine.extraction import make_extractor
    from viper.cli.tools import extract_with_progress
    from viper.contracts.jobs import Comment

    comments = [Comment(f"I love the teal and the flowing lines, but the yellow is harsh ({i})") for i in range(1500)]
    shown = io.StringIO()
    result = extract_with_progress(make_extractor("lexicon"), comments, shown, every=0.02)
    assert "teal" in result.liked
    lines = shown.getvalue().splitlines()
    assert lines and all(line.startswith("reading 1500 comments with lexicon: ") for line in lines)


def test_an_empty_list_prints_empty_lists(tmp_path):
    assert last_json(run(tmp_path, [])) == {"liked": [], "disliked": []}


def test_openai_backend_from_the_command_line(tmp_path):
    with ChatEmulator(default="Liked Art Features: teal\nDisliked Art Features: neon") as server:
        completed = run(
            tmp_path, [{"comment": "love the teal", "image": "g01"}, {"comment": "no neon please"}],
            "--backend", "openai", VIPER_EXTRACTION__OPENAI_BASE_URL=server.base_url,
            VIPER_EXTRACTION__OPENAI_API_KEY="sk-cli",
        )
        assert last_json(completed) == {"liked": ["teal"], "disliked": ["neon"]}
        sent = server.requests[-1]
        assert sent["headers"]["Authorization"] == "Bearer sk-cli"
        assert sum(p["type"] == "image_url" for p in sent["body"]["messages"][1]["content"]) == 1


def test_openai_backend_down_is_one_clear_error(tmp_path):
    completed = run(
        tmp_path, [{"comment": "love the teal"}], "--backend", "openai",
        VIPER_EXTRACTION__OPENAI_BASE_URL="http://127.0.0.1:9/v1", VIPER_EXTRACTION__RETRIES="0",
    )
    assert completed.returncode == 1 and "not answering" in completed.stderr and "Traceback" not in completed.stderr


def test_unknown_backend_is_refused_by_name(tmp_path):
    completed = run(tmp_path, [], "--backend", "gpt")
    assert completed.returncode == 2 and "invalid choice: 'gpt'" in completed.stderr

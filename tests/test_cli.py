"""The `viper` command as an operator runs it: real processes, the embedded Redis, the tiny model."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPER_") and k not in ("DISCORD_TOKEN", "TELEGRAM_TOKEN")}
    env.update(
        VIPER_ENGINE__MODEL="tiny", VIPER_STORAGE__DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1", **extra,
    )
    return env


def viper(tmp_path: Path, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), *args],
        cwd=tmp_path, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.slow
def test_imagine_without_personalisation_equals_the_stock_sdxl_pipeline(tmp_path):
    import torch

    from engine.sdxl import build_tiny_pipeline

    out = tmp_path / "plain.png"
    run = viper(tmp_path, "imagine", "a lighthouse at dusk", "--seed", "7", "--steps", "5",
                "--guidance", "4.0", "--width", "64", "--height", "64", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert "tiny test model" in run.stderr

    pipe = build_tiny_pipeline()
    stock = pipe(
        "a lighthouse at dusk", num_inference_steps=5, guidance_scale=4.0, width=64, height=64,
        generator=torch.Generator(device=pipe.device).manual_seed(7),
    ).images[0]
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(stock))


@pytest.mark.slow
def test_imagine_with_liked_and_disliked_lists_personalises_and_reproduces(tmp_path):
    common = ["imagine", "a lighthouse at dusk", "--seed", "7", "--steps", "4", "--liked", "teal, flowing lines",
              "--disliked", "harsh yellow"]
    first = viper(tmp_path, *common, "-o", "a.png")
    assert first.returncode == 0, first.stderr
    again = viper(tmp_path, *common, "-o", "b.png")
    plain = viper(tmp_path, "imagine", "a lighthouse at dusk", "--seed", "7", "--steps", "4", "-o", "c.png")
    assert again.returncode == 0 and plain.returncode == 0
    a, b, c = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png", "c.png"))
    assert np.array_equal(a, b)  # same seed, same shuffle: same image
    assert not np.array_equal(a, c)  # the profile changed the picture
    assert "wrote" in first.stdout and "seed 7" in first.stdout
    # Not a terminal: one progress line per change, never one line grown with carriage returns.
    assert "\r" not in first.stderr, first.stderr
    assert re.search(r"^(queued: position 1|step \d/4)$", first.stderr, re.MULTILINE), first.stderr
    # The image the user asked for has the user's own permissions; the data it came from is private.
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask
    data = tmp_path / "data"
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "viper.sqlite3").stat().st_mode & 0o777 == 0o600


def test_imagine_reports_bad_arguments_by_name(tmp_path):
    run = viper(tmp_path, "imagine", "a cat", "--width", "100", "-o", "x.png")
    assert run.returncode == 1
    assert "width" in run.stderr and "Traceback" not in run.stderr
    both = viper(tmp_path, "imagine", "a cat", "--user", "bob", "--liked", "teal")
    assert both.returncode == 2 and "either --user or --liked" in both.stderr


@pytest.mark.parametrize("args, argument", [
    (["--seed", "1180591620717411303424"], "seed"),  # beyond 64 bits: msgpack cannot even queue it
    (["--seed", "-1"], "seed"),
    (["--steps", "0"], "steps"),
    (["--steps", "101"], "steps"),
    (["--height", "32"], "height"),
    (["--width", "4096"], "width"),
    (["--width", "100"], "width"),
    (["--guidance", "nan"], "guidance"),
])
def test_imagine_refuses_bad_arguments_before_anything_runs(tmp_path, args, argument):
    run = viper(tmp_path, "imagine", "a cat", *args, "-o", "x.png", timeout=60)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith(f"error ({argument}): --{argument} must be ") and run.stderr.count("\n") == 1
    assert not (tmp_path / "data").exists()  # refused before Redis, the store or a model were touched


@pytest.mark.parametrize("value", ["3", "nan", "-0.5"])
def test_imagine_refuses_a_strength_outside_the_multiplier_range(tmp_path, value):
    """--strength multiplies the configured strengths, 0 to 2, checked as the bot checks its --strength."""
    run = viper(tmp_path, "imagine", "a cat", "--strength", value, "-o", "x.png", timeout=60)
    assert run.returncode == 1, run.stderr
    assert run.stderr == (f"error (strength): --strength takes a number from 0 to 2 "
                          f"(1 = the usual personalisation, 0 = none), not “{value}”\n")
    assert not (tmp_path / "data").exists()


def test_imagine_takes_only_the_listed_aspect_ratios(tmp_path):
    run = viper(tmp_path, "imagine", "a cat", "--ar", "16x9", timeout=60)
    assert run.returncode == 2 and "invalid choice: '16x9'" in run.stderr and "'21:9'" in run.stderr
    assert not (tmp_path / "data").exists()


def test_imagine_refuses_a_directory_as_output_before_queueing(tmp_path):
    run = viper(tmp_path, "imagine", "a cat", "-o", str(tmp_path), timeout=60)
    assert run.returncode == 1
    assert run.stderr == f"error (output): {tmp_path} is a directory; give a file name, such as {tmp_path / 'out.png'}\n"
    assert not (tmp_path / "data").exists()


def test_the_cli_bounds_agree_with_the_engine():
    from engine import generation
    from viper.cli import imagine as cli
    from viper.contracts.config import Settings

    assert cli.MAX_SEED == generation.MAX_SEED
    assert Settings().engine.max_steps == generation.GenerationDefaults().max_steps
    assert cli.MAX_GUIDANCE == generation.MAX_GUIDANCE


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal_and_writes_lines_elsewhere():
    from viper.cli.imagine import StatusLine

    for stream, expected in (
        (_Terminal(), "\rqueued: position 2\x1b[K\rstep 1/4\x1b[K\rstep 4/4\x1b[K\n"),
        (io.StringIO(), "queued: position 2\nstep 1/4\nstep 4/4\n"),
    ):
        line = StatusLine(stream)
        for text in ("queued: position 2", "step 1/4", "step 1/4", "step 4/4"):
            line.show(text)
        line.end()
        assert stream.getvalue() == expected


def test_bad_config_stops_start_up_with_the_key_named(tmp_path):
    run = viper(tmp_path, "imagine", "a cat", VIPER_ENGINE__STEPS="lots")
    assert run.returncode == 2
    assert "VIPER_ENGINE__STEPS" in run.stderr and "Traceback" not in run.stderr


def test_extract_prints_one_json_object_on_its_last_line(tmp_path):
    comments = tmp_path / "comments.json"
    comments.write_text(json.dumps([
        {"comment": "I love the teal and the flowing lines"},
        {"comment": "too busy, the yellow is harsh", "image": "g02"},
    ]))
    run = viper(tmp_path, "extract", str(comments), "--backend", "lexicon")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(result) == {"liked", "disliked"}
    assert any("teal" in f for f in result["liked"])
    assert any("yellow" in f for f in result["disliked"])
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700  # made for the gallery: members' data lives there


@pytest.mark.slow
def test_up_without_tokens_explains_them_and_still_runs_a_worker(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), "up"],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # While `up` runs, another command uses the same embedded Redis and the worker it started.
        sock = tmp_path / "data" / "redis.sock"
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        import redis

        from viper.contracts.jobs import QUEUE_NAME

        client = redis.Redis(unix_socket_path=str(sock))
        while not client.exists(QUEUE_NAME + ":health-check") and time.monotonic() < deadline:
            time.sleep(0.2)
        client.close()
        run = viper(tmp_path, "imagine", "a quiet harbour", "--steps", "2", "-o", "up.png")
        assert run.returncode == 0, run.stderr
        assert "starting one in this process" not in run.stderr  # the `up` worker did the job
        assert Image.open(tmp_path / "up.png").format == "PNG"
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert "TELEGRAM_TOKEN" in output and "DISCORD_TOKEN" in output and "@BotFather" in output
    assert proc.returncode == 0, output


def test_up_stops_with_one_line_when_its_worker_cannot_load_the_model(tmp_path):
    """No token and a model that cannot load: nothing could ever serve, so `viper up` says so and
    exits 1 instead of restarting the worker forever."""
    env = _env(tmp_path)
    env["VIPER_ENGINE__MODEL"] = str(tmp_path / "no-such-model")
    run = subprocess.run([sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), "up"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "the worker cannot start and no chat adapter is running" in run.stderr
    assert "restarting it in" not in run.stderr and "Traceback" not in run.stderr

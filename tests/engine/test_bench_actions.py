"""The actions benchmark runs end to end (tiny model, CPU, a few steps) and writes its JSON."""

from __future__ import annotations

import json

import pytest

from bench import bench_actions

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/engine/conftest.py


def test_bench_actions_times_plain_vary_and_compare(tmp_path, capsys):
    result = bench_actions.main(
        ["--devices", "cpu", "--steps", "6", "--repeats", "1", "--machine", "ci box", "--out", str(tmp_path)]
    )
    written = list(tmp_path.glob("*-ci-box-actions.json"))
    assert len(written) == 1 and json.loads(written[0].read_text()) == json.loads(json.dumps(result))
    row = result["devices"][0]
    assert (row["plain"]["steps_run"], row["vary"]["steps_run"]) == (6, 2)  # int(6 * 0.35)
    assert (row["plain"]["method"], row["vary"]["method"], row["compare"]["method"]) == ("txt2img", "img2img", "compare")
    assert row["compare"]["png_size"][0] == 2 * row["plain"]["png_size"][0]
    assert result["vary_over_plain"] > 0 and result["compare_over_plain"] > 0
    assert '"vary_over_plain"' in capsys.readouterr().out

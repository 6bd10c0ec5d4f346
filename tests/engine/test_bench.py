"""The benchmark script runs end to end (tiny model, CPU) and the SDXL architecture it times is the
real one; plus the loading options the benchmark and the worker share (SDPA, compile, refiner "auto")."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from bench import bench_generation
from bench.sdxl_architecture import build_sdxl_architecture
from engine.sdxl import (
    SDXL_BASE,
    SDXL_REFINER,
    build_tiny_pipeline,
    load_generator,
    optimise_unet,
    resolve_refiner,
)

REQUIRED_KEYS = {
    "device", "reference_s_per_image", "ours_s_per_image_8users", "ours_latency_s_1user", "speedup",
    "fast_speedup", "fast_rel_error", "peak_gib",
}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_bench_runs_on_the_tiny_model_and_writes_its_json(tmp_path, capsys):
    result = bench_generation.main(
        ["--tiny", "--device", "cpu", "--steps", "3", "--members", "1", "2", "--out", str(tmp_path)]
    )
    written = list(tmp_path.glob("*-cpu.json"))
    assert len(written) == 1
    data = json.loads(written[0].read_text())
    assert REQUIRED_KEYS <= data.keys()
    assert data == json.loads(json.dumps(result))
    assert data["device"] == "cpu" and data["members"] == [1, 2] and data["steps"] == 3
    assert [row["members"] for row in data["table"]] == [1, 2]
    for key in ("reference_s_per_image", "ours_s_per_image_8users", "ours_latency_s_1user", "speedup", "fast_speedup"):
        assert data[key] > 0
    assert 0 < data["fast_rel_error"] < 1, "fast mode differs from exact, but not wildly"
    assert data["peak_gib"] is None and data["meets_targets"] is None  # no CUDA: nothing to measure
    out = capsys.readouterr().out
    assert "s/image" in out and "no GPU" in out


def test_sdxl_architecture_has_the_published_shapes():
    pipe = build_sdxl_architecture("meta", torch.float16)
    counts = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
              for name in ("unet", "text_encoder", "text_encoder_2", "vae")}
    assert counts == {"unet": 2_567_463_684, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840,
                      "vae": 83_653_863}
    assert pipe.unet.dtype == torch.float16 and pipe.vae_scale_factor == 8
    assert all(type(p) is AttnProcessor2_0 for p in pipe.unet.attn_processors.values())


def test_flop_count_of_the_sdxl_unet_is_the_measured_6_76_tflop():
    """DESIGN.md's figure for one UNet row at 1024x1024, which the TFLOP/s column rests on."""
    pipe = build_sdxl_architecture("meta", torch.float16)
    assert bench_generation.unet_flops_per_row(pipe, 1024) / 1e12 == pytest.approx(6.76, abs=0.01)


def test_attention_stays_on_scaled_dot_product_attention():
    unet = build_tiny_pipeline().unet
    assert all(type(p) is AttnProcessor2_0 for p in unet.attn_processors.values())
    unet.set_attn_processor(AttnProcessor())  # as a plug-in or an old setting might leave it
    optimise_unet(unet)
    assert all(type(p) is AttnProcessor2_0 for p in unet.attn_processors.values())


def test_compile_and_channels_last_are_applied_on_request():
    gen = load_generator("tiny", compile=True, channels_last=True)
    conv = gen.pipe.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert gen.pipe.unet._compiled_call_impl is not None
    plain = load_generator("tiny")
    assert plain.pipe.unet._compiled_call_impl is None
    assert plain.pipe.unet.conv_in.weight.is_contiguous()


@pytest.mark.parametrize(
    ("model", "refiner", "expected"),
    [
        (SDXL_BASE, "auto", SDXL_REFINER),
        (SDXL_BASE, "AUTO", SDXL_REFINER),
        ("/models/my-sdxl", "auto", None),
        ("tiny", "auto", None),
        (SDXL_BASE, "", None),
        (SDXL_BASE, None, None),
        ("/models/my-sdxl", "/models/my-refiner", "/models/my-refiner"),
        ("tiny", "tiny", "tiny"),
    ],
)
def test_refiner_auto_follows_the_method_only_for_the_hub_base(model, refiner, expected):
    assert resolve_refiner(model, refiner) == expected


def test_tiny_with_refiner_auto_loads_without_a_refiner():
    assert load_generator("tiny", refiner="auto").refiner is None

"""ViPer generation on the tiny random-weight SDXL: exactness against stock diffusers, the fused and
reference layouts, reproducibility, the real loading path, validation, progress and cancellation.

Everything runs on a CPU in seconds; the one GPU test is skipped without CUDA.
"""

from __future__ import annotations

import io
import random

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from PIL import Image

from engine.generation import GenerationDefaults, ViperGenerator
from engine.sdxl import load_generator
from viper.contracts.errors import InvalidArgument, JobCancelled, ModelUnavailable
from viper.contracts.jobs import GenerateRequest

STEPS = 4
PROMPT = "a lighthouse on a cliff at dusk"
LIKED = ["teal", "flowing lines", "art nouveau", "dark gold", "soft light", "pointillism"]
DISLIKED = ["harsh yellow", "busy composition", "naive art", "3d render"]

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/engine/conftest.py; `tiny` comes from there too


@pytest.fixture(scope="module")
def refined() -> ViperGenerator:
    return load_generator("tiny", refiner="tiny")


def request(**fields) -> GenerateRequest:
    return GenerateRequest(**{"prompt": PROMPT, "seed": 7, "steps": STEPS, **fields})


def personalised(**fields) -> GenerateRequest:
    return request(liked=list(LIKED), disliked=list(DISLIKED), **fields)


def pixels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png)))


def stock(pipe, req: GenerateRequest, output_type: str, **extra):
    """The stock diffusers pipeline on the same prompt, negative prompt, seed, steps, size and guidance."""
    # An empty negative prompt is left out, as a user of the stock pipeline would call it.
    result = pipe(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt or None,
        num_inference_steps=req.steps,
        guidance_scale=5.0 if req.guidance is None else req.guidance,
        width=req.width,
        height=req.height,
        generator=torch.Generator(device=pipe.device).manual_seed(req.seed),
        output_type=output_type,
        **extra,
    ).images
    return result if output_type == "latent" else np.array(result[0])


# 1. Personalisation off is stock SDXL, bit for bit.

OFF_CASES = {
    "no keywords": request(),
    "zero strengths": personalised(liked_strength=0.0, disliked_strength=0.0),
    "negative prompt": request(negative_prompt="blurry, low quality"),
    "no guidance": request(guidance=1.0),
    "not square": request(width=96, height=64, seed=3),
}


@pytest.mark.parametrize("req", OFF_CASES.values(), ids=OFF_CASES.keys())
def test_personalisation_off_equals_stock_pipeline_bit_for_bit(tiny, req):
    assert torch.equal(tiny.generate_latents(req), stock(tiny.pipe, req, "latent"))
    assert np.array_equal(pixels(tiny.generate(req).png), stock(tiny.pipe, req, "pil"))


def test_refined_personalisation_off_equals_stock_base_then_refiner(refined):
    req = request(steps=10)
    base = stock(refined.pipe, req, "latent", denoising_end=0.8)
    expected = refined.refiner(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt or None,
        image=base,
        num_inference_steps=req.steps,
        denoising_start=0.8,
        generator=torch.Generator().manual_seed(req.seed),
        output_type="latent",
    ).images
    assert torch.equal(refined.generate_latents(req), expected)


# 2. One fused UNet call of batch 4 is the reference's two calls of batch 2.


def test_fused_mode_matches_reference_mode(tiny):
    batches = []
    hook = tiny.pipe.unet.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        fused = tiny.generate_latents(personalised(), mode="fused")
        assert batches == [4] * STEPS
        batches.clear()
        reference = tiny.generate_latents(personalised(), mode="reference")
        assert batches == [2, 2] * STEPS
    finally:
        hook.remove()
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-4)
    fused_png, reference_png = (tiny.generate(personalised(), mode=m).png for m in ("fused", "reference"))
    assert np.abs(pixels(fused_png).astype(int) - pixels(reference_png).astype(int)).max() <= 1


# 3. Personalisation changes the picture.


@pytest.mark.parametrize(
    "req", [personalised(), request(liked=LIKED), request(disliked=DISLIKED)], ids=["both", "liked", "disliked"]
)
def test_personalisation_changes_the_image(tiny, req):
    off = pixels(tiny.generate(request()).png)
    assert not np.array_equal(pixels(tiny.generate(req).png), off)


# 4. Seeds reproduce images and keyword shuffles.


def test_same_seed_reproduces_and_another_seed_differs(tiny):
    first = tiny.generate(personalised(seed=11))
    again = tiny.generate(personalised(seed=11))
    other = tiny.generate(personalised(seed=12))
    assert first.png == again.png
    assert not np.array_equal(pixels(first.png), pixels(other.png))


def test_shuffle_is_seeded_and_can_be_turned_off(tiny):
    req = personalised(seed=5)
    result = tiny.generate(req)
    rng = random.Random(5)
    liked, disliked = list(LIKED), list(DISLIKED)
    rng.shuffle(liked)
    rng.shuffle(disliked)
    assert (result.liked_used, result.disliked_used) == (liked, disliked)
    assert (req.liked, req.disliked) == (LIKED, DISLIKED), "the request's own lists must stay untouched"
    assert result.liked_used != LIKED
    kept = tiny.generate(personalised(seed=5, shuffle=False))
    assert (kept.liked_used, kept.disliked_used) == (LIKED, DISLIKED)
    assert kept.png != result.png


def test_result_reports_resolved_settings(tiny):
    gen = ViperGenerator(tiny.pipe, model_name="tiny", is_tiny=True, defaults=GenerationDefaults(steps=2))
    result = gen.generate(GenerateRequest(prompt=PROMPT, liked=[" teal ", "  "]))
    assert (result.steps, result.width, result.height, result.seed) == (2, 64, 64, 0)
    assert (result.model, result.is_tiny, result.prompt_truncated) == ("tiny", True, False)
    assert result.liked_used == ["teal"] and result.disliked_used == []
    assert Image.open(io.BytesIO(result.png)).size == (64, 64)
    assert result.seconds > 0


# 5. The real loading path: save_pretrained, then load_generator on the folder.


def test_saved_tiny_pipeline_loads_through_from_pretrained(tiny, refined, tmp_path_factory):
    base_dir = tmp_path_factory.mktemp("tiny-base")
    refiner_dir = tmp_path_factory.mktemp("tiny-refiner")
    tiny.pipe.save_pretrained(base_dir)
    refined.refiner.save_pretrained(refiner_dir)

    loaded = load_generator(str(base_dir), device="cpu")
    assert (loaded.model_name, loaded.is_tiny) == (str(base_dir), False)
    assert loaded.generate(personalised()).png == tiny.generate(personalised()).png

    loaded_refined = load_generator(str(base_dir), device="cpu", refiner=str(refiner_dir))
    assert loaded_refined.refiner.vae is loaded_refined.pipe.vae
    assert loaded_refined.refiner.text_encoder_2 is loaded_refined.pipe.text_encoder_2
    req = personalised(steps=10)
    assert loaded_refined.generate(req).png == refined.generate(req).png


# 6. Models that cannot be loaded say what was tried and how to fix it.


def test_missing_local_folder_is_model_unavailable(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailable) as err:
        load_generator(str(missing))
    assert str(missing) in err.value.message and "[engine] model" in err.value.message
    assert '"tiny"' in err.value.message


def test_unknown_hub_id_offline_is_model_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable) as err:
        load_generator("viper-tests/no-such-sdxl", cache_dir=str(tmp_path))
    message = err.value.message
    assert "hub id 'viper-tests/no-such-sdxl'" in message and "HF_HUB_OFFLINE" in message
    assert "[engine] model" in message and '"tiny"' in message


def test_folder_that_is_not_a_pipeline_is_model_unavailable(tmp_path):
    (tmp_path / "model_index.json").write_text("{ not json")
    with pytest.raises(ModelUnavailable) as err:
        load_generator(str(tmp_path))
    assert "local folder" in err.value.message


@pytest.mark.parametrize(("model", "refiner"), [("tiny", "some/refiner"), ("some/model", "tiny")])
def test_tiny_and_real_parts_do_not_mix(model, refiner):
    with pytest.raises(ModelUnavailable, match="refiner"):
        load_generator(model, refiner=refiner)


# 7. Validation names the argument; long prompts are truncated, not refused.

INVALID = [
    ("prompt", {"prompt": ""}),
    ("prompt", {"prompt": "   "}),
    ("width", {"width": 100}),
    ("width", {"width": 32}),
    ("height", {"height": 4096}),
    ("height", {"height": 64.0}),
    ("steps", {"steps": 0}),
    ("steps", {"steps": 101}),
    ("guidance", {"guidance": -0.5}),
    ("guidance", {"guidance": 31}),
    ("guidance", {"guidance": float("nan")}),
    ("liked_strength", {"liked_strength": 2.5}),
    ("disliked_strength", {"disliked_strength": -0.1}),
    ("seed", {"seed": -1}),
    ("liked", {"liked": "teal, gold"}),
    ("negative_prompt", {"negative_prompt": None}),
]


@pytest.mark.parametrize(("argument", "fields"), INVALID, ids=[f"{a}={f[a]!r}" for a, f in INVALID])
def test_invalid_request_names_its_argument(tiny, argument, fields):
    with pytest.raises(InvalidArgument) as err:
        tiny.generate(request(**fields))
    assert err.value.argument == argument
    assert argument in err.value.message


def test_unknown_mode_is_invalid(tiny):
    with pytest.raises(InvalidArgument) as err:
        tiny.generate(request(), mode="turbo")
    assert err.value.argument == "mode"


def test_long_prompt_is_truncated_not_refused(tiny):
    assert tiny.generate(request(prompt="a lighthouse " * 40, steps=1)).prompt_truncated
    assert not tiny.generate(request(steps=1)).prompt_truncated


# 8. Progress and cancellation.


def test_on_step_reports_every_step(tiny):
    calls = []
    tiny.generate(personalised(), on_step=lambda i, n: calls.append((i, n)))
    assert calls == [(i, STEPS) for i in range(1, STEPS + 1)]


def test_should_stop_cancels_between_steps(tiny):
    calls = []
    with pytest.raises(JobCancelled):
        tiny.generate(personalised(), on_step=lambda i, n: calls.append(i), should_stop=lambda: len(calls) >= 2)
    assert calls == [1, 2]


def test_refiner_steps_count_and_cancel(refined):
    calls = []
    refined.generate(personalised(steps=10), on_step=lambda i, n: calls.append((i, n)))
    assert calls == [(i, 10) for i in range(1, 11)]
    calls.clear()
    with pytest.raises(JobCancelled):
        refined.generate(
            personalised(steps=10), on_step=lambda i, n: calls.append((i, n)), should_stop=lambda: len(calls) >= 9
        )
    assert calls[-1] == (9, 10)


# GPU: fp16 on CUDA, where the VAE must be upcast to decode.


@pytest.mark.gpu
@gpu
def test_fp16_cuda_matches_stock_and_restores_vae_dtype():
    gen = load_generator("tiny", device="cuda", dtype="fp16")
    assert gen.pipe.unet.dtype == torch.float16
    req = request()
    assert torch.equal(gen.generate_latents(req), stock(gen.pipe, req, "latent"))
    assert np.array_equal(pixels(gen.generate(req).png), stock(gen.pipe, req, "pil"))
    assert gen.pipe.vae.dtype == torch.float16
    fused = gen.generate_latents(personalised(), mode="fused").float()
    reference = gen.generate_latents(personalised(), mode="reference").float()
    torch.testing.assert_close(fused, reference, rtol=1e-2, atol=1e-2)


def test_a_cut_prompt_never_reaches_the_logs(tiny, caplog):
    """diffusers logs the words it cuts off a long prompt; ours logs only how many characters."""
    import logging

    from viper.contracts.jobs import GenerateRequest

    library = logging.getLogger("diffusers")  # diffusers keeps its records to itself: listen there
    level = library.level
    library.addHandler(caplog.handler)
    library.setLevel(logging.WARNING)
    secret = "my private dream of a " + " ".join(f"word{i}" for i in range(120))
    try:
        result = tiny.generate(GenerateRequest(prompt=secret, liked=["teal"] * 60, seed=1, steps=1))
    finally:
        library.removeHandler(caplog.handler)
        library.setLevel(level)
    assert result.prompt_truncated
    assert "was cut" in caplog.text
    assert "word119" not in caplog.text and "teal" not in caplog.text

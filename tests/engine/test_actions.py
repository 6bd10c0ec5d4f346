"""The request options behind the bot's actions: aspect ratios, the strength dial, the negative prompt,
🎲 Vary (img2img in the shared loop) and ⚖ Compare (one side-by-side image), on the tiny model.

Stock diffusers is the yardstick wherever personalisation is off: a Vary must be
`StableDiffusionXLImg2ImgPipeline` bit for bit, a Compare's left half `StableDiffusionXLPipeline`.
The images are random-weight noise; what is checked is arithmetic, never looks.
"""

from __future__ import annotations

import asyncio
import io
import math

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLImg2ImgPipeline
from PIL import Image

from engine.compare import label_strip_height
from engine.conditioning import encode_base
from engine.generation import GenerationDefaults, Member, ViperGenerator
from engine.plan import aspect_size
from engine.sdxl import load_generator
from viper.contracts.errors import InvalidArgument
from viper.contracts.jobs import ASPECT_RATIOS, GenerateRequest, GenerateResult
from tests.engine.test_generation import stock

PROMPT = "a lighthouse on a cliff at dusk"
LIKED = ["teal", "flowing lines", "art nouveau", "soft light"]
DISLIKED = ["harsh yellow", "busy composition", "3d render"]
STEPS = 4
VARY_STEPS = 10  # int(10 * 0.35) = 3 steps re-run

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/engine/conftest.py; `tiny` comes from there too


def request(**fields) -> GenerateRequest:
    return GenerateRequest(**{"prompt": PROMPT, "seed": 7, "steps": STEPS, **fields})


def personalised(**fields) -> GenerateRequest:
    return request(**{"liked": list(LIKED), "disliked": list(DISLIKED), **fields})


def pixels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png)))


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def stock_txt2img(pipe, req: GenerateRequest, output_type: str = "pil"):
    return stock(pipe, req, output_type)


def assert_same_image(batched: torch.Tensor, alone: torch.Tensor) -> None:
    # The batching tests' tolerance: a larger GEMM may order its sums differently.
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def source(tiny) -> bytes:
    """A delivered image to vary or compare with: a personalised render, as PNG."""
    return tiny.generate(personalised(seed=21)).png


# 1. Aspect ratios.

SDXL_SIZES = {
    "1:1": (1024, 1024),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
}


def test_aspect_sizes_for_sdxl():
    assert set(SDXL_SIZES) == set(ASPECT_RATIOS)
    for aspect, size in SDXL_SIZES.items():
        assert aspect_size(aspect, 1024, 64, min_side=256, max_side=2048) == size, aspect
        width, height = size
        assert width % 64 == 0 and height % 64 == 0
        assert 0.9 * 1024**2 <= width * height <= 1024**2, "about the native pixel count, never more"


@pytest.mark.parametrize("aspect", ASPECT_RATIOS)
def test_every_aspect_works_on_the_tiny_model(tiny, aspect):
    # 64 px native, sides of 16 px, at least 64: only the square keeps both sides and the pixel count.
    plan = tiny.prepare(request(aspect=aspect))
    assert (plan.width, plan.height) == (64, 64)
    # Without the 64 px floor the same rule shapes it, transposes included.
    width, height = aspect_size(aspect, tiny.native_size, tiny.size_step)
    across, down = (int(x) for x in aspect.split(":"))
    assert width % 16 == 0 and height % 16 == 0 and width * height <= 64 * 64
    assert (width > height) == (across > down) and (width == height) == (across == down)
    if f"{down}:{across}" in ASPECT_RATIOS:
        assert aspect_size(f"{down}:{across}", tiny.native_size, tiny.size_step) == (height, width)


def test_generated_aspect_image_has_the_planned_size(tiny):
    wide = ViperGenerator(tiny.pipe, model_name="tiny", defaults=GenerationDefaults(min_side=16, steps=1))
    result = wide.generate(request(aspect="16:9", steps=1))
    assert (result.width, result.height) == (80, 48)
    assert Image.open(io.BytesIO(result.png)).size == (80, 48)


def test_width_and_height_win_over_aspect(tiny):
    plan = tiny.prepare(request(aspect="16:9", width=96, height=64))
    assert (plan.width, plan.height) == (96, 64)


@pytest.mark.parametrize("aspect", ["5:4", "16x9", "", "wide", 16])
def test_unknown_aspect_names_the_accepted_ones(tiny, aspect):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(request(aspect=aspect))
    assert err.value.argument == "ar"
    assert all(ratio in err.value.message for ratio in ASPECT_RATIOS)


# 2. Strength: one dial over both personalisation strengths.


def test_strength_zero_is_stock_sdxl_bit_for_bit(tiny):
    req = personalised(strength=0.0)
    plan = tiny.prepare(req)
    assert (plan.liked_strength, plan.disliked_strength, plan.personalised) == (0.0, 0.0, False)
    assert torch.equal(tiny.generate_latents(req), stock_txt2img(tiny.pipe, req, "latent"))
    result = tiny.generate(req)
    assert np.array_equal(pixels(result.png), stock_txt2img(tiny.pipe, req))
    assert result.liked_used == [] and result.disliked_used == [], "nothing of the profile was used"
    assert (result.method, result.liked_strength, result.disliked_strength) == ("txt2img", 0.0, 0.0)


def test_strength_scales_both_strengths(tiny):
    plan = tiny.prepare(personalised(strength=1.5))
    assert plan.liked_strength == pytest.approx(0.85 * 1.5) and plan.disliked_strength == pytest.approx(0.85 * 1.5)
    half = personalised(strength=0.5)
    same = personalised(liked_strength=0.425, disliked_strength=0.425)
    assert torch.equal(tiny.generate_latents(half), tiny.generate_latents(same))
    assert not torch.equal(tiny.generate_latents(half), tiny.generate_latents(personalised()))
    scaled = tiny.prepare(personalised(liked_strength=0.4, disliked_strength=1.2, strength=0.5))
    assert (scaled.liked_strength, scaled.disliked_strength) == pytest.approx((0.2, 0.6))


def test_strength_products_are_clamped_to_the_maximum(tiny):
    result = tiny.generate(personalised(liked_strength=1.5, disliked_strength=0.5, strength=2.0, steps=1))
    assert (result.liked_strength, result.disliked_strength) == (2.0, 1.0)


@pytest.mark.parametrize("strength", [-0.1, 2.5, float("inf"), "strong", True])
def test_strength_out_of_range_is_refused(tiny, strength):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(personalised(strength=strength))
    assert err.value.argument == "strength"


def test_result_reports_method_strengths_and_negative_prompt(tiny):
    result = tiny.generate(personalised(negative_prompt="blurry", steps=1))
    assert result.method == "txt2img"
    assert (result.liked_strength, result.disliked_strength) == (0.85, 0.85)
    assert result.negative_prompt == "blurry"


# 3. The negative prompt joins the disliked side; it does not replace it.


def test_negative_prompt_and_disliked_both_condition_the_uncond_branch(tiny, monkeypatch):
    calls: list[dict] = []
    encode = tiny.pipe.encode_prompt

    def spy(**kwargs):
        calls.append(kwargs)
        return encode(**kwargs)

    plan = tiny.prepare(personalised(negative_prompt="blurry, low quality", shuffle=False))
    monkeypatch.setattr(tiny.pipe, "encode_prompt", spy)
    cond = encode_base(tiny.pipe, tiny.device, plan)
    monkeypatch.undo()
    assert [(c["prompt"], c["negative_prompt"]) for c in calls] == [
        (PROMPT, "blurry, low quality"),
        (", ".join(LIKED), ", ".join(DISLIKED)),
    ]
    # The uncond row is the negative prompt's embeddings plus b times the disliked ones.
    kwargs = {"device": tiny.device, "num_images_per_prompt": 1, "do_classifier_free_guidance": True}
    _, negative, _, _ = encode(prompt=PROMPT, negative_prompt="blurry, low quality", **kwargs)
    _, disliked, _, _ = encode(prompt=", ".join(LIKED), negative_prompt=", ".join(DISLIKED), **kwargs)
    assert torch.equal(cond.hidden_states[0:1], negative + plan.disliked_strength * disliked)
    assert torch.equal(cond.hidden_states[2:3], disliked)


# 4. 🎲 Vary: img2img through the shared loop.


def vary(source: bytes, **fields) -> GenerateRequest:
    return personalised(**{"steps": VARY_STEPS, "init_image": source, "init_strength": 0.35, "seed": 3, **fields})


def test_vary_runs_only_the_tail_of_the_schedule(tiny, source, unet_batches):
    calls = []
    result = tiny.generate(vary(source), on_step=lambda i, n: calls.append((i, n)))
    run = int(VARY_STEPS * 0.35)
    assert calls == [(i, run) for i in range(1, run + 1)], "progress counts only the steps run"
    assert unet_batches == [4] * run
    assert result.method == "img2img" and result.steps == VARY_STEPS
    assert (result.width, result.height) == (64, 64)


def test_vary_defaults_to_the_configured_strength(tiny, source):
    gen = ViperGenerator(tiny.pipe, model_name="tiny", defaults=GenerationDefaults(vary_strength=0.5))
    calls = []
    gen.generate(vary(source, init_strength=None), on_step=lambda i, n: calls.append(n))
    assert calls == [5] * 5
    assert tiny.prepare(vary(source, init_strength=None)).init_strength == 0.35  # GenerationDefaults' own


def test_vary_with_personalisation_off_equals_stock_img2img_bit_for_bit(tiny, source):
    req = vary(source, liked=[], disliked=[])
    img2img = StableDiffusionXLImg2ImgPipeline(**tiny.pipe.components)
    img2img.set_progress_bar_config(disable=True)
    expected = img2img(
        prompt=req.prompt,
        image=Image.open(io.BytesIO(source)).convert("RGB"),
        strength=req.init_strength,
        num_inference_steps=req.steps,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(req.seed),
        output_type="latent",
    ).images
    assert torch.equal(tiny.generate_latents(req), expected)


def test_vary_differs_from_its_source_and_its_seed_reproduces_it(tiny, source):
    first = tiny.generate(vary(source))
    assert first.png == tiny.generate(vary(source)).png
    assert not np.array_equal(pixels(first.png), pixels(source))
    assert not np.array_equal(pixels(first.png), pixels(tiny.generate(vary(source, seed=4)).png))
    # A small strength stays nearer its source than a large one.
    near = pixels(tiny.generate(vary(source, init_strength=0.1)).png).astype(int)
    far = pixels(tiny.generate(vary(source, init_strength=1.0)).png).astype(int)
    original = pixels(source).astype(int)
    assert np.abs(near - original).mean() < np.abs(far - original).mean()


def test_vary_alone_equals_vary_batched_with_a_txt2img_member(tiny, source, unet_batches):
    requests = [vary(source), request(prompt="a bowl of lemons", steps=VARY_STEPS, seed=11, liked=["ink wash"])]
    alone = [tiny.generate_latents(req) for req in requests]
    unet_batches.clear()
    progress: dict[int, list] = {0: [], 1: []}
    batch = [
        Member(tiny.prepare(req), on_step=lambda i, n, k=k: progress[k].append((i, n))) for k, req in enumerate(requests)
    ]
    outcomes = tiny.denoise_batch(batch)
    assert unet_batches == [8] * 3 + [4] * (VARY_STEPS - 3), "the Vary shares the calls until its tail ends"
    assert progress[0] == [(i, 3) for i in range(1, 4)]
    assert progress[1] == [(i, VARY_STEPS) for i in range(1, VARY_STEPS + 1)]
    for batched, single in zip(outcomes, alone):
        assert_same_image(batched, single)


@pytest.fixture(scope="module")
def refined(one_thread) -> ViperGenerator:
    return load_generator("tiny", refiner="tiny")


@pytest.mark.parametrize(("strength", "base", "refiner"), [(0.35, 1, 2), (0.15, 0, 1), (1.0, 8, 2)])
def test_vary_with_a_refiner_splits_its_tail(refined, source, strength, base, refiner):
    # 10 steps, switch at 0.8: the base runs timesteps >= 200, the refiner those below.
    base_calls, refiner_calls, progress = [], [], []
    hooks = [
        refined.pipe.unet.register_forward_pre_hook(lambda m, a: base_calls.append(a[0].shape[0])),
        refined.refiner.unet.register_forward_pre_hook(lambda m, a: refiner_calls.append(a[0].shape[0])),
    ]
    try:
        refined.generate(vary(source, init_strength=strength), on_step=lambda i, n: progress.append((i, n)))
    finally:
        for hook in hooks:
            hook.remove()
    assert (len(base_calls), len(refiner_calls)) == (base, refiner)
    assert progress == [(i, base + refiner) for i in range(1, base + refiner + 1)]


def test_refined_vary_alone_equals_batched(refined, source):
    requests = [vary(source), request(prompt="a bowl of lemons", steps=VARY_STEPS, seed=11)]
    alone = [refined.generate_latents(req) for req in requests]
    outcomes = refined.denoise_batch([Member(refined.prepare(req)) for req in requests])
    for batched, single in zip(outcomes, alone):
        assert_same_image(batched, single)


def _gif(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="GIF")
    return buffer.getvalue()


BAD_IMAGES = {
    "not an image": b"not a png at all",
    "empty": b"",
    "text": "iVBORw0KGgo=",
    "a gif": _gif(),
    "another size": png_of(np.zeros((48, 64, 3), dtype=np.uint8)),
}


@pytest.mark.parametrize("data", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_a_bad_init_image_is_refused_by_name(tiny, data):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(vary(data))
    assert err.value.argument == "init_image"


def test_a_truncated_init_image_is_refused_before_any_model_work(tiny, source):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(vary(source[: len(source) // 2]))
    assert err.value.argument == "init_image"


def test_a_jpeg_init_image_is_accepted(tiny, source):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(source)).save(buffer, format="JPEG")
    assert tiny.prepare(vary(buffer.getvalue())).method == "img2img"


@pytest.mark.parametrize("strength", [0, -0.5, 1.5, float("nan")])
def test_init_strength_out_of_range_is_refused(tiny, source, strength):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(vary(source, init_strength=strength))
    assert err.value.argument == "init_strength"


# 5. ⚖ Compare: the plain render beside the delivered image, in one PNG.


def test_compare_left_half_is_stock_sdxl_and_right_half_the_given_image(tiny, source):
    req = personalised(strength=0.0, compare_with=source)
    result = tiny.generate(req)
    composite = pixels(result.png)
    strip = label_strip_height(64)
    assert result.method == "compare"
    assert (result.width, result.height) == (128, 64 + strip) == composite.shape[1::-1]
    assert np.array_equal(composite[strip:, :64], stock_txt2img(tiny.pipe, req))
    assert np.array_equal(composite[strip:, 64:], pixels(source))
    for half in (composite[:strip, :64], composite[:strip, 64:]):
        assert (half < 128).any(), "each half has its label drawn"


def test_compare_labels_are_the_requests(tiny, source):
    def strip(labels):
        result = tiny.generate(personalised(strength=0.0, steps=1, compare_with=source, compare_labels=labels))
        return pixels(result.png)[: label_strip_height(64)]

    default = strip(["plain", "personalised"])
    assert np.array_equal(strip(None), default)
    other = strip(["sans", "avec"])
    assert not np.array_equal(other[:, :64], default[:, :64]) and not np.array_equal(other[:, 64:], default[:, 64:])


def test_compare_in_a_batch_equals_alone(tiny, source):
    requests = [personalised(strength=0.0, compare_with=source), personalised(seed=8)]
    alone = [tiny.generate(req).png for req in requests]
    results = tiny.generate_batch([Member(tiny.prepare(req)) for req in requests])
    assert results[0].method == "compare" and results[1].method == "txt2img"
    for result, single in zip(results, alone):
        assert np.abs(pixels(result.png).astype(int) - pixels(single).astype(int)).max() <= 1


BAD_COMPARES = {
    "compare_with": {"compare_with": png_of(np.zeros((64, 96, 3), dtype=np.uint8))},
    "compare_labels": {"compare_labels": ["only one"]},
}


@pytest.mark.parametrize("argument", BAD_COMPARES)
def test_a_bad_compare_is_refused_by_name(tiny, source, argument):
    fields = {"compare_with": source, **BAD_COMPARES[argument]}
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(request(**fields))
    assert err.value.argument == argument


def test_vary_and_compare_do_not_combine(tiny, source):
    with pytest.raises(InvalidArgument) as err:
        tiny.prepare(vary(source, compare_with=source))
    assert err.value.argument == "compare_with"


# 6. Through the worker's job function.


class _FakeRedis:
    """What `generate_image` asks of Redis: progress writes and the cancel key."""

    def __init__(self):
        self.values: dict[str, str] = {}

    async def set(self, key, value, ex=None):
        self.values[key] = value

    async def exists(self, key):
        return 0


async def test_worker_runs_a_vary_and_a_compare_job(tiny, source):
    from engine.batching import Batcher
    from engine.worker import _run_generation, generate_image
    from viper.contracts import jobs

    redis = _FakeRedis()
    batcher = Batcher(lambda group: _run_generation(tiny, group), window_s=0.05, max_batch=4)
    ctx = {"redis": redis, "generator": tiny, "batcher": batcher}
    payloads = {
        "vary": jobs.to_dict(vary(source)),
        "compare": jobs.to_dict(personalised(strength=0.0, compare_with=source)),
        "bad": jobs.to_dict(vary(b"garbage")),
    }
    try:
        answers = await asyncio.gather(
            *(generate_image({**ctx, "job_id": name}, payload) for name, payload in payloads.items())
        )
    finally:
        await batcher.close()
    vary_answer, compare_answer, bad_answer = answers
    assert vary_answer["ok"] and compare_answer["ok"]
    result = jobs.from_dict(GenerateResult, vary_answer["result"])
    assert result.method == "img2img" and result.liked_strength == 0.85
    assert redis.values[jobs.progress_key("vary")] == "3/3"
    composite = jobs.from_dict(GenerateResult, compare_answer["result"])
    assert composite.method == "compare" and composite.width == 128
    assert bad_answer["ok"] is False and bad_answer["error"]["argument"] == "init_image"
    assert math.isclose(tiny.defaults.vary_strength, 0.35)


def test_load_models_passes_the_configured_vary_strength_and_max_steps():
    from engine.worker import load_models
    from viper.contracts.config import Settings

    settings = Settings()
    settings.engine.model = "tiny"
    settings.engine.refiner = ""
    settings.engine.vary_strength = 0.6
    settings.engine.max_steps = 150  # the bot accepts up to this many: the worker must too
    models = load_models(settings)
    assert models["generator"].defaults.vary_strength == 0.6
    assert models["generator"].defaults.max_steps == 150

"""The worker's image safety check (issue #13), with a tiny random-weight safety checker.

The checker is diffusers' real `StableDiffusionSafetyChecker` built from a small `CLIPConfig`
(`engine.safety.build_tiny_safety_checker`). Random weights judge nothing: every verdict here is
set by the test through the checker's thresholds (`FLAG_ALL`, `FLAG_NONE`, or one concept aimed at
one image), so what is checked is the plumbing (which images are judged, what the result says, that
the pixels are kept, how loading fails), never whether a picture is really safe.
"""

from __future__ import annotations

import asyncio
import io

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from PIL import Image

from engine.batching import Batcher
from engine.generation import ViperGenerator
from engine.safety import (
    FLAG_ALL,
    FLAG_NONE,
    SAFETY_CHECKER,
    SafetyChecker,
    build_tiny_safety_checker,
    load_safety_checker,
    safety_checker_for,
    set_thresholds,
)
from engine.sdxl import SDXL_BASE
from engine.worker import _run_generation, generate_image, load_models
from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import ModelUnavailable
from viper.contracts.jobs import GenerateRequest, GenerateResult

PROMPT = "a lighthouse on a cliff at dusk"
STEPS = 3

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/engine/conftest.py; `tiny` comes from there too


def request(**fields) -> GenerateRequest:
    return GenerateRequest(**{"prompt": PROMPT, "liked": ["teal"], "disliked": ["neon"], "seed": 7, "steps": STEPS,
                              **fields})


def image_of(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def checked(tiny: ViperGenerator, safety: SafetyChecker | None) -> ViperGenerator:
    """The session's tiny model with `safety` as its checker (the shared fixture stays unchecked)."""
    return ViperGenerator(tiny.pipe, model_name=tiny.model_name, is_tiny=tiny.is_tiny, safety=safety)


class _FakeRedis:
    """What `generate_image` asks of Redis: progress writes and the cancel key."""

    async def set(self, key, value, ex=None):
        pass

    async def exists(self, key):
        return 0


async def run_jobs(generator: ViperGenerator, *requests: GenerateRequest) -> list[GenerateResult]:
    """Run `requests` as concurrent generate jobs through the worker's job function and batcher.

    Compatible requests share a batch (`render_batch`, then `to_result` in each job's thread); a
    lone one goes through `generate`. Every job must succeed.
    """
    batcher = Batcher(lambda group: _run_generation(generator, group), window_s=0.05, max_batch=4)
    ctx = {"redis": _FakeRedis(), "generator": generator, "batcher": batcher}
    try:
        answers = await asyncio.gather(
            *(generate_image({**ctx, "job_id": f"job-{i}"}, jobs.to_dict(r)) for i, r in enumerate(requests))
        )
    finally:
        await batcher.close()
    assert all(a["ok"] for a in answers), answers
    return [jobs.from_dict(GenerateResult, a["result"]) for a in answers]


@pytest.fixture(scope="module")
def plain_pngs(tiny) -> dict[int, bytes]:
    """What the unchecked model paints for seeds 7 and 8: a checked image must keep these pixels."""
    return {seed: tiny.generate(request(seed=seed)).png for seed in (7, 8)}


# 1. The tiny checker's verdicts follow its thresholds.


def test_thresholds_set_the_tiny_checkers_verdict_and_images_stay_untouched():
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)) for i in range(3)]
    before = [np.array(image) for image in images]
    checker = build_tiny_safety_checker(FLAG_ALL)
    assert checker.check(images) == [True, True, True]
    set_thresholds(checker, FLAG_NONE)
    assert checker.check(images) == [False, False, False]
    assert checker.check([]) == []
    assert all(np.array_equal(np.array(image), pixels) for image, pixels in zip(images, before))


# 2. Through the worker's job function: the verdict rides on the result, the pixels are kept.


async def test_a_flagged_image_is_still_delivered_with_its_verdict(tiny, plain_pngs):
    generator = checked(tiny, build_tiny_safety_checker(FLAG_ALL))
    alone, = await run_jobs(generator, request(seed=7))  # generate(): a group of one
    batched = await run_jobs(generator, request(seed=7), request(seed=8))  # render_batch + to_result
    for result in (alone, *batched):
        assert (result.nsfw_checked, result.nsfw) == (True, True)
        assert image_of(result.png).size == (result.width, result.height) == (64, 64)
    # The worker never blanks a flagged image: the bot decides what to do with it.
    assert alone.png == plain_pngs[7]
    assert np.array_equal(np.array(image_of(batched[1].png)), np.array(image_of(plain_pngs[8])))


async def test_an_image_the_checker_passes_is_checked_and_not_flagged(tiny):
    generator = checked(tiny, build_tiny_safety_checker(FLAG_NONE))
    for result in await run_jobs(generator, request(seed=7), request(seed=8)):
        assert (result.nsfw_checked, result.nsfw) == (True, False)


async def test_without_a_checker_images_go_out_unchecked(tiny):
    result, = await run_jobs(checked(tiny, None), request())
    assert (result.nsfw_checked, result.nsfw) == (False, False)


async def test_a_vary_is_checked_too(tiny, plain_pngs):
    generator = checked(tiny, build_tiny_safety_checker(FLAG_ALL))
    result, = await run_jobs(generator, request(init_image=plain_pngs[7], steps=10))
    assert result.method == "img2img" and (result.nsfw_checked, result.nsfw) == (True, True)


# 3. ⚖ Compare: flagged when either half is.


def _embedding(checker: SafetyChecker, image: Image.Image) -> torch.Tensor:
    """The checker's projected CLIP embedding of `image`, as its forward computes it."""
    pixels = checker.processor(images=[image], return_tensors="pt").pixel_values
    with torch.no_grad():
        return checker.model.visual_projection(checker.model.vision_model(pixels)[1])[0]


def checker_flagging(image: Image.Image, other: Image.Image) -> SafetyChecker:
    """A tiny checker that flags `image` and not `other`.

    A random CLIP tower embeds every picture in nearly the same direction (cosines above 0.99), so
    one concept embedding is aimed along the difference of the two embeddings, which `image` points
    along and `other` against, and its threshold is set halfway between their cosines to it; every
    other concept keeps `FLAG_NONE` and never fires.
    """
    checker = build_tiny_safety_checker(FLAG_NONE)
    target, away = _embedding(checker, image), _embedding(checker, other)
    concept = target - away
    cosines = [torch.nn.functional.cosine_similarity(e, concept, dim=0).item() for e in (target, away)]
    assert cosines[0] - cosines[1] > 0.02, cosines  # well clear of the checker's rounding to 0.001
    with torch.no_grad():
        checker.model.concept_embeds[0] = concept
        checker.model.concept_embeds_weights[0] = sum(cosines) / 2
    assert checker.check([image, other]) == [True, False]
    return checker


async def test_a_compare_is_flagged_when_either_half_is(tiny, plain_pngs):
    render, other = image_of(plain_pngs[7]), image_of(plain_pngs[8])
    compare = request(seed=7, compare_with=plain_pngs[8])  # the render (seed 7) left, seed 8 right
    for flagged_half in (render, other):
        generator = checked(tiny, checker_flagging(flagged_half, render if flagged_half is other else other))
        result, = await run_jobs(generator, compare)
        assert result.method == "compare" and (result.nsfw_checked, result.nsfw) == (True, True)
    # Neither half flagged: a checker aimed at a third image passes both.
    third = image_of(tiny.generate(request(seed=9)).png)
    generator = checked(tiny, checker_flagging(third, render))
    assert generator.safety.check([render, other]) == [False, False]
    result, = await run_jobs(generator, compare)
    assert (result.nsfw_checked, result.nsfw) == (True, False)


# 4. What the worker loads: [moderation] nsfw_check and [engine] model.


@pytest.mark.parametrize("nsfw_check", ["auto", "off"])
def test_the_tiny_model_is_never_checked(nsfw_check):
    settings = Settings()
    settings.engine.model = "tiny"
    settings.engine.refiner = ""
    settings.moderation.nsfw_check = nsfw_check
    assert load_models(settings)["generator"].safety is None


def test_off_loads_nothing_even_for_a_real_model(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # nothing may be fetched
    assert safety_checker_for("off", model=SDXL_BASE, cache_dir=str(tmp_path)) is None


def test_auto_without_the_checker_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable) as err:
        safety_checker_for("auto", model=SDXL_BASE, cache_dir=str(tmp_path / "empty-cache"))
    message = err.value.message
    assert "safety checker" in message and f"hub id '{SAFETY_CHECKER}'" in message
    assert 'nsfw_check = "off"' in message and "VIPER_MODERATION__NSFW_CHECK=off" in message
    with pytest.raises(ModelUnavailable, match="neither an existing folder"):
        load_safety_checker(str(tmp_path / "no-such-folder"))


# 5. The real loading path: save_pretrained, then from_pretrained on the folder, offline.


@pytest.fixture(scope="module")
def checker_dir(tmp_path_factory):
    """A tiny checker that flags everything, saved as the hub repo holds the real one."""
    folder = tmp_path_factory.mktemp("tiny-safety-checker")
    checker = build_tiny_safety_checker(FLAG_ALL)
    checker.model.save_pretrained(folder)
    checker.processor.save_pretrained(folder)
    return folder


def test_a_saved_checker_loads_through_from_pretrained_offline(checker_dir, monkeypatch, plain_pngs):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    loaded = load_safety_checker(str(checker_dir))
    built = build_tiny_safety_checker(FLAG_ALL)
    for name, tensor in built.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    image = image_of(plain_pngs[7])
    assert loaded.check([image]) == [True]
    assert torch.equal(
        loaded.processor(images=[image], return_tensors="pt").pixel_values,
        built.processor(images=[image], return_tensors="pt").pixel_values,
    )


@pytest.fixture(scope="module")
def sdxl_dir(tiny, tmp_path_factory):
    """The tiny SDXL saved as a diffusers folder: to the worker, a real model, so "auto" checks it."""
    folder = tmp_path_factory.mktemp("tiny-sdxl")
    tiny.pipe.save_pretrained(folder)
    return folder


def _real_model_settings(sdxl_dir, cache_dir) -> Settings:
    settings = Settings()
    settings.engine.model = str(sdxl_dir)
    settings.engine.refiner = ""
    settings.engine.device = "cpu"
    settings.engine.cache_dir = str(cache_dir)
    settings.moderation.nsfw_check = "auto"
    return settings


async def test_the_worker_loads_the_checker_for_a_real_model(sdxl_dir, checker_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.safety.SAFETY_CHECKER", str(checker_dir))
    models = load_models(_real_model_settings(sdxl_dir, tmp_path))
    generator = models["generator"]
    assert generator.safety is not None and generator.safety.device == generator.device
    result, = await run_jobs(generator, request())
    assert (result.is_tiny, result.nsfw_checked, result.nsfw) == (False, True, True)


def test_a_worker_whose_checker_cannot_load_does_not_start(sdxl_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable) as err:
        load_models(_real_model_settings(sdxl_dir, tmp_path / "empty-cache"))
    assert SAFETY_CHECKER in err.value.message and 'nsfw_check = "off"' in err.value.message

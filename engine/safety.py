"""The image safety check: every image the worker returns is judged before delivery.

`[moderation] nsfw_check = "auto"` loads the Stable Diffusion safety checker
(`CompVis/stable-diffusion-safety-checker`: diffusers' `StableDiffusionSafetyChecker`, a CLIP
ViT-L/14 image tower compared with 17 concept and 3 "special care" embeddings, with the CLIP
image processor saved beside it) once per worker process, through the Hugging Face cache like the
other weights (`[engine] cache_dir`). `"off"` loads nothing. With the tiny test model "auto" means
off: its images are random noise, and a checker judging noise (or a random-weight checker judging
anything) would withhold images at random.

Unlike the stock pipeline, which blacks a flagged image out, the checker here only gives a verdict
per image: the pixels are kept and the result says `nsfw_checked`/`nsfw`, and the bot applies
`[moderation] nsfw_policy` (block, spoiler, ...). `ViperGenerator.to_result` runs the check on the
decoded image, in the thread that encodes its PNG (off the event loop and off the GPU lock); a
⚖ Compare is flagged when either half is.

`build_tiny_safety_checker` builds a random-weight checker from a small `CLIPConfig` in code, for
tests. Its verdicts are controlled by the thresholds, not by the random weights: the checker flags
an image when the cosine similarity of its embedding to a concept embedding exceeds that concept's
weight (`concept_embeds_weights`, `special_care_embeds_weights`), and a cosine lies in [-1, 1], so
thresholds of `FLAG_ALL` (-2) flag every image and `FLAG_NONE` (2) none (`set_thresholds`). That is
a test hook, never a product setting: the real checker's thresholds are the ones it was trained with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import CLIPConfig

from viper.contracts.errors import InvalidArgument, ModelUnavailable

try:  # transformers 5: the PIL backend, the same pixels whether or not torchvision is installed
    from transformers import CLIPImageProcessorPil as _Processor
except ImportError:  # pragma: no cover - older transformers
    from transformers import CLIPImageProcessor as _Processor

log = logging.getLogger("viper.safety")

SAFETY_CHECKER = "CompVis/stable-diffusion-safety-checker"
"""The checker `[moderation] nsfw_check = "auto"` loads (hub id)."""
AUTO, OFF = "auto", "off"
FLAG_ALL = -2.0
"""A threshold below every cosine similarity: a checker with it flags every image (tests only)."""
FLAG_NONE = 2.0
"""A threshold above every cosine similarity: a checker with it flags no image (tests only)."""
TURN_OFF = '[moderation] nsfw_check = "off" (environment: VIPER_MODERATION__NSFW_CHECK=off)'

__all__ = [
    "FLAG_ALL",
    "FLAG_NONE",
    "SAFETY_CHECKER",
    "SafetyChecker",
    "build_tiny_safety_checker",
    "load_safety_checker",
    "safety_checker_for",
    "set_thresholds",
]


class _DropBlackImageWarning(logging.Filter):
    """diffusers' checker warns that "a black image will be returned instead": not here, we keep it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Potential NSFW content was detected")


logging.getLogger(StableDiffusionSafetyChecker.__module__).addFilter(_DropBlackImageWarning())


class SafetyChecker:
    """A loaded safety checker: `check(images)` gives one verdict (True = flagged) per image.

    Thread-safe and synchronous (call it from a worker thread): the model only reads its weights,
    and the processor is guarded by a lock. The images are never modified.
    """

    def __init__(self, model: StableDiffusionSafetyChecker, processor, *, name: str):
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self._processor_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def check(self, images: Sequence[PIL.Image.Image]) -> list[bool]:
        """The checker's verdict on each image, in one batched call (an empty list for none)."""
        if not images:
            return []
        with self._processor_lock:
            pixels = self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        clip_input = pixels.pixel_values.to(self.device, self.dtype)
        # The stock checker blanks flagged entries of `images` in place: hand it throw-away stand-ins,
        # so the verdict is all it gives back.
        stand_ins = [np.zeros(1, dtype=np.uint8) for _ in images]
        with torch.no_grad():
            _, flagged = self.model(clip_input=clip_input, images=stand_ins)
        return [bool(f) for f in flagged]


def safety_checker_for(
    nsfw_check: str,
    *,
    model: str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | None = None,
    source: str | None = None,
) -> SafetyChecker | None:
    """What the worker loads for `[moderation] nsfw_check` with `[engine] model = model`.

    "off": None (images go out unchecked, `nsfw_checked=False`). "auto": None with the tiny test
    model, else the checker from `source` (None: `SAFETY_CHECKER`), on `device` in `dtype` (the
    generator's), or `ModelUnavailable` naming the checker and how to turn the check off: never a silent pass.
    """
    from engine.sdxl import TINY

    if nsfw_check == OFF:
        log.info("image safety check off ([moderation] nsfw_check)")
        return None
    if nsfw_check != AUTO:
        raise InvalidArgument(f'[moderation] nsfw_check must be "auto" or "off", got {nsfw_check!r}', argument="nsfw_check")
    if model == TINY:
        log.info("image safety check off: the tiny test model paints noise ([moderation] nsfw_check = auto)")
        return None
    return load_safety_checker(source or SAFETY_CHECKER, device=device, dtype=dtype, cache_dir=cache_dir)


def load_safety_checker(
    source: str,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | None = None,
) -> SafetyChecker:
    """The checker and its image processor from a hub id (through the cache) or a local folder
    (as `save_pretrained` writes it), moved to `device` and `dtype`.

    Every failure (not cached and no network, a missing or corrupt file, a folder of something
    else, no room on the device) is a `ModelUnavailable` naming the checker, where it was looked
    for, and how to turn the check off.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        target, where, kwargs = str(path), f"local folder {str(path)!r}", {}
        fix = "Point it at a folder holding the checker's config.json, weights and preprocessor_config.json"
    else:
        try:
            validate_repo_id(source)
        except HFValidationError:
            raise _unavailable(
                source, f"{source!r} is neither an existing folder (looked for {path.resolve()}) nor a valid hub id"
            ) from None
        target, where, kwargs = source, f"Hugging Face hub id {source!r}", {"cache_dir": cache_dir}
        fix = (
            f"Put it in the Hugging Face cache (hf download {source}; [engine] cache_dir; "
            "with HF_HUB_OFFLINE=1 only cached files count)"
        )
    try:
        model = StableDiffusionSafetyChecker.from_pretrained(target, dtype=dtype, **kwargs)
        processor = _Processor.from_pretrained(target, **kwargs)
    except Exception as exc:
        raise _unavailable(source, f"could not load it from {where} ({type(exc).__name__}: {exc}). {fix}") from exc
    try:
        model.to(device, dtype)
    except RuntimeError as exc:  # includes torch.OutOfMemoryError
        raise _unavailable(source, f"loaded it from {where} but could not move it to {device} as {dtype} ({exc})") from exc
    log.info("image safety check on: %s on %s", source, device)
    return SafetyChecker(model, processor, name=source)


def _unavailable(source: str, what: str) -> ModelUnavailable:
    return ModelUnavailable(
        f'image safety checker {source} ([moderation] nsfw_check = "auto"): {what}. '
        f"To deliver images unchecked instead, set {TURN_OFF}."
    )


# -- the tiny checker, for tests -------------------------------------------------------------------

TINY_IMAGE_SIZE = 32


def build_tiny_safety_checker(threshold: float = FLAG_NONE, seed: int = 0) -> SafetyChecker:
    """A random-weight safety checker of the real class, from a small `CLIPConfig` built in code.

    Its verdicts are set by `threshold` (see `set_thresholds`): `FLAG_ALL` flags every image,
    `FLAG_NONE` none. Deterministic given `seed`; the global torch RNG is left as it was.
    `save_pretrained` on its `model` and `processor` writes a folder `load_safety_checker` reads.
    """
    config = CLIPConfig(
        text_config={
            "vocab_size": 99, "hidden_size": 16, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 77,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": TINY_IMAGE_SIZE, "patch_size": 8,
        },
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StableDiffusionSafetyChecker(config)
        # The real checker's concept embeddings are learned; random ones stand in for them.
        model.concept_embeds.data.normal_()
        model.special_care_embeds.data.normal_()
    set_thresholds(model, threshold)
    processor = _Processor(
        size={"shortest_edge": TINY_IMAGE_SIZE}, crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}
    )
    return SafetyChecker(model, processor, name="tiny")


def set_thresholds(checker: SafetyChecker | StableDiffusionSafetyChecker, threshold: float) -> None:
    """Set every concept's threshold (`concept_embeds_weights` and `special_care_embeds_weights`).

    A test hook: an image is flagged when its embedding's cosine similarity to some concept exceeds
    that concept's threshold, so `FLAG_ALL` (-2) flags every image and `FLAG_NONE` (2) none,
    whatever the weights.
    """
    model = checker.model if isinstance(checker, SafetyChecker) else checker
    with torch.no_grad():
        model.concept_embeds_weights.fill_(threshold)
        model.special_care_embeds_weights.fill_(threshold)

"""What a generation request becomes before any model work: defaults, bounds, and a validated `Plan`.

`GenerationDefaults` holds the operator's defaults and limits; `build_plan` checks every field of a
`GenerateRequest` against them (raising `InvalidArgument` that names the field), fills in what the
request leaves out and shuffles the keyword lists reproducibly. A `Member` is one plan taking part in
a batch, with its own progress and cancellation callbacks. Nothing here touches torch or a model, so
the worker can validate a request before it queues it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from viper.contracts.errors import InvalidArgument
from viper.contracts.jobs import GenerateRequest

MODES = ("fused", "reference", "fast")
MAX_GUIDANCE = 30.0
MAX_STRENGTH = 2.0
# torch.Generator.manual_seed accepts any value that fits in 64 bits.
MAX_SEED = 2**64 - 1

StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


@dataclass
class GenerationDefaults:
    """Values used where a request leaves a field as None, and the bounds requests must respect.

    `width`/`height` None mean the model's native size (`unet.config.sample_size *
    vae_scale_factor`: 1024 for SDXL, 64 for the tiny test model). `min_side` None means a quarter of
    the native side but at least 64 px: SDXL degrades badly below a quarter of its training size,
    and the tiny model must still accept its own 64 px. `refiner_switch` is the fraction of the
    schedule the base model runs before the refiner takes over (0.8 in the method); it only matters
    when a refiner is loaded.
    `mode` is the layout used when a caller names none ("fused" is exact; "fast" is opt-in), and
    `fast_refresh` is how often fast mode recomputes the liked/disliked branches (every k-th step).
    """

    steps: int = 40
    guidance: float = 5.0
    width: int | None = None
    height: int | None = None
    liked_strength: float = 0.85
    disliked_strength: float = 0.85
    min_side: int | None = None
    max_side: int = 2048
    max_steps: int = 100
    refiner_switch: float = 0.8
    mode: str = "fused"
    fast_refresh: int = 3


@dataclass
class Plan:
    """A validated request with every default resolved and the keyword lists already shuffled.

    Built by `ViperGenerator.prepare` (`build_plan`); cheap (no model work), so the worker validates a
    request before it queues it for a batch.
    """

    prompt: str
    negative_prompt: str
    liked: list[str]
    disliked: list[str]
    seed: int
    steps: int
    width: int
    height: int
    guidance: float
    liked_strength: float
    disliked_strength: float
    mode: str
    prompt_truncated: bool

    @property
    def fused(self) -> bool:
        return self.mode != "reference"

    @property
    def personalised(self) -> bool:
        """False when the member has no keywords or both strengths are 0: then we are stock SDXL."""
        has_keywords = bool(self.liked or self.disliked)
        return has_keywords and (self.liked_strength != 0 or self.disliked_strength != 0)

    @property
    def guided(self) -> bool:
        """Classifier-free guidance, as the stock pipeline decides it: only for a scale above 1."""
        return self.guidance > 1

    @property
    def batch_key(self) -> tuple:
        """Requests with equal keys can share UNet calls.

        The latents must have one shape to be stacked (width, height); equal step counts keep the
        members in lockstep, so they reach the refiner switch together and none waits on a longer
        schedule; the mode decides how the rows reach the UNet. Guidance, strengths, prompts and
        seeds are per member and need not match.
        """
        return (self.width, self.height, self.steps, self.mode)


@dataclass
class Member:
    """One request taking part in a batch, with its own progress and cancellation.

    `on_step(i, n)` is called after each of the member's n denoising steps (base and refiner
    together); `should_stop()` is asked before each step, and when true the member leaves the batch
    with `JobCancelled` while the others carry on.
    """

    plan: Plan
    on_step: StepCallback | None = None
    should_stop: StopCheck | None = None


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {', '.join(MODES)}, got {mode!r}", argument="mode")
    return mode


def build_plan(
    req: GenerateRequest,
    defaults: GenerationDefaults,
    *,
    native_size: int,
    truncated: Callable[[str], bool],
    mode: str | None = None,
) -> Plan:
    """Check every field (naming the bad one), fill in defaults, and shuffle the keywords.

    `native_size` is the model's native side in pixels; `truncated(prompt)` says whether a text
    encoder will cut the prompt. The shuffle follows the method (keyword order changes between
    generations) but draws from `random.Random(seed)`, liked list first, so that a seed reproduces
    its image exactly.
    """
    d = defaults
    mode = check_mode(_or(mode, d.mode))
    if not isinstance(req.prompt, str) or not req.prompt.strip():
        raise InvalidArgument("prompt must not be empty", argument="prompt")
    if not isinstance(req.negative_prompt, str):
        raise InvalidArgument("negative_prompt must be text", argument="negative_prompt")
    liked = _keywords("liked", req.liked)
    disliked = _keywords("disliked", req.disliked)
    seed = _check_int("seed", req.seed, 0, MAX_SEED)
    steps = _check_int("steps", _or(req.steps, d.steps), 1, d.max_steps)
    min_side = d.min_side if d.min_side is not None else max(64, native_size // 4)
    width = _check_side("width", _or(req.width, _or(d.width, native_size)), min_side, d.max_side)
    height = _check_side("height", _or(req.height, _or(d.height, native_size)), min_side, d.max_side)
    guidance = _check_number("guidance", _or(req.guidance, d.guidance), 0.0, MAX_GUIDANCE)
    liked_strength = _check_number("liked_strength", _or(req.liked_strength, d.liked_strength), 0.0, MAX_STRENGTH)
    disliked_strength = _check_number(
        "disliked_strength", _or(req.disliked_strength, d.disliked_strength), 0.0, MAX_STRENGTH
    )
    if req.shuffle:
        rng = random.Random(seed)
        rng.shuffle(liked)
        rng.shuffle(disliked)
    return Plan(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        liked=liked,
        disliked=disliked,
        seed=seed,
        steps=steps,
        width=width,
        height=height,
        guidance=guidance,
        liked_strength=liked_strength,
        disliked_strength=disliked_strength,
        mode=mode,
        prompt_truncated=truncated(req.prompt),
    )


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be a whole number, got {value!r}", argument=name)
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low} and {high}, got {value}", argument=name)
    return value


def _check_number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a number, got {value!r}", argument=name)
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low:g} and {high:g}, got {value:g}", argument=name)
    return float(value)


def _check_side(name: str, value, low: int, high: int) -> int:
    _check_int(name, value, low, high)
    if value % 8:
        raise InvalidArgument(f"{name} must be a multiple of 8, got {value}", argument=name)
    return value


def _keywords(name: str, value) -> list[str]:
    """A fresh list of the stripped, non-blank keywords (the request's own list is left untouched)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(k, str) for k in value):
        raise InvalidArgument(f"{name} must be a list of keywords", argument=name)
    return [k.strip() for k in value if k.strip()]


def _or(value, default):
    return default if value is None else value

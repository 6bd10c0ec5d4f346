"""What a generation request becomes before any model work: defaults, bounds, and a validated `Plan`.

`GenerationDefaults` holds the operator's defaults and limits; `build_plan` checks every field of a
`GenerateRequest` against them (raising `InvalidArgument` that names the field), fills in what the
request leaves out and shuffles the keyword lists reproducibly. A `Member` is one plan taking part in
a batch, with its own progress and cancellation callbacks. Nothing here touches torch or a model, so
the worker can validate a request before it queues it: an attached image (🎲 Vary's `init_image`,
⚖ Compare's `compare_with`) is decoded and checked here, with PIL, and the plan carries the decoded
picture.

`aspect_size` turns an aspect ratio into a size of about the model's native pixel count.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import PIL.Image

from viper.contracts.errors import InvalidArgument
from viper.contracts.jobs import ASPECT_RATIOS, GenerateRequest

MODES = ("fused", "reference", "fast")
MAX_GUIDANCE = 30.0
MAX_STRENGTH = 2.0
MAX_STRENGTH_SCALE = 2.0
"""The largest `GenerateRequest.strength` (a multiplier of both personalisation strengths)."""
IMAGE_FORMATS = ("PNG", "JPEG")
"""What an attached image (`init_image`, `compare_with`) may be."""
DEFAULT_COMPARE_LABELS = ("plain", "personalised")
MAX_LABEL_CHARS = 40
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
    `vary_strength` is the fraction of the schedule a 🎲 Vary re-runs when its request names no
    `init_strength` (`[engine] vary_strength`).
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
    vary_strength: float = 0.35


@dataclass
class Plan:
    """A validated request with every default resolved and the keyword lists already shuffled.

    Built by `ViperGenerator.prepare` (`build_plan`); cheap (no model work), so the worker validates a
    request before it queues it for a batch.

    `liked_strength`/`disliked_strength` are final: the request's or the defaults', times the
    request's `strength`, clamped to `MAX_STRENGTH`. `init_image` is the decoded 🎲 Vary source (RGB,
    exactly `width` x `height`) and `init_strength` the fraction of the schedule re-run from it
    (None without one); `compare_with` is the decoded ⚖ Compare image (RGB, `width` x `height`) with
    `compare_labels` for the two halves (None without one).
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
    init_image: PIL.Image.Image | None = None
    init_strength: float | None = None
    compare_with: PIL.Image.Image | None = None
    compare_labels: tuple[str, str] = DEFAULT_COMPARE_LABELS

    @property
    def method(self) -> str:
        """How the image is made: "img2img" (🎲 Vary), "compare" (⚖ Compare) or "txt2img"."""
        if self.init_image is not None:
            return "img2img"
        if self.compare_with is not None:
            return "compare"
        return "txt2img"

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
        seeds are per member and need not match, and neither do `init_image`/`init_strength`: a 🎲
        Vary starts later in the same schedule and finishes with the others, its rows carrying their
        own timestep in the shared UNet calls.
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
    size_step: int,
    truncated: Callable[[str], bool],
    mode: str | None = None,
) -> Plan:
    """Check every field (naming the bad one), fill in defaults, and shuffle the keywords.

    `native_size` is the model's native side in pixels and `size_step` the multiple its sides come
    in when an aspect ratio picks them (`aspect_size`); `truncated(prompt)` says whether a text
    encoder will cut the prompt. The shuffle follows the method (keyword order changes between
    generations) but draws from `random.Random(seed)`, liked list first, so that a seed reproduces
    its image exactly.

    Size: `width` and `height` both given win; otherwise `aspect` (one of `ASPECT_RATIOS`) picks
    both; otherwise each side is the request's, the default's, or the native side. `strength`
    (0..2, None = 1) multiplies both resolved strengths and the products are clamped to
    `MAX_STRENGTH`; 0 turns personalisation off, so the plan is the stock pipeline's. An attached
    image must be a PNG or JPEG of exactly the planned size; `init_image` and `compare_with` do not
    combine.
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
    width, height = _or(req.width, _or(d.width, native_size)), _or(req.height, _or(d.height, native_size))
    if req.aspect is not None:  # checked even when width and height win over it
        shaped = aspect_size(req.aspect, native_size, size_step, min_side=min_side, max_side=d.max_side)
        if req.width is None or req.height is None:
            width, height = shaped
    width = _check_side("width", width, min_side, d.max_side)
    height = _check_side("height", height, min_side, d.max_side)
    guidance = _check_number("guidance", _or(req.guidance, d.guidance), 0.0, MAX_GUIDANCE)
    liked_strength = _check_number("liked_strength", _or(req.liked_strength, d.liked_strength), 0.0, MAX_STRENGTH)
    disliked_strength = _check_number(
        "disliked_strength", _or(req.disliked_strength, d.disliked_strength), 0.0, MAX_STRENGTH
    )
    scale = _check_number("strength", _or(req.strength, 1.0), 0.0, MAX_STRENGTH_SCALE)
    liked_strength = min(liked_strength * scale, MAX_STRENGTH)
    disliked_strength = min(disliked_strength * scale, MAX_STRENGTH)
    if req.init_strength is not None:  # checked even without an init_image, where it is unused
        _check_fraction("init_strength", req.init_strength)
    if req.init_image is not None and req.compare_with is not None:
        raise InvalidArgument("compare_with cannot be combined with init_image", argument="compare_with")
    init_image = compare_with = init_strength = None
    if req.init_image is not None:
        init_image = decode_image("init_image", req.init_image, width, height)
        init_strength = _check_fraction("init_strength", _or(req.init_strength, d.vary_strength))
    if req.compare_with is not None:
        compare_with = decode_image("compare_with", req.compare_with, width, height)
    labels = _labels(req.compare_labels)
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
        init_image=init_image,
        init_strength=init_strength,
        compare_with=compare_with,
        compare_labels=labels,
    )


def aspect_size(
    aspect: str, native_size: int, step: int, *, min_side: int | None = None, max_side: int | None = None
) -> tuple[int, int]:
    """The (width, height) for aspect ratio `aspect` ("16:9", one of `ASPECT_RATIOS`) on a model
    whose native image is `native_size` square and whose sides come in multiples of `step` pixels.

    Sizes keep about the native pixel count N = native_size²: for every width that is a multiple of
    `step` (within `min_side`..`max_side`), the height is floor(N / width / step) * step, and the
    pair whose ratio is nearest the target's in log space wins (a tie: the larger area). A portrait
    ratio is its landscape transpose. SDXL (1024, step 64): 1:1 1024x1024, 4:3 1152x896, 3:2
    1216x832, 16:9 1344x768, 21:9 1536x640. Pure arithmetic: no torch, no model. An unknown ratio
    raises `InvalidArgument` for the argument "ar", naming the accepted ones.
    """
    if not isinstance(aspect, str) or aspect.strip() not in ASPECT_RATIOS:
        raise InvalidArgument(
            f"ar must be one of {', '.join(ASPECT_RATIOS)}, got {aspect!r}", argument="ar"
        )
    across, down = (int(part) for part in aspect.strip().split(":"))
    if across < down:
        height, width = _landscape_size(down / across, native_size, step, min_side, max_side)
        return width, height
    return _landscape_size(across / down, native_size, step, min_side, max_side)


def _landscape_size(ratio: float, native_size: int, step: int, min_side: int | None, max_side: int | None):
    pixels = native_size * native_size
    low = max(step, min_side or step)
    low = -(-low // step) * step  # the smallest multiple of step that is at least min_side
    target = math.log(ratio)
    best: tuple | None = None
    width = low
    while max_side is None or width <= max_side:
        height = pixels // width // step * step  # floor(N / width / step) * step
        if height < low:
            break
        key = (abs(math.log(width / height) - target), -width * height)
        if best is None or key < best[0]:
            best = (key, (width, height))
        width += step
    if best is None:  # not even one square of the smallest side fits the native pixel count
        return low, low
    return best[1]


def vary_start_step(steps: int, init_strength: float) -> int:
    """The step a 🎲 Vary starts at: it runs the last int(steps * init_strength) of `steps` (at least
    one), as `StableDiffusionXLImg2ImgPipeline` counts its `strength`."""
    run = max(1, min(int(steps * init_strength), steps))
    return steps - run


def decode_image(name: str, data, width: int, height: int) -> PIL.Image.Image:
    """The RGB picture in `data` (PNG or JPEG bytes of exactly `width` x `height`), or
    `InvalidArgument` naming `name`. The size is checked from the header, before any pixel is
    decoded, so an oversized upload costs nothing."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise InvalidArgument(f"{name} must be the bytes of a PNG or JPEG image", argument=name)
    try:
        image = PIL.Image.open(io.BytesIO(bytes(data)))
    except Exception as exc:  # not an image, or one PIL refuses to open (a decompression bomb...)
        raise InvalidArgument(f"{name} is not a PNG or JPEG image", argument=name) from exc
    if image.format not in IMAGE_FORMATS:
        raise InvalidArgument(f"{name} must be a PNG or JPEG image, got {image.format}", argument=name)
    if image.size != (width, height):
        raise InvalidArgument(
            f"{name} is {image.size[0]}x{image.size[1]}, but this request paints {width}x{height}",
            argument=name,
        )
    try:
        return image.convert("RGB")
    except Exception as exc:  # truncated or corrupt pixel data
        raise InvalidArgument(f"{name} could not be decoded", argument=name) from exc


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


def _check_fraction(name: str, value) -> float:
    """A number in (0, 1]: a fraction of the schedule."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a number, got {value!r}", argument=name)
    if not 0 < value <= 1:
        raise InvalidArgument(f"{name} must be above 0 and at most 1, got {value:g}", argument=name)
    return float(value)


def _labels(value) -> tuple[str, str]:
    """Two short one-line labels for ⚖ Compare's halves (left, right)."""
    if value is None:
        return DEFAULT_COMPARE_LABELS
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InvalidArgument("compare_labels must be two labels (left, right)", argument="compare_labels")
    if not all(isinstance(label, str) for label in value):
        raise InvalidArgument("compare_labels must be text", argument="compare_labels")
    left, right = (" ".join(label.split())[:MAX_LABEL_CHARS] for label in value)
    return left, right


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

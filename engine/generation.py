"""Personalised SDXL generation: the ViPer method run on a diffusers SDXL pipeline.

ViPer (DESIGN.md section 2) personalises an image without fine-tuning. The member's liked and
disliked keyword lists are encoded like a prompt and its negative, added to the user's prompt
embeddings, and each denoising step mixes four noise predictions:

    noise = uncond + g * (cond + a * liked - uncond - b * disliked)

where `uncond` is conditioned on negative prompt + disliked, `cond` on prompt + liked, and `liked` /
`disliked` on the keyword embeddings alone (`engine.guidance.viper_guidance`). The reference code
gets the four from two UNet calls of batch 2; here the default ("fused") is one call of batch 4,
which is the same maths in fewer, larger kernels. The reference layout stays available as
`mode="reference"` (tests and benchmarks compare the two), and `mode="fast"` trades a measured
amount of exactness for fewer UNet rows (see `engine.denoising.Denoising`).

The denoising loop is our own rather than the stock pipeline's `__call__`: with personalisation off
it repeats the stock loop's arithmetic exactly (a test checks it bit for bit), and every request's
state lives in its own object, so one UNet call can serve several members at once
(`generate_batch`, fed by `engine.batching`). A request runs through the same code alone or batched;
only the batch size of the UNet's kernels differs, which moves results by float rounding at most.
The refiner stage runs in the same loop (not through the refiner pipeline's `__call__`), so it is
batched too and reproduces the stock refiner's arithmetic.

This module is the entry point, `ViperGenerator`; the parts live beside it:

- `engine.plan`: defaults, bounds and request validation (`GenerationDefaults`, `Plan`, `Member`);
- `engine.conditioning`: prompts and keyword lists encoded into the UNet's per-branch inputs;
- `engine.guidance`: the step's guidance arithmetic, as pure functions;
- `engine.denoising`: one stage's step loop over many members, with out-of-memory retries;
- `engine.stages`: the base and refiner stages around it (and a 🎲 Vary's later start);
- `engine.vae`: latents to pixels and back;
- `engine.compare`: ⚖ Compare's side-by-side image, composed off the GPU.

A request is one of three methods (`Plan.method`, reported in `GenerateResult.method`): "txt2img",
"img2img" (🎲 Vary: `init_image` encoded, noised and only the tail of the schedule re-run, in the
same batched loop) and "compare" (⚖ Compare: rendered as usual, then set beside `compare_with`).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import PIL.Image
import torch

from engine.compare import compose
from engine.conditioning import (
    REFINER_AESTHETIC_SCORE,
    REFINER_NEGATIVE_AESTHETIC_SCORE,
    prompt_truncated,
)
from engine.denoising import out_of_memory_failure
from engine.plan import (
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STRENGTH,
    MODES,
    GenerationDefaults,
    Member,
    Plan,
    StepCallback,
    StopCheck,
    aspect_size,
    build_plan,
    check_mode,
)
from engine.stages import denoise_members
from engine.vae import decode_latents
from viper.contracts.errors import InvalidArgument, ModelUnavailable
from viper.contracts.jobs import GenerateRequest, GenerateResult

__all__ = [
    "MAX_GUIDANCE",
    "MAX_SEED",
    "MAX_STRENGTH",
    "MODES",
    "REFINER_AESTHETIC_SCORE",
    "REFINER_NEGATIVE_AESTHETIC_SCORE",
    "GenerationDefaults",
    "ImageCheck",
    "Member",
    "Plan",
    "Rendered",
    "StepCallback",
    "StopCheck",
    "ViperGenerator",
    "aspect_size",
]


class ImageCheck(Protocol):
    """An image safety check (`engine.safety.SafetyChecker`): one verdict per image, True = flagged."""

    def check(self, images: Sequence[PIL.Image.Image]) -> list[bool]: ...


@dataclass
class Rendered:
    """A finished image before PNG encoding, so that the encoding can run off the GPU's critical path."""

    plan: Plan
    image: PIL.Image.Image
    started: float


class ViperGenerator:
    """Generates personalised images with one loaded SDXL pipeline (and, optionally, its refiner).

    Build it with `engine.sdxl.load_generator`. Its methods are synchronous and meant to run in a
    worker thread. Calls are serialised by a lock: they share one GPU, schedulers and the fp16 VAE's
    dtype change for a decode are per-call state. Several members share a call through
    `generate_batch`; `generate` is a batch of one.
    """

    def __init__(
        self,
        pipe,
        *,
        model_name: str,
        is_tiny: bool = False,
        refiner=None,
        defaults: GenerationDefaults | None = None,
        safety: ImageCheck | None = None,
    ):
        for component in (pipe, refiner):
            if component is not None and component.unet.config.time_cond_proj_dim is not None:
                raise ModelUnavailable(
                    f"{model_name}: UNets with a guidance embedding (LCM-style) are not supported",
                )
        self.pipe = pipe
        self.refiner = refiner
        self.model_name = model_name
        self.is_tiny = is_tiny
        self.device = pipe.device
        self.defaults = defaults or GenerationDefaults()
        # The image safety check `to_result` runs on every image (`engine.safety`); None: unchecked.
        self.safety = safety
        check_mode(self.defaults.mode)
        if self.defaults.fast_refresh < 1:
            raise InvalidArgument("fast_refresh must be 1 or more", argument="fast_refresh")
        self.native_size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        # Sides an aspect ratio picks are multiples of 8 latent pixels (64 px for SDXL, 16 for the
        # tiny model): every UNet level then divides them evenly.
        self.size_step = pipe.vae_scale_factor * 8
        self._lock = threading.Lock()

    # 1. Public entry points

    def generate(
        self,
        req: GenerateRequest,
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
        mode: str | None = None,
    ) -> GenerateResult:
        """Generate one personalised image for `req` and return it as PNG bytes with its settings.

        `on_step(i, n)` is called after each of the n denoising steps (base and refiner together);
        `should_stop()` is asked between steps and, when true, ends the job with `JobCancelled`.
        `mode` picks how the four conditionings reach the UNet: "fused" (one call of batch 4),
        "reference" (two calls of batch 2, as the ViPer reference code does) or "fast" (fused, with
        the liked/disliked branches refreshed every `defaults.fast_refresh` steps); None means
        `defaults.mode`. Invalid requests raise `InvalidArgument` naming the field before any model
        work starts.
        """
        member = Member(self.prepare(req, mode), on_step=on_step, should_stop=should_stop)
        return _unwrap(self.generate_batch([member])[0])

    def generate_latents(
        self,
        req: GenerateRequest,
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
        mode: str | None = None,
    ) -> torch.Tensor:
        """The final latents `generate` would decode: for benchmarks of the denoiser alone and for
        comparisons that need floats rather than 8-bit pixels."""
        member = Member(self.prepare(req, mode), on_step=on_step, should_stop=should_stop)
        return _unwrap(self.denoise_batch([member])[0])

    def generate_batch(self, members: list[Member]) -> list[GenerateResult | BaseException]:
        """Generate an image for every member, sharing UNet calls; one outcome per member, in order.

        An outcome is the member's `GenerateResult`, or the exception that ended that member alone
        (`JobCancelled` when its `should_stop` said so, `JobFailed` when the GPU ran out of memory
        even for one image, ...): one member's failure never ends the others. All members must
        share `Plan.batch_key`.
        """
        return [o if isinstance(o, BaseException) else self.to_result(o) for o in self.render_batch(members)]

    def render_batch(self, members: list[Member]) -> list[Rendered | BaseException]:
        """`generate_batch` up to the decoded images: the GPU part, so PNG encoding can overlap the
        next batch (the worker runs `to_result` outside its GPU lock)."""
        started = time.perf_counter()
        with self._lock, torch.no_grad():
            outcomes: list = self._denoise(members)
            for i, (member, latents) in enumerate(zip(members, outcomes)):
                if isinstance(latents, BaseException):
                    continue
                try:
                    outcomes[i] = Rendered(member.plan, self.decode(latents), started)
                except Exception as exc:  # this member's decode failed; the others still get theirs
                    outcomes[i] = out_of_memory_failure(exc)
        return outcomes

    def denoise_batch(self, members: list[Member]) -> list[torch.Tensor | BaseException]:
        """The final latents of every member (or the exception that ended it), without decoding."""
        with self._lock, torch.no_grad():
            return self._denoise(members)

    def to_result(self, rendered: Rendered) -> GenerateResult:
        """Encode a rendered image as PNG and describe how it was made.

        For ⚖ Compare this is where the render is set beside `compare_with` (`engine.compare`): after
        the GPU part, so the worker runs it outside its GPU lock. `width`/`height` then describe the
        composite, `steps` the steps the plan asked for (a Vary ran only its tail of them).

        With a safety checker (`self.safety`) the image is judged here too, in the same thread as
        its encoding, and the verdict goes in `nsfw`; a Compare's two halves are judged in one
        batch and it is flagged when either is. The pixels are never changed."""
        plan = rendered.plan
        image = rendered.image
        nsfw = False
        if self.safety is not None:
            halves = [image] if plan.compare_with is None else [image, plan.compare_with]
            nsfw = any(self.safety.check(halves))
        if plan.compare_with is not None:
            image = compose(image, plan.compare_with, plan.compare_labels)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return GenerateResult(
            png=buffer.getvalue(),
            seed=plan.seed,
            width=image.width,
            height=image.height,
            steps=plan.steps,
            model=self.model_name,
            is_tiny=self.is_tiny,
            prompt_truncated=plan.prompt_truncated,
            liked_used=plan.liked if plan.personalised else [],
            disliked_used=plan.disliked if plan.personalised else [],
            seconds=time.perf_counter() - rendered.started,
            method=plan.method,
            liked_strength=plan.liked_strength,
            disliked_strength=plan.disliked_strength,
            negative_prompt=plan.negative_prompt,
            nsfw_checked=self.safety is not None,
            nsfw=nsfw,
        )

    def warm_up(self, members: tuple[int, ...] = (1, 2), steps: int = 2) -> None:
        """Run short throw-away batches of each size in `members` at the default image size.

        With torch.compile the first calls compile the UNet (for the first batch shape, then once
        more with a dynamic batch dimension); doing it here keeps that wait away from the first
        members. Fast mode's two- and four-row steps are both covered from two steps on.
        """
        for count in members:
            requests = [
                GenerateRequest(prompt="warm-up", liked=["warm"], disliked=["cold"], seed=i, steps=steps)
                for i in range(count)
            ]
            batch = [Member(self.prepare(req)) for req in requests]
            for outcome in self.denoise_batch(batch):
                if isinstance(outcome, BaseException):
                    raise outcome

    def prepare(self, req: GenerateRequest, mode: str | None = None) -> Plan:
        """Check every field (naming the bad one), fill in defaults, and shuffle the keywords.

        Cheap (no model work), though an attached image is decoded and checked here (PIL), so a
        caller on an event loop should run it in a thread. The shuffle follows the method (keyword
        order changes between generations) but draws from `random.Random(seed)`, liked list first,
        so that a seed reproduces its image exactly.
        """
        return build_plan(
            req,
            self.defaults,
            native_size=self.native_size,
            size_step=self.size_step,
            truncated=lambda prompt: prompt_truncated(self.pipe, prompt),
            mode=mode,
        )

    # 2. Denoising (engine.stages, engine.denoising)

    def _denoise(self, members: list[Member]) -> list[torch.Tensor | BaseException]:
        """Run every member through the base model, then the refiner when one is loaded."""
        return denoise_members(
            members, pipe=self.pipe, refiner=self.refiner, device=self.device, defaults=self.defaults
        )

    # 3. Decoding

    def decode(self, latents: torch.Tensor) -> PIL.Image.Image:
        """Decode latents to a PIL image as the stock pipeline does.

        The SDXL VAE overflows in fp16 (its config says `force_upcast`), so for the decode it runs in
        float32 and goes back to fp16 afterwards, keeping its memory small between images. That
        dtype flip is why it must not overlap another call: `render_batch` runs it under the lock.
        """
        with torch.no_grad():
            return self._decode(latents)

    def _decode(self, latents: torch.Tensor) -> PIL.Image.Image:
        return decode_latents(self.pipe, latents)


def _unwrap(outcome):
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome

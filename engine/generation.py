"""Personalised SDXL generation: the ViPer method run on a diffusers SDXL pipeline.

ViPer (DESIGN.md section 2) personalises an image without fine-tuning. The member's liked and
disliked keyword lists are encoded like a prompt and its negative, added to the user's prompt
embeddings, and each denoising step mixes four noise predictions:

    noise = uncond + g * (cond + a * liked - uncond - b * disliked)

where `uncond` is conditioned on negative prompt + disliked, `cond` on prompt + liked, and `liked` /
`disliked` on the keyword embeddings alone. The reference code gets the four from two UNet calls of
batch 2; here the default ("fused") is one call of batch 4, which is the same maths in fewer, larger
kernels. The reference layout stays available as `mode="reference"` so benchmarks can compare them.

The denoising loop is our own rather than the stock pipeline's `__call__`: with personalisation off
it repeats the stock loop's arithmetic exactly (a test checks it bit for bit), and its per-request
state lives in `_Denoising` objects handed to `_denoise_step` as a list, so that a later change can
put several members' requests in one UNet call.
"""

from __future__ import annotations

import inspect
import io
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

import PIL.Image
import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from viper.errors import InvalidArgument, JobCancelled, ModelUnavailable
from viper.jobs import GenerateRequest, GenerateResult

MODES = ("fused", "reference")
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
    and the tiny model must still accept its own 64 px. `refiner_switch` is the fraction of the schedule the base model runs
    before the refiner takes over (0.8 in the method); it only matters when a refiner is loaded.
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


@dataclass
class _Plan:
    """A validated request with every default resolved and the keyword lists already shuffled."""

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
    fused: bool
    prompt_truncated: bool

    @property
    def personalised(self) -> bool:
        """False when the member has no keywords or both strengths are 0: then we are stock SDXL."""
        has_keywords = bool(self.liked or self.disliked)
        return has_keywords and (self.liked_strength != 0 or self.disliked_strength != 0)

    @property
    def guided(self) -> bool:
        """Classifier-free guidance, as the stock pipeline decides it: only for a scale above 1."""
        return self.guidance > 1


@dataclass
class _Conditioning:
    """UNet conditioning for every branch of one request, stacked along the batch axis.

    Rows are ordered uncond, cond, disliked, liked (or just cond without guidance), so the first two
    rows are exactly the batch the stock pipeline builds.
    """

    hidden_states: torch.Tensor
    text_embeds: torch.Tensor
    time_ids: torch.Tensor

    @property
    def rows(self) -> int:
        return self.hidden_states.shape[0]

    def slice(self, start: int, stop: int) -> _Conditioning:
        return _Conditioning(
            self.hidden_states[start:stop], self.text_embeds[start:stop], self.time_ids[start:stop]
        )

    @staticmethod
    def cat(parts: list[_Conditioning]) -> _Conditioning:
        return _Conditioning(
            torch.cat([p.hidden_states for p in parts]),
            torch.cat([p.text_embeds for p in parts]),
            torch.cat([p.time_ids for p in parts]),
        )


@dataclass
class _Denoising:
    """The state of one request's denoising: its own latents, scheduler copy and position.

    Each request owns a scheduler instance because schedulers keep a step counter; requests that
    share a UNet call may sit at different steps of different schedules.
    """

    latents: torch.Tensor
    scheduler: SchedulerMixin
    timesteps: torch.Tensor
    cond: _Conditioning
    guidance: float
    liked_strength: float
    disliked_strength: float
    step_kwargs: dict
    index: int = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.timesteps)

    @property
    def timestep(self) -> torch.Tensor:
        return self.timesteps[self.index]

    def model_input(self) -> torch.Tensor:
        """The latents repeated once per conditioning row and scaled for the current timestep."""
        return self.scheduler.scale_model_input(torch.cat([self.latents] * self.cond.rows), self.timestep)

    def guide(self, noise: torch.Tensor) -> torch.Tensor:
        """Combine the per-row predictions into one, with the stock and reference operation order."""
        if self.cond.rows == 1:
            return noise
        if self.cond.rows == 2:
            uncond, cond = noise.chunk(2)
            return uncond + self.guidance * (cond - uncond)
        uncond, cond, disliked, liked = noise.chunk(4)
        a, b = self.liked_strength, self.disliked_strength
        return uncond + self.guidance * (cond + a * liked - uncond - b * disliked)

    def advance(self, noise: torch.Tensor) -> None:
        self.latents = self.scheduler.step(
            self.guide(noise), self.timestep, self.latents, **self.step_kwargs, return_dict=False
        )[0]
        self.index += 1


def _unet_call(unet, sample: torch.Tensor, timestep: torch.Tensor, cond: _Conditioning) -> torch.Tensor:
    added = {"text_embeds": cond.text_embeds, "time_ids": cond.time_ids}
    return unet(
        sample, timestep, encoder_hidden_states=cond.hidden_states, added_cond_kwargs=added, return_dict=False
    )[0]


def _denoise_step(unet, jobs: list[_Denoising], *, fused: bool) -> None:
    """Advance every job by one step.

    fused: one UNet call over all rows of all jobs; each row carries its own job's timestep, which the
    UNet accepts as a per-sample vector. Otherwise: calls of batch 2 (uncond+cond, then
    disliked+liked), one job at a time, as the reference implementation runs them.
    """
    inputs = [job.model_input() for job in jobs]
    if fused:
        timesteps = torch.cat([job.timestep.expand(job.cond.rows) for job in jobs])
        cond = _Conditioning.cat([job.cond for job in jobs])
        noise = _unet_call(unet, torch.cat(inputs), timesteps, cond)
        predictions = noise.split([job.cond.rows for job in jobs])
    else:
        predictions = [
            torch.cat(
                [
                    _unet_call(unet, sample[start : start + 2], job.timestep, job.cond.slice(start, start + 2))
                    for start in range(0, job.cond.rows, 2)
                ]
            )
            for job, sample in zip(jobs, inputs)
        ]
    for job, noise in zip(jobs, predictions):
        job.advance(noise)


def _scheduler_step_kwargs(scheduler, generator: torch.Generator) -> dict:
    """The optional `step` arguments this scheduler takes (eta=0 for DDIM-like ones, the generator)."""
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


def _timestep_cutoff(scheduler, switch: float) -> int:
    """The training timestep where a base/refiner split at fraction `switch` of the schedule falls."""
    train_steps = scheduler.config.num_train_timesteps
    return int(round(train_steps - switch * train_steps))


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


class ViperGenerator:
    """Generates personalised images with one loaded SDXL pipeline (and, optionally, its refiner).

    Build it with `engine.sdxl.load_generator`. `generate` is synchronous and meant to run in a worker
    thread. Calls are serialised by a lock: they share one GPU, the refiner pipeline keeps per-call
    state, and an fp16 VAE changes dtype for the length of a decode.
    """

    def __init__(
        self,
        pipe,
        *,
        model_name: str,
        is_tiny: bool = False,
        refiner=None,
        defaults: GenerationDefaults | None = None,
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
        self.native_size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        self._lock = threading.Lock()

    def generate(
        self,
        req: GenerateRequest,
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
        mode: str = "fused",
    ) -> GenerateResult:
        """Generate one personalised image for `req` and return it as PNG bytes with its settings.

        `on_step(i, n)` is called after each of the n denoising steps (base and refiner together);
        `should_stop()` is asked between steps and, when true, ends the job with `JobCancelled`.
        `mode` picks how the four conditionings reach the UNet: "fused" (one call of batch 4) or
        "reference" (two calls of batch 2, as the ViPer reference code does). Invalid requests raise
        `InvalidArgument` naming the field before any model work starts.
        """
        started = time.perf_counter()
        # 1. Validate the request, resolve defaults and shuffle the keyword lists
        plan = self._plan(req, mode)
        with self._lock, torch.no_grad():
            # 2. Denoise with the base model, then the refiner when one is loaded
            latents = self._denoise(plan, on_step, should_stop)
            # 3. Decode the latents into an image
            image = self._decode(latents)
        # 4. Encode the image as PNG
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return GenerateResult(
            png=buffer.getvalue(),
            seed=plan.seed,
            width=plan.width,
            height=plan.height,
            steps=plan.steps,
            model=self.model_name,
            is_tiny=self.is_tiny,
            prompt_truncated=plan.prompt_truncated,
            liked_used=plan.liked,
            disliked_used=plan.disliked,
            seconds=time.perf_counter() - started,
        )

    def generate_latents(
        self,
        req: GenerateRequest,
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
        mode: str = "fused",
    ) -> torch.Tensor:
        """The final latents `generate` would decode: for benchmarks of the denoiser alone and for
        comparisons that need floats rather than 8-bit pixels."""
        plan = self._plan(req, mode)
        with self._lock, torch.no_grad():
            return self._denoise(plan, on_step, should_stop)

    def _plan(self, req: GenerateRequest, mode: str) -> _Plan:
        """Check every field (naming the bad one), fill in defaults, and shuffle the keywords.

        The shuffle follows the method (keyword order changes between generations) but draws from
        `random.Random(seed)`, liked list first, so that a seed reproduces its image exactly.
        """
        d = self.defaults
        if mode not in MODES:
            raise InvalidArgument(f"mode must be one of {', '.join(MODES)}, got {mode!r}", argument="mode")
        if not isinstance(req.prompt, str) or not req.prompt.strip():
            raise InvalidArgument("prompt must not be empty", argument="prompt")
        if not isinstance(req.negative_prompt, str):
            raise InvalidArgument("negative_prompt must be text", argument="negative_prompt")
        liked = _keywords("liked", req.liked)
        disliked = _keywords("disliked", req.disliked)
        seed = _check_int("seed", req.seed, 0, MAX_SEED)
        steps = _check_int("steps", _or(req.steps, d.steps), 1, d.max_steps)
        min_side = d.min_side if d.min_side is not None else max(64, self.native_size // 4)
        width = _check_side("width", _or(req.width, _or(d.width, self.native_size)), min_side, d.max_side)
        height = _check_side("height", _or(req.height, _or(d.height, self.native_size)), min_side, d.max_side)
        guidance = _check_number("guidance", _or(req.guidance, d.guidance), 0.0, MAX_GUIDANCE)
        liked_strength = _check_number(
            "liked_strength", _or(req.liked_strength, d.liked_strength), 0.0, MAX_STRENGTH
        )
        disliked_strength = _check_number(
            "disliked_strength", _or(req.disliked_strength, d.disliked_strength), 0.0, MAX_STRENGTH
        )
        if req.shuffle:
            rng = random.Random(seed)
            rng.shuffle(liked)
            rng.shuffle(disliked)
        return _Plan(
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
            fused=mode == "fused",
            prompt_truncated=self._is_truncated(req.prompt),
        )

    def _is_truncated(self, prompt: str) -> bool:
        """Whether a text encoder will cut the prompt at its token window (77 for CLIP)."""
        tokenizers = [t for t in (self.pipe.tokenizer, self.pipe.tokenizer_2) if t is not None]
        return any(len(t(prompt, verbose=False).input_ids) > t.model_max_length for t in tokenizers)

    def _conditioning(self, plan: _Plan) -> _Conditioning:
        """Encode prompt, negative prompt and keyword lists into the UNet's per-branch inputs.

        Both encodes go through the pipeline's own `encode_prompt` (both text encoders). The keyword
        lists are encoded as a prompt ("liked") and its negative ("disliked"); an empty list is
        encoded as the empty string, as the reference does, so its branch stays in the mix and the
        guidance weights keep summing to 1 + g * (a - b). The pooled embeddings and time ids of every
        branch are the user's: the disliked branch reuses the negative prompt's pooled embedding and
        the liked branch the prompt's, exactly as the reference's second UNet call reuses the first
        call's added conditioning. Without guidance (scale <= 1) only the cond branch exists, so the
        keywords act through the liked embeddings alone; the reference has no such case.
        """
        pipe = self.pipe
        prompt_embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            prompt=plan.prompt,
            device=self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=plan.guided,
            negative_prompt=_negative_for_encoder(plan),
        )
        if plan.personalised:
            liked_embeds, disliked_embeds, _, _ = pipe.encode_prompt(
                prompt=", ".join(plan.liked),
                device=self.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=plan.guided,
                negative_prompt=", ".join(plan.disliked),
            )
            prompt_embeds = prompt_embeds + plan.liked_strength * liked_embeds
            if plan.guided:
                negative_embeds = negative_embeds + plan.disliked_strength * disliked_embeds

        # SDXL micro-conditioning: original size, crop top-left, target size (no crop, no resize).
        size = (plan.height, plan.width)
        time_ids = torch.tensor([size + (0, 0) + size], dtype=prompt_embeds.dtype).to(self.device)
        if not plan.guided:
            branches = [(prompt_embeds, pooled)]
        elif not plan.personalised:
            branches = [(negative_embeds, negative_pooled), (prompt_embeds, pooled)]
        else:
            branches = [
                (negative_embeds, negative_pooled),
                (prompt_embeds, pooled),
                (disliked_embeds, negative_pooled),
                (liked_embeds, pooled),
            ]
        return _Conditioning(
            hidden_states=torch.cat([hidden for hidden, _ in branches]).to(self.device),
            text_embeds=torch.cat([pooled_embeds for _, pooled_embeds in branches]).to(self.device),
            time_ids=time_ids.repeat(len(branches), 1),
        )

    def _denoise(self, plan: _Plan, on_step: StepCallback | None, should_stop: StopCheck | None) -> torch.Tensor:
        pipe = self.pipe
        generator = torch.Generator(device=self.device).manual_seed(plan.seed)

        # 1. Conditioning for every branch
        cond = self._conditioning(plan)

        # 2. Timesteps, on a scheduler of our own; the base stops at the switch point when refined
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        scheduler.set_timesteps(plan.steps, device=self.device)
        timesteps = scheduler.timesteps
        refiner_steps = 0
        if self.refiner is not None:
            cutoff = _timestep_cutoff(scheduler, self.defaults.refiner_switch)
            timesteps = timesteps[: int((timesteps >= cutoff).sum())]
            refiner_steps = self._refiner_step_count(plan.steps)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(0)

        # 3. Initial noise, drawn exactly as the stock pipeline draws it
        shape = (
            1,
            pipe.unet.config.in_channels,
            plan.height // pipe.vae_scale_factor,
            plan.width // pipe.vae_scale_factor,
        )
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=cond.hidden_states.dtype)
        job = _Denoising(
            latents=latents * scheduler.init_noise_sigma,
            scheduler=scheduler,
            timesteps=timesteps,
            cond=cond,
            guidance=plan.guidance,
            liked_strength=plan.liked_strength,
            disliked_strength=plan.disliked_strength,
            step_kwargs=_scheduler_step_kwargs(scheduler, generator),
        )

        # 4. Base denoising loop
        total = len(timesteps) + refiner_steps
        while not job.done:
            if should_stop is not None and should_stop():
                raise JobCancelled("generation cancelled")
            _denoise_step(pipe.unet, [job], fused=plan.fused)
            if on_step is not None:
                on_step(job.index, total)
        if self.refiner is None:
            return job.latents

        # 5. Refiner: finishes the schedule from the switch point on the prompt alone, as in the method
        def refiner_step_end(refiner, i, t, tensors):
            if on_step is not None:
                on_step(len(timesteps) + i + 1, total)
            if should_stop is not None and should_stop():
                raise JobCancelled("generation cancelled")
            return {}

        return self.refiner(
            prompt=plan.prompt,
            negative_prompt=_negative_for_encoder(plan),
            image=job.latents,
            num_inference_steps=plan.steps,
            denoising_start=self.defaults.refiner_switch,
            guidance_scale=plan.guidance,
            generator=generator,
            output_type="latent",
            callback_on_step_end=refiner_step_end,
        ).images

    def _refiner_step_count(self, steps: int) -> int:
        """How many steps the refiner will run: the timesteps of its schedule below the switch point
        (exact for first-order schedulers such as SDXL's Euler)."""
        scheduler = type(self.refiner.scheduler).from_config(self.refiner.scheduler.config)
        scheduler.set_timesteps(steps)
        return int((scheduler.timesteps < _timestep_cutoff(scheduler, self.defaults.refiner_switch)).sum())

    def _decode(self, latents: torch.Tensor) -> PIL.Image.Image:
        """Decode latents to a PIL image as the stock pipeline does.

        The SDXL VAE overflows in fp16 (its config says `force_upcast`), so for the decode it runs in
        float32 and goes back to fp16 afterwards, keeping its memory small between images.
        """
        vae = self.pipe.vae
        upcast = vae.dtype == torch.float16 and vae.config.force_upcast
        if upcast:
            vae.to(dtype=torch.float32)
            latents = latents.to(torch.float32)
        try:
            mean = getattr(vae.config, "latents_mean", None)
            std = getattr(vae.config, "latents_std", None)
            if mean is not None and std is not None:
                mean = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                std = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                latents = latents * std / vae.config.scaling_factor + mean
            else:
                latents = latents / vae.config.scaling_factor
            image = vae.decode(latents, return_dict=False)[0]
        finally:
            if upcast:
                vae.to(dtype=torch.float16)
        return self.pipe.image_processor.postprocess(image, output_type="pil")[0]


def _negative_for_encoder(plan: _Plan) -> str | None:
    """The negative prompt as `encode_prompt` should see it.

    Without personalisation an empty negative prompt is passed as None, exactly as a stock pipeline
    call that names none: SDXL base then uses all-zero negative embeddings
    (`force_zeros_for_empty_prompt`), so our plain images equal stock SDXL's defaults. With
    personalisation the reference encodes the empty string and adds the disliked embeddings to it,
    so we do the same.
    """
    if plan.negative_prompt or plan.personalised:
        return plan.negative_prompt
    return None

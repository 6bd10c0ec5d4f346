"""Personalised SDXL generation: the ViPer method run on a diffusers SDXL pipeline.

ViPer (DESIGN.md section 2) personalises an image without fine-tuning. The member's liked and
disliked keyword lists are encoded like a prompt and its negative, added to the user's prompt
embeddings, and each denoising step mixes four noise predictions:

    noise = uncond + g * (cond + a * liked - uncond - b * disliked)

where `uncond` is conditioned on negative prompt + disliked, `cond` on prompt + liked, and `liked` /
`disliked` on the keyword embeddings alone. The reference code gets the four from two UNet calls of
batch 2; here the default ("fused") is one call of batch 4, which is the same maths in fewer, larger
kernels. The reference layout stays available as `mode="reference"` so benchmarks can compare them,
and `mode="fast"` trades a measured amount of exactness for fewer UNet rows (see `_Denoising`).

The denoising loop is our own rather than the stock pipeline's `__call__`: with personalisation off
it repeats the stock loop's arithmetic exactly (a test checks it bit for bit), and every request's
state lives in a `_Denoising` object, so one UNet call can serve several members at once
(`generate_batch`, fed by `engine.batching`). A request runs through the same code alone or batched;
only the batch size of the UNet's kernels differs, which moves results by float rounding at most.
The refiner stage runs in the same loop (not through the refiner pipeline's `__call__`), so it is
batched too and reproduces the stock refiner's arithmetic.
"""

from __future__ import annotations

import inspect
import io
import logging
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

from viper.contracts.errors import InvalidArgument, JobCancelled, JobFailed, ModelUnavailable
from viper.contracts.jobs import GenerateRequest, GenerateResult

log = logging.getLogger("viper.generation")

MODES = ("fused", "reference", "fast")
MAX_GUIDANCE = 30.0
MAX_STRENGTH = 2.0
# torch.Generator.manual_seed accepts any value that fits in 64 bits.
MAX_SEED = 2**64 - 1
# The stock refiner's aesthetic-score conditioning (StableDiffusionXLImg2ImgPipeline defaults).
REFINER_AESTHETIC_SCORE = 6.0
REFINER_NEGATIVE_AESTHETIC_SCORE = 2.5

StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]
NoiseCallback = Callable[[int, torch.Tensor], None]


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

    Built by `ViperGenerator.prepare`; cheap (no model work), so the worker validates a request
    before it queues it for a batch.
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
    """One request taking part in a batch, with its own progress, cancellation and diagnostics.

    `on_step(i, n)` is called after each of the member's n denoising steps (base and refiner
    together); `should_stop()` is asked before each step, and when true the member leaves the batch
    with `JobCancelled` while the others carry on. `on_noise(i, noise)`, when set, receives the
    guided noise prediction of step i (a tensor on the device): benchmarks use it to measure fast
    mode's error; it is None in production.
    """

    plan: Plan
    on_step: StepCallback | None = None
    should_stop: StopCheck | None = None
    on_noise: NoiseCallback | None = None


@dataclass
class Rendered:
    """A finished image before PNG encoding, so that the encoding can run off the GPU's critical path."""

    plan: Plan
    image: PIL.Image.Image
    started: float


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
    """The state of one request's denoising in one stage (base or refiner): its own latents,
    scheduler copy, random generator and position.

    Each request owns a scheduler instance because schedulers keep a step counter; requests that
    share a UNet call may sit at different steps of different schedules. Its state changes only in
    `advance`, after the UNet call for the step has succeeded, so a failed call (out of memory) can
    be retried without losing or repeating a step.

    Fast mode (`refresh_every` k > 1) computes the disliked and liked branches only on every k-th
    step and reuses their weighted difference `a * liked - b * disliked` in between, so those steps
    need two UNet rows instead of four. It is an approximation, measured by `bench/`, never the
    default.
    """

    latents: torch.Tensor
    scheduler: SchedulerMixin
    timesteps: torch.Tensor
    cond: _Conditioning
    guidance: float
    liked_strength: float
    disliked_strength: float
    step_kwargs: dict
    generator: torch.Generator | None = None
    refresh_every: int = 1
    on_noise: NoiseCallback | None = None
    progress_offset: int = 0
    progress_total: int = 0
    index: int = 0
    personal: torch.Tensor | None = None

    @property
    def done(self) -> bool:
        return self.index >= len(self.timesteps)

    @property
    def timestep(self) -> torch.Tensor:
        return self.timesteps[self.index]

    @property
    def rows(self) -> int:
        """UNet rows this step needs: all branches, or uncond and cond alone when fast mode reuses."""
        reuse = self.cond.rows == 4 and self.personal is not None and self.index % self.refresh_every != 0
        return 2 if reuse else self.cond.rows

    def step_cond(self) -> _Conditioning:
        rows = self.rows
        return self.cond if rows == self.cond.rows else self.cond.slice(0, rows)

    def model_input(self) -> torch.Tensor:
        """The latents repeated once per conditioning row and scaled for the current timestep."""
        return self.scheduler.scale_model_input(torch.cat([self.latents] * self.rows), self.timestep)

    def guide(self, noise: torch.Tensor) -> torch.Tensor:
        """Combine the per-row predictions into one, with the stock and reference operation order."""
        rows = self.rows
        if rows == 1:
            return noise
        if rows == 2:
            uncond, cond = noise.chunk(2)
            if self.cond.rows == 4:  # fast mode, between refreshes
                return uncond + self.guidance * (cond - uncond + self.personal)
            return uncond + self.guidance * (cond - uncond)
        uncond, cond, disliked, liked = noise.chunk(4)
        a, b = self.liked_strength, self.disliked_strength
        if self.refresh_every > 1:
            self.personal = a * liked - b * disliked
        return uncond + self.guidance * (cond + a * liked - uncond - b * disliked)

    def advance(self, noise: torch.Tensor) -> None:
        guided = self.guide(noise)
        self.latents = self.scheduler.step(
            guided, self.timestep, self.latents, **self.step_kwargs, return_dict=False
        )[0]
        if self.on_noise is not None:
            self.on_noise(self.progress_offset + self.index, guided)
        self.index += 1


def _unet_call(unet, sample: torch.Tensor, timestep: torch.Tensor, cond: _Conditioning) -> torch.Tensor:
    added = {"text_embeds": cond.text_embeds, "time_ids": cond.time_ids}
    return unet(
        sample, timestep, encoder_hidden_states=cond.hidden_states, added_cond_kwargs=added, return_dict=False
    )[0]


def _predict(unet, jobs: list[_Denoising], *, fused: bool) -> list[torch.Tensor]:
    """Every job's raw noise prediction for its current step; no job's state changes.

    fused: one UNet call over all rows of all jobs; each row carries its own job's timestep, which the
    UNet accepts as a per-sample vector. Otherwise: calls of batch 2 (uncond+cond, then
    disliked+liked), one job at a time, as the reference implementation runs them.
    """
    inputs = [job.model_input() for job in jobs]
    if fused:
        timesteps = torch.cat([job.timestep.expand(job.rows) for job in jobs])
        cond = _Conditioning.cat([job.step_cond() for job in jobs])
        noise = _unet_call(unet, torch.cat(inputs), timesteps, cond)
        return list(noise.split([job.rows for job in jobs]))
    return [
        torch.cat(
            [
                _unet_call(unet, sample[start : start + 2], job.timestep, job.cond.slice(start, start + 2))
                for start in range(0, job.rows, 2)
            ]
        )
        for job, sample in zip(jobs, inputs)
    ]


def _take(jobs: list[_Denoising], max_rows: int | None) -> list[_Denoising]:
    """The longest prefix of `jobs` whose rows fit in `max_rows` (None: all), and never less than one job."""
    if max_rows is None:
        return jobs
    taken, rows = [], 0
    for job in jobs:
        if taken and rows + job.rows > max_rows:
            break
        taken.append(job)
        rows += job.rows
    return taken


def _denoise_step(unet, jobs: list[_Denoising], *, fused: bool, max_rows: int | None = None) -> tuple[int | None, int]:
    """Advance every job by one step, in UNet calls of at most `max_rows` rows.

    When a call runs out of GPU memory, the rows per call are halved and the jobs that call held are
    tried again; a job advances only once its prediction exists, so none is skipped or stepped twice.
    A single job that still does not fit raises the error. Returns the (possibly lowered) row cap,
    for the following steps, and the number of UNet rows computed.
    """
    pending, computed = list(jobs), 0
    while pending:
        group = _take(pending, max_rows)
        rows = sum(job.rows for job in group)
        try:
            predictions = _predict(unet, group, fused=fused)
        except torch.cuda.OutOfMemoryError:
            if len(group) == 1:
                raise
            out_of_memory = True
        else:
            out_of_memory = False
        if out_of_memory:
            # Outside the except block, so the failed call's tensors are already unreachable.
            max_rows = max(rows // 2, group[0].rows)
            _release_cached_memory()
            log.warning("out of GPU memory with %d UNet rows; retrying in calls of at most %d", rows, max_rows)
            continue
        for job, noise in zip(group, predictions):
            job.advance(noise)
        computed += rows
        pending = pending[len(group) :]
    return max_rows, computed


def _release_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _out_of_memory_failure(exc: BaseException) -> BaseException:
    """What a member hears when even a batch of one cannot fit: a domain error, not a CUDA trace."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        failure = JobFailed("the GPU ran out of memory for this image; try a smaller size, or again later")
        failure.__cause__ = exc
        return failure
    return exc


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


def _stopped(member: Member) -> bool:
    return member.should_stop is not None and member.should_stop()


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
        if self.defaults.mode not in MODES:
            raise InvalidArgument(
                f"mode must be one of {', '.join(MODES)}, got {self.defaults.mode!r}", argument="mode"
            )
        if self.defaults.fast_refresh < 1:
            raise InvalidArgument("fast_refresh must be 1 or more", argument="fast_refresh")
        self.native_size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        # UNet rows computed so far (one row = one latent through the UNet once): benchmarks turn it
        # into FLOPs. A Python count, so reading it never waits for the GPU.
        self.unet_rows = 0
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
                    outcomes[i] = _out_of_memory_failure(exc)
        return outcomes

    def denoise_batch(self, members: list[Member]) -> list[torch.Tensor | BaseException]:
        """The final latents of every member (or the exception that ended it), without decoding."""
        with self._lock, torch.no_grad():
            return self._denoise(members)

    def to_result(self, rendered: Rendered) -> GenerateResult:
        """Encode a rendered image as PNG and describe how it was made."""
        plan = rendered.plan
        buffer = io.BytesIO()
        rendered.image.save(buffer, format="PNG")
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
            seconds=time.perf_counter() - rendered.started,
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

        The shuffle follows the method (keyword order changes between generations) but draws from
        `random.Random(seed)`, liked list first, so that a seed reproduces its image exactly.
        """
        d = self.defaults
        mode = _or(mode, d.mode)
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
            prompt_truncated=self._is_truncated(req.prompt),
        )

    # 2. Conditioning

    def _is_truncated(self, prompt: str) -> bool:
        """Whether a text encoder will cut the prompt at its token window (77 for CLIP)."""
        tokenizers = [t for t in (self.pipe.tokenizer, self.pipe.tokenizer_2) if t is not None]
        return any(len(t(prompt, verbose=False).input_ids) > t.model_max_length for t in tokenizers)

    def _conditioning(self, plan: Plan) -> _Conditioning:
        """Encode prompt, negative prompt and keyword lists into the UNet's per-branch inputs.

        Both encodes go through the pipeline's own `encode_prompt` (both text encoders), once per
        request: the embeddings then serve every step. The keyword lists are encoded as a prompt
        ("liked") and its negative ("disliked"); an empty list is encoded as the empty string, as
        the reference does, so its branch stays in the mix and the guidance weights keep summing to
        1 + g * (a - b). The pooled embeddings and time ids of every branch are the user's: the
        disliked branch reuses the negative prompt's pooled embedding and the liked branch the
        prompt's, exactly as the reference's second UNet call reuses the first call's added
        conditioning. Without guidance (scale <= 1) only the cond branch exists, so the keywords act
        through the liked embeddings alone; the reference has no such case.
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

    def _refiner_conditioning(self, plan: Plan) -> _Conditioning:
        """The refiner's inputs, as `StableDiffusionXLImg2ImgPipeline` builds them: the prompt alone
        (no keywords, as in the method) through the refiner's one text encoder, and time ids ending
        in an aesthetic score (6 for the prompt, 2.5 for the negative) when the refiner asks for it."""
        refiner = self.refiner
        prompt_embeds, negative_embeds, pooled, negative_pooled = refiner.encode_prompt(
            prompt=plan.prompt,
            device=self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=plan.guided,
            negative_prompt=_negative_for_encoder(plan),
        )
        size = (plan.height, plan.width)
        if refiner.config.requires_aesthetics_score:
            ids = list(size + (0, 0) + (REFINER_AESTHETIC_SCORE,))
            negative_ids = list(size + (0, 0) + (REFINER_NEGATIVE_AESTHETIC_SCORE,))
        else:
            ids = negative_ids = list(size + (0, 0) + size)
        time_ids = torch.tensor([ids], dtype=prompt_embeds.dtype)
        if plan.guided:
            negative_time_ids = torch.tensor([negative_ids], dtype=prompt_embeds.dtype)
            prompt_embeds = torch.cat([negative_embeds, prompt_embeds])
            pooled = torch.cat([negative_pooled, pooled])
            time_ids = torch.cat([negative_time_ids, time_ids])
        return _Conditioning(prompt_embeds.to(self.device), pooled.to(self.device), time_ids.to(self.device))

    # 3. Denoising

    def _denoise(self, members: list[Member]) -> list[torch.Tensor | BaseException]:
        """Run every member through the base model, then the refiner when one is loaded."""
        if len({m.plan.batch_key for m in members}) > 1:
            raise ValueError("members of one batch must share width, height, steps and mode (Plan.batch_key)")
        outcomes: list = [None] * len(members)
        live: dict[int, _Denoising] = {}
        for i, member in enumerate(members):
            try:
                if _stopped(member):
                    outcomes[i] = JobCancelled("generation cancelled")
                else:
                    live[i] = self._start_base(member)
            except Exception as exc:
                outcomes[i] = _out_of_memory_failure(exc)
        self._run_stage(self.pipe.unet, members, live, outcomes)
        if self.refiner is not None:
            refining: dict[int, _Denoising] = {}
            for i, base in live.items():
                try:
                    refining[i] = self._start_refiner(members[i], base)
                except Exception as exc:
                    outcomes[i] = _out_of_memory_failure(exc)
            live = refining
            self._run_stage(self.refiner.unet, members, live, outcomes)
        for i, job in live.items():
            outcomes[i] = job.latents
        return outcomes

    def _start_base(self, member: Member) -> _Denoising:
        """Encode the member's conditioning and draw its initial noise from its own seeded generator,
        exactly as the stock pipeline draws it, so its image does not depend on its batch."""
        plan = member.plan
        pipe = self.pipe
        generator = torch.Generator(device=self.device).manual_seed(plan.seed)
        cond = self._conditioning(plan)

        # Timesteps, on a scheduler of our own; the base stops at the switch point when refined
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

        shape = (
            1,
            pipe.unet.config.in_channels,
            plan.height // pipe.vae_scale_factor,
            plan.width // pipe.vae_scale_factor,
        )
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=cond.hidden_states.dtype)
        return _Denoising(
            latents=latents * scheduler.init_noise_sigma,
            scheduler=scheduler,
            timesteps=timesteps,
            cond=cond,
            guidance=plan.guidance,
            liked_strength=plan.liked_strength,
            disliked_strength=plan.disliked_strength,
            step_kwargs=_scheduler_step_kwargs(scheduler, generator),
            generator=generator,
            refresh_every=self.defaults.fast_refresh if plan.mode == "fast" else 1,
            on_noise=member.on_noise,
            progress_total=len(timesteps) + refiner_steps,
        )

    def _start_refiner(self, member: Member, base: _Denoising) -> _Denoising:
        """The refiner stage for a member whose base stage has finished, as the stock refiner runs it
        with `denoising_start`: no added noise, the schedule's tail below the switch point."""
        plan = member.plan
        cond = self._refiner_conditioning(plan)
        scheduler = type(self.refiner.scheduler).from_config(self.refiner.scheduler.config)
        scheduler.set_timesteps(plan.steps, device=self.device)
        count = self._refiner_step_count(plan.steps)
        start = len(scheduler.timesteps) - count
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        latents = base.latents.to(device=self.device, dtype=cond.hidden_states.dtype)
        return _Denoising(
            latents=torch.cat([latents]),
            scheduler=scheduler,
            timesteps=scheduler.timesteps[start:],
            cond=cond,
            guidance=plan.guidance,
            liked_strength=0.0,
            disliked_strength=0.0,
            step_kwargs=_scheduler_step_kwargs(scheduler, base.generator),
            generator=base.generator,
            on_noise=member.on_noise,
            progress_offset=base.index,
            progress_total=base.progress_total,
        )

    def _run_stage(self, unet, members: list[Member], live: dict[int, _Denoising], outcomes: list) -> None:
        """Step every live job of one stage to its end, together.

        Before each step a member whose `should_stop` says so leaves with `JobCancelled`; after it,
        each member hears its own progress. `live` keeps the jobs that finished the stage; members
        that left get their outcome in `outcomes`. Nothing here waits for the GPU: progress is
        plain Python counting, so the host keeps queueing kernels ahead of the device.
        """
        max_rows: int | None = None
        while True:
            for i in [i for i, job in live.items() if not job.done]:
                try:
                    stop = _stopped(members[i])
                except Exception as exc:
                    outcomes[i], stop = exc, True
                else:
                    if stop:
                        outcomes[i] = JobCancelled("generation cancelled")
                if stop:
                    del live[i]
            running = [i for i, job in live.items() if not job.done]
            if not running:
                return
            fused = members[running[0]].plan.fused
            try:
                max_rows, rows = _denoise_step(unet, [live[i] for i in running], fused=fused, max_rows=max_rows)
            except Exception as exc:
                for i in running:
                    outcomes[i] = _out_of_memory_failure(exc)
                    del live[i]
                continue
            self.unet_rows += rows
            for i in running:
                job, on_step = live[i], members[i].on_step
                if on_step is None:
                    continue
                try:
                    on_step(job.progress_offset + job.index, job.progress_total)
                except Exception as exc:
                    outcomes[i] = exc
                    del live[i]

    def _refiner_step_count(self, steps: int) -> int:
        """How many steps the refiner runs: the timesteps of its schedule below the switch point, plus
        one for second-order schedulers whose cut would split a step, as the stock refiner counts.
        Counted on the CPU, so no step of the loop waits for the GPU."""
        scheduler = type(self.refiner.scheduler).from_config(self.refiner.scheduler.config)
        scheduler.set_timesteps(steps)
        count = int((scheduler.timesteps < _timestep_cutoff(scheduler, self.defaults.refiner_switch)).sum())
        if scheduler.order == 2 and count % 2 == 0:
            count += 1
        return count

    # 4. Decoding

    def decode(self, latents: torch.Tensor) -> PIL.Image.Image:
        """Decode latents to a PIL image as the stock pipeline does.

        The SDXL VAE overflows in fp16 (its config says `force_upcast`), so for the decode it runs in
        float32 and goes back to fp16 afterwards, keeping its memory small between images. That
        dtype flip is why it must not overlap another call: `render_batch` runs it under the lock.
        """
        with torch.no_grad():
            return self._decode(latents)

    def _decode(self, latents: torch.Tensor) -> PIL.Image.Image:
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


def _unwrap(outcome):
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _negative_for_encoder(plan: Plan) -> str | None:
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

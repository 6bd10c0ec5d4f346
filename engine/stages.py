"""The base and refiner stages of a batch: each member's schedule, initial noise and conditioning.

`denoise_members` runs every member of a batch through the SDXL base and then, when one is loaded,
the refiner, as the stock pipelines would run them one at a time: the base draws the member's
initial noise from its own seeded generator and stops at the refiner switch point; the refiner picks
up the same latents on the tail of its schedule, with no added noise. The stepping itself is
`engine.denoising.run_stage`.

A 🎲 Vary (a plan with `init_image`) starts as `StableDiffusionXLImg2ImgPipeline` does: its image is
encoded by the VAE, noised with the member's own generator to the timestep where the last
`init_strength` of the schedule begins, and only that tail is run, in the same loop and the same
UNet calls as the batch's other members (each row carries its own timestep). With a refiner, the
base runs the part of that tail above the switch point (possibly nothing) and the refiner the rest.
"""

from __future__ import annotations

import inspect

import torch
from diffusers.utils.torch_utils import randn_tensor

from engine.conditioning import encode_base, encode_refiner
from engine.denoising import Denoising, out_of_memory_failure, run_stage, stopped
from engine.plan import GenerationDefaults, Member, Plan, vary_start_step
from engine.vae import encode_image
from viper.contracts.errors import JobCancelled


def denoise_members(
    members: list[Member], *, pipe, refiner, device: torch.device, defaults: GenerationDefaults
) -> list[torch.Tensor | BaseException]:
    """Run every member through the base model, then the refiner when one is loaded: one outcome per
    member, its final latents or the exception that ended it alone."""
    if len({m.plan.batch_key for m in members}) > 1:
        raise ValueError("members of one batch must share width, height, steps and mode (Plan.batch_key)")
    outcomes: list = [None] * len(members)
    live: dict[int, Denoising] = {}
    for i, member in enumerate(members):
        try:
            if stopped(member):
                outcomes[i] = JobCancelled("generation cancelled")
            else:
                live[i] = start_base(member, pipe=pipe, refiner=refiner, device=device, defaults=defaults)
        except Exception as exc:
            outcomes[i] = out_of_memory_failure(exc)
    run_stage(pipe.unet, members, live, outcomes)
    if refiner is not None:
        refining: dict[int, Denoising] = {}
        for i, base in live.items():
            try:
                refining[i] = start_refiner(members[i], base, refiner=refiner, device=device, defaults=defaults)
            except Exception as exc:
                outcomes[i] = out_of_memory_failure(exc)
        live = refining
        run_stage(refiner.unet, members, live, outcomes)
    for i, job in live.items():
        outcomes[i] = job.latents
    return outcomes


def start_base(member: Member, *, pipe, refiner, device: torch.device, defaults: GenerationDefaults) -> Denoising:
    """Encode the member's conditioning and draw its initial noise from its own seeded generator,
    exactly as the stock pipeline draws it, so its image does not depend on its batch. A Vary's
    initial latents are its encoded image, noised as the stock img2img pipeline noises them; the VAE
    runs here, under the generator's lock, like every other GPU step."""
    plan = member.plan
    generator = torch.Generator(device=device).manual_seed(plan.seed)
    cond = encode_base(pipe, device, plan)

    # Timesteps, on a scheduler of our own; a Vary skips the head, the base stops at the switch point when refined
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(plan.steps, device=device)
    begin = base_begin(scheduler, plan)
    timesteps = scheduler.timesteps[begin:]
    refiner_steps = 0
    if refiner is not None:
        cutoff = timestep_cutoff(scheduler, defaults.refiner_switch)
        timesteps = timesteps[: int((timesteps >= cutoff).sum())]
        refiner_steps = refiner_span(refiner, plan, defaults.refiner_switch)[1]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)

    dtype = cond.hidden_states.dtype
    if plan.init_image is None:
        shape = (
            1,
            pipe.unet.config.in_channels,
            plan.height // pipe.vae_scale_factor,
            plan.width // pipe.vae_scale_factor,
        )
        latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype) * scheduler.init_noise_sigma
    else:
        image = encode_image(pipe, plan.init_image, generator=generator, dtype=dtype, device=device)
        noise = randn_tensor(image.shape, generator=generator, device=device, dtype=dtype)
        latents = scheduler.add_noise(image, noise, scheduler.timesteps[begin : begin + 1])
    return Denoising(
        latents=latents,
        scheduler=scheduler,
        timesteps=timesteps,
        cond=cond,
        guidance=plan.guidance,
        liked_strength=plan.liked_strength,
        disliked_strength=plan.disliked_strength,
        step_kwargs=scheduler_step_kwargs(scheduler, generator),
        generator=generator,
        refresh_every=defaults.fast_refresh if plan.mode == "fast" else 1,
        progress_total=len(timesteps) + refiner_steps,
    )


def start_refiner(
    member: Member, base: Denoising, *, refiner, device: torch.device, defaults: GenerationDefaults
) -> Denoising:
    """The refiner stage for a member whose base stage has finished, as the stock refiner runs it
    with `denoising_start`: no added noise, the schedule's tail below the switch point (a Vary that
    starts below it: from its own start)."""
    plan = member.plan
    cond = encode_refiner(refiner, device, plan)
    scheduler = type(refiner.scheduler).from_config(refiner.scheduler.config)
    scheduler.set_timesteps(plan.steps, device=device)
    start = refiner_span(refiner, plan, defaults.refiner_switch)[0]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    latents = base.latents.to(device=device, dtype=cond.hidden_states.dtype)
    return Denoising(
        latents=torch.cat([latents]),
        scheduler=scheduler,
        timesteps=scheduler.timesteps[start:],
        cond=cond,
        guidance=plan.guidance,
        liked_strength=0.0,
        disliked_strength=0.0,
        step_kwargs=scheduler_step_kwargs(scheduler, base.generator),
        generator=base.generator,
        progress_offset=base.index,
        progress_total=base.progress_total,
    )


def base_begin(scheduler, plan: Plan) -> int:
    """Where the member starts in the base schedule: 0, or for a Vary the index where the last
    `init_strength` of the steps begins (times the scheduler's order, as the stock img2img counts)."""
    if plan.init_image is None:
        return 0
    return vary_start_step(plan.steps, plan.init_strength) * scheduler.order


def refiner_span(refiner, plan: Plan, switch: float) -> tuple[int, int]:
    """Where the refiner starts in its schedule and how many steps it runs: the steps below the
    switch point (`refiner_step_count`), or fewer for a Vary that starts below it. Counted on the
    CPU, so no step of the loop waits for the GPU."""
    scheduler = type(refiner.scheduler).from_config(refiner.scheduler.config)
    scheduler.set_timesteps(plan.steps)
    total = len(scheduler.timesteps)
    start = max(total - refiner_step_count(refiner, plan.steps, switch), base_begin(scheduler, plan))
    return start, total - start


def refiner_step_count(refiner, steps: int, switch: float) -> int:
    """How many steps the refiner runs: the timesteps of its schedule below the switch point, plus
    one for second-order schedulers whose cut would split a step, as the stock refiner counts.
    Counted on the CPU, so no step of the loop waits for the GPU."""
    scheduler = type(refiner.scheduler).from_config(refiner.scheduler.config)
    scheduler.set_timesteps(steps)
    count = int((scheduler.timesteps < timestep_cutoff(scheduler, switch)).sum())
    if scheduler.order == 2 and count % 2 == 0:
        count += 1
    return count


def timestep_cutoff(scheduler, switch: float) -> int:
    """The training timestep where a base/refiner split at fraction `switch` of the schedule falls."""
    train_steps = scheduler.config.num_train_timesteps
    return int(round(train_steps - switch * train_steps))


def scheduler_step_kwargs(scheduler, generator: torch.Generator) -> dict:
    """The optional `step` arguments this scheduler takes (eta=0 for DDIM-like ones, the generator)."""
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs

"""The base and refiner stages of a batch: each member's schedule, initial noise and conditioning.

`denoise_members` runs every member of a batch through the SDXL base and then, when one is loaded,
the refiner, as the stock pipelines would run them one at a time: the base draws the member's
initial noise from its own seeded generator and stops at the refiner switch point; the refiner picks
up the same latents on the tail of its schedule, with no added noise. The stepping itself is
`engine.denoising.run_stage`.
"""

from __future__ import annotations

import inspect

import torch
from diffusers.utils.torch_utils import randn_tensor

from engine.conditioning import encode_base, encode_refiner
from engine.denoising import Denoising, out_of_memory_failure, run_stage, stopped
from engine.plan import GenerationDefaults, Member
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
    exactly as the stock pipeline draws it, so its image does not depend on its batch."""
    plan = member.plan
    generator = torch.Generator(device=device).manual_seed(plan.seed)
    cond = encode_base(pipe, device, plan)

    # Timesteps, on a scheduler of our own; the base stops at the switch point when refined
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(plan.steps, device=device)
    timesteps = scheduler.timesteps
    refiner_steps = 0
    if refiner is not None:
        cutoff = timestep_cutoff(scheduler, defaults.refiner_switch)
        timesteps = timesteps[: int((timesteps >= cutoff).sum())]
        refiner_steps = refiner_step_count(refiner, plan.steps, defaults.refiner_switch)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(0)

    shape = (
        1,
        pipe.unet.config.in_channels,
        plan.height // pipe.vae_scale_factor,
        plan.width // pipe.vae_scale_factor,
    )
    latents = randn_tensor(shape, generator=generator, device=device, dtype=cond.hidden_states.dtype)
    return Denoising(
        latents=latents * scheduler.init_noise_sigma,
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
    with `denoising_start`: no added noise, the schedule's tail below the switch point."""
    plan = member.plan
    cond = encode_refiner(refiner, device, plan)
    scheduler = type(refiner.scheduler).from_config(refiner.scheduler.config)
    scheduler.set_timesteps(plan.steps, device=device)
    count = refiner_step_count(refiner, plan.steps, defaults.refiner_switch)
    start = len(scheduler.timesteps) - count
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

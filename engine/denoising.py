"""The denoising loop of one stage (base or refiner) for several requests that share UNet calls.

Each request's state lives in a `Denoising` object (its latents, scheduler copy, generator and
position), so one UNet call can serve several members at once, each at its own timestep. A step
predicts noise for every branch of every member (`predict`: one fused call, or the reference's calls
of batch 2), mixes each member's predictions with the ViPer guidance (`engine.guidance`), and advances
its scheduler. Running out of GPU memory halves the rows per call and retries (`denoise_step`)
without losing or repeating a step; `run_stage` steps every member to the end of the stage, with
per-member cancellation and progress.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from engine.conditioning import Conditioning
from engine.guidance import classifier_free_guidance, keyword_direction, reused_guidance, viper_guidance
from engine.plan import Member
from viper.contracts.errors import JobCancelled, JobFailed

log = logging.getLogger("viper.generation")


@dataclass
class Denoising:
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
    cond: Conditioning
    guidance: float
    liked_strength: float
    disliked_strength: float
    step_kwargs: dict
    generator: torch.Generator | None = None
    refresh_every: int = 1
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

    def step_cond(self) -> Conditioning:
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
                return reused_guidance(uncond, cond, self.personal, guidance=self.guidance)
            return classifier_free_guidance(uncond, cond, guidance=self.guidance)
        uncond, cond, disliked, liked = noise.chunk(4)
        strengths = {"liked_strength": self.liked_strength, "disliked_strength": self.disliked_strength}
        if self.refresh_every > 1:
            self.personal = keyword_direction(liked, disliked, **strengths)
        return viper_guidance(uncond, cond, liked, disliked, guidance=self.guidance, **strengths)

    def advance(self, noise: torch.Tensor) -> None:
        guided = self.guide(noise)
        self.latents = self.scheduler.step(
            guided, self.timestep, self.latents, **self.step_kwargs, return_dict=False
        )[0]
        self.index += 1


def unet_call(unet, sample: torch.Tensor, timestep: torch.Tensor, cond: Conditioning) -> torch.Tensor:
    added = {"text_embeds": cond.text_embeds, "time_ids": cond.time_ids}
    return unet(
        sample, timestep, encoder_hidden_states=cond.hidden_states, added_cond_kwargs=added, return_dict=False
    )[0]


def predict(unet, jobs: list[Denoising], *, fused: bool) -> list[torch.Tensor]:
    """Every job's raw noise prediction for its current step; no job's state changes.

    fused: one UNet call over all rows of all jobs; each row carries its own job's timestep, which the
    UNet accepts as a per-sample vector. Otherwise: calls of batch 2 (uncond+cond, then
    disliked+liked), one job at a time, as the reference implementation runs them.
    """
    inputs = [job.model_input() for job in jobs]
    if fused:
        timesteps = torch.cat([job.timestep.expand(job.rows) for job in jobs])
        cond = Conditioning.cat([job.step_cond() for job in jobs])
        noise = unet_call(unet, torch.cat(inputs), timesteps, cond)
        return list(noise.split([job.rows for job in jobs]))
    return [
        torch.cat(
            [
                unet_call(unet, sample[start : start + 2], job.timestep, job.cond.slice(start, start + 2))
                for start in range(0, job.rows, 2)
            ]
        )
        for job, sample in zip(jobs, inputs)
    ]


def _take(jobs: list[Denoising], max_rows: int | None) -> list[Denoising]:
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


def denoise_step(unet, jobs: list[Denoising], *, fused: bool, max_rows: int | None = None) -> int | None:
    """Advance every job by one step, in UNet calls of at most `max_rows` rows.

    When a call runs out of GPU memory, the rows per call are halved and the jobs that call held are
    tried again; a job advances only once its prediction exists, so none is skipped or stepped twice.
    A single job that still does not fit raises the error. Returns the (possibly lowered) row cap,
    for the following steps.
    """
    pending = list(jobs)
    while pending:
        group = _take(pending, max_rows)
        rows = sum(job.rows for job in group)
        try:
            predictions = predict(unet, group, fused=fused)
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
        pending = pending[len(group) :]
    return max_rows


def run_stage(unet, members: list[Member], live: dict[int, Denoising], outcomes: list) -> None:
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
                stop = stopped(members[i])
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
            max_rows = denoise_step(unet, [live[i] for i in running], fused=fused, max_rows=max_rows)
        except Exception as exc:
            for i in running:
                outcomes[i] = out_of_memory_failure(exc)
                del live[i]
            continue
        for i in running:
            job, on_step = live[i], members[i].on_step
            if on_step is None:
                continue
            try:
                on_step(job.progress_offset + job.index, job.progress_total)
            except Exception as exc:
                outcomes[i] = exc
                del live[i]


def stopped(member: Member) -> bool:
    return member.should_stop is not None and member.should_stop()


def out_of_memory_failure(exc: BaseException) -> BaseException:
    """What a member hears when even a batch of one cannot fit: a domain error, not a CUDA trace."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        failure = JobFailed("the GPU ran out of memory for this image; try a smaller size, or again later")
        failure.__cause__ = exc
        return failure
    return exc


def _release_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

"""The arq worker: two jobs, extract preferences and generate an image.

Models are loaded once per worker process in `startup` and kept in arq's `ctx`. Generation runs in
a thread so the event loop keeps answering arq (health checks, aborts) while the GPU works; the
thread reports each step to Redis and stops at the next step when the job is cancelled.

The worker runs several generate jobs at once (`[worker] max_jobs`), and they meet in one
`engine.batching.Batcher`: requests of the same size, steps and mode that arrive within
`[worker] batch_window_ms` of each other share UNet calls, up to `[worker] max_batch` members,
while the GPU runs one batch at a time. Each member keeps its own prompt, profile, seed, progress
and cancellation. A shared lock keeps VPE extraction and generation from using the GPU at once.

Jobs return `{"ok": True, "result": {...}}` or `{"ok": False, "error": ViperError.to_dict()}` so the
bot gets domain errors as data, never as pickled exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from arq import Worker
from arq.worker import func

from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import JobCancelled, JobFailed, ViperError
from viper.contracts.jobs import deserialize, redis_settings, serialize

log = logging.getLogger("viper.worker")


def load_models(settings: Settings) -> dict[str, Any]:
    """Load the generator and the extractor named in the settings (the slow part of start-up)."""
    from engine.extraction import extractor_from_settings
    from engine.generation import GenerationDefaults
    from engine.sdxl import load_generator

    e = settings.engine
    defaults = GenerationDefaults(
        steps=e.steps, guidance=e.guidance, width=e.width, height=e.height,
        liked_strength=e.liked_strength, disliked_strength=e.disliked_strength, max_side=e.max_side,
        mode="fast" if e.fast else "fused",
        fast_refresh=e.fast_refresh,
    )
    compile_unet = e.compile
    log.info("loading model %s on %s", e.model, e.device)
    generator = load_generator(
        e.model, device=e.device, dtype=e.dtype, refiner=e.refiner or None,
        cache_dir=e.cache_dir or None, defaults=defaults,
        compile=compile_unet, channels_last=e.channels_last,
    )
    if compile_unet:
        log.info("compiling the UNet for batches of one and two members (this takes minutes once)")
        generator.warm_up(members=(1, 2))
    extractor = extractor_from_settings(settings.extraction)
    try:
        extractor.load()  # the first member's /done should not pay for loading a vision-language model
    except ViperError as e:  # e.g. the openai endpoint is down now: jobs retry and explain, the worker runs on
        log.warning("extraction backend %s is not ready: %s", extractor.name, e.message)
    log.info(
        "worker ready: model %s, refiner %s, mode %s, extraction backend %s",
        generator.model_name, "on" if generator.refiner is not None else "off", defaults.mode, extractor.name,
    )
    return {"generator": generator, "extractor": extractor}


async def startup(ctx: dict) -> None:
    # Tests (and `viper up` with a shared process) may hand in already-loaded models.
    if "generator" not in ctx:
        ctx.update(await asyncio.to_thread(load_models, ctx["settings"]))
    from engine.batching import Batcher

    w = ctx["settings"].worker
    generator = ctx["generator"]
    ctx["gpu_lock"] = asyncio.Lock()
    ctx["batcher"] = Batcher(
        lambda group: _run_generation(generator, group),
        window_s=w.batch_window_ms / 1000,
        max_batch=w.max_batch,
        lock=ctx["gpu_lock"],
    )


async def shutdown(ctx: dict) -> None:
    if "batcher" in ctx:
        await ctx["batcher"].close()


def _fail(err: ViperError) -> dict:
    return {"ok": False, "error": err.to_dict()}


async def extract_preferences(ctx: dict, payload: dict) -> dict:
    request = jobs.from_dict(jobs.ExtractRequest, payload)
    extractor = ctx["extractor"]
    # Only a backend that runs a model on this GPU (VPE) waits for the current batch; the lexicon
    # and remote endpoints do not touch it. A backend can say so itself with `uses_gpu`.
    gpu = ctx.get("gpu_lock") if getattr(extractor, "uses_gpu", extractor.name == "vpe") else None
    try:
        async with gpu or contextlib.nullcontext():
            result = await asyncio.to_thread(extractor.extract, request.comments)
    except ViperError as e:
        return _fail(e)
    except Exception as e:  # the member must hear something; the operator gets the traceback
        log.exception("extraction failed for member %s", request.member_id)
        return _fail(JobFailed(f"extraction failed: {type(e).__name__}"))
    return {"ok": True, "result": jobs.to_dict(result)}


@dataclass
class _Generation:
    """One generate job as the batcher sees it: the request and its member (plan, progress, stop)."""

    request: jobs.GenerateRequest
    member: Any  # engine.generation.Member


def _run_generation(generator, group: list[_Generation]) -> list:
    """Run one group on the GPU (in the batcher's thread); one outcome per job.

    A group of one goes through `generate`, the engine's single-request entry point (the same code
    as a batch of one, PNG included). A larger group goes through `render_batch`, which stops at the
    decoded images so their PNG encoding runs in each job, off the GPU's critical path.
    """
    if len(group) == 1:
        job = group[0]
        try:
            return [generator.generate(job.request, on_step=job.member.on_step, should_stop=job.member.should_stop)]
        except Exception as exc:
            return [exc]
    return generator.render_batch([job.member for job in group])


async def generate_image(ctx: dict, payload: dict) -> dict:
    from engine.generation import Member

    request = jobs.from_dict(jobs.GenerateRequest, payload)
    job_id: str = ctx["job_id"]
    redis = ctx["redis"]
    generator = ctx["generator"]
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    async def report(step: int, total: int) -> None:
        await redis.set(jobs.progress_key(job_id), f"{step}/{total}", ex=3600)
        if await redis.exists(jobs.cancel_key(job_id)):
            stop.set()

    def on_step(step: int, total: int) -> None:
        # Called from the generation thread: hand the Redis I/O to the event loop, never wait on it.
        asyncio.run_coroutine_threadsafe(report(step, total), loop)

    try:
        plan = generator.prepare(request)  # invalid requests fail here, before they wait for a batch
        if await redis.exists(jobs.cancel_key(job_id)):
            raise JobCancelled("generation cancelled")
        member = Member(plan, on_step=on_step, should_stop=stop.is_set)
        outcome = await ctx["batcher"].submit(plan.batch_key, _Generation(request, member))
        if isinstance(outcome, jobs.GenerateResult):
            result = outcome
        else:
            result = await asyncio.to_thread(generator.to_result, outcome)
    except asyncio.CancelledError:
        stop.set()  # an arq abort or job timeout: leave the queue, or stop at the batch's next step
        raise
    except ViperError as e:
        return _fail(e)
    except Exception as e:
        log.exception("generation failed for job %s", job_id)
        return _fail(JobFailed(f"generation failed: {type(e).__name__}: {e}"))
    return {"ok": True, "result": jobs.to_dict(result)}


def make_worker(
    settings: Settings, redis_url: str, *, burst: bool = False, ctx: dict | None = None, **kwargs
) -> Worker:
    """An arq Worker for `settings`, connected to `redis_url`."""
    max_batch = settings.worker.max_batch
    if settings.worker.max_jobs < max_batch:
        log.warning(
            "[worker] max_jobs = %d is below max_batch = %d: at most %d members can share a batch",
            settings.worker.max_jobs, max_batch, settings.worker.max_jobs,
        )
    return Worker(
        functions=[
            func(extract_preferences, name=jobs.EXTRACT_JOB),
            func(generate_image, name=jobs.GENERATE_JOB),
        ],
        queue_name=jobs.QUEUE_NAME,
        redis_settings=redis_settings(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings, **(ctx or {})},
        burst=burst,
        max_jobs=settings.worker.max_jobs,
        job_timeout=settings.worker.job_timeout_s,
        keep_result=3600,
        max_tries=1,
        allow_abort_jobs=True,
        health_check_interval=5,
        job_serializer=serialize,
        job_deserializer=deserialize,
        handle_signals=not burst,
        **kwargs,
    )

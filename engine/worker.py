"""The arq worker: two jobs, extract preferences and generate an image.

Models are loaded once per worker process in `startup` and kept in arq's `ctx`. Generation runs in
a thread so the event loop keeps answering arq (health checks, aborts) while the GPU works; the
thread reports each step to Redis and stops at the next step when the job is cancelled.

Jobs return `{"ok": True, "result": {...}}` or `{"ok": False, "error": ViperError.to_dict()}` so the
bot gets domain errors as data, never as pickled exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from arq import Worker
from arq.worker import func

from viper import jobs
from viper.config import Settings
from viper.errors import JobFailed, ViperError
from viper.queue import deserialize, redis_settings, serialize

log = logging.getLogger("viper.worker")


def load_models(settings: Settings) -> dict[str, Any]:
    """Load the generator and the extractor named in the settings (the slow part of start-up)."""
    from engine.extraction import make_extractor
    from engine.generation import GenerationDefaults
    from engine.sdxl import load_generator

    e = settings.engine
    defaults = GenerationDefaults(
        steps=e.steps, guidance=e.guidance, width=e.width, height=e.height,
        liked_strength=e.liked_strength, disliked_strength=e.disliked_strength, max_side=e.max_side,
    )
    log.info("loading model %s on %s", e.model, e.device)
    generator = load_generator(
        e.model, device=e.device, dtype=e.dtype, refiner=e.refiner or None,
        cache_dir=e.cache_dir or None, defaults=defaults,
    )
    extractor = make_extractor(settings.extraction.backend)
    log.info("worker ready: model %s, extraction backend %s", generator.model_name, extractor.name)
    return {"generator": generator, "extractor": extractor}


async def startup(ctx: dict) -> None:
    # Tests (and `viper up` with a shared process) may hand in already-loaded models.
    if "generator" not in ctx:
        ctx.update(await asyncio.to_thread(load_models, ctx["settings"]))


def _fail(err: ViperError) -> dict:
    return {"ok": False, "error": err.to_dict()}


async def extract_preferences(ctx: dict, payload: dict) -> dict:
    request = jobs.from_dict(jobs.ExtractRequest, payload)
    extractor = ctx["extractor"]
    try:
        result = await asyncio.to_thread(extractor.extract, request.comments)
    except ViperError as e:
        return _fail(e)
    except Exception as e:  # the member must hear something; the operator gets the traceback
        log.exception("extraction failed for member %s", request.member_id)
        return _fail(JobFailed(f"extraction failed: {type(e).__name__}"))
    return {"ok": True, "result": jobs.to_dict(result)}


async def generate_image(ctx: dict, payload: dict) -> dict:
    request = jobs.from_dict(jobs.GenerateRequest, payload)
    job_id: str = ctx["job_id"]
    redis = ctx["redis"]
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
        result = await asyncio.to_thread(
            ctx["generator"].generate, request, on_step=on_step, should_stop=stop.is_set
        )
    except asyncio.CancelledError:
        stop.set()  # an arq abort or job timeout: let the thread stop at its next step
        raise
    except ViperError as e:
        return _fail(e)
    except Exception as e:
        log.exception("generation failed for job %s", job_id)
        return _fail(JobFailed(f"generation failed: {type(e).__name__}: {e}"))
    return {"ok": True, "result": jobs.to_dict(result)}


def make_worker(settings: Settings, redis_url: str, *, burst: bool = False, ctx: dict | None = None, **kwargs) -> Worker:
    """An arq Worker for `settings`, connected to `redis_url`."""
    return Worker(
        functions=[
            func(extract_preferences, name=jobs.EXTRACT_JOB),
            func(generate_image, name=jobs.GENERATE_JOB),
        ],
        queue_name=jobs.QUEUE_NAME,
        redis_settings=redis_settings(redis_url),
        on_startup=startup,
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

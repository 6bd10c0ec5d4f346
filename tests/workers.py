"""The real arq worker, run inside a test's event loop (as arq's own tests do)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


@contextlib.asynccontextmanager
async def running_worker(settings, redis_url: str, models: dict | None = None, poll_delay: float = 0.05):
    """Run `engine.worker`'s arq Worker until the block ends.

    `models` ({"generator", "extractor"}) are handed in ready-made (the session's tiny ones, or a
    wrapper around them); None loads what `viper worker` would load from `settings`.
    """
    from engine.worker import load_models, make_worker

    if models is None:
        models = await asyncio.to_thread(load_models, settings)
    worker = make_worker(settings, redis_url, ctx=dict(models), poll_delay=poll_delay)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await worker.close()


@contextlib.asynccontextmanager
async def gated_worker(settings, redis_url: str, models: dict, max_jobs: int):
    """The real worker with room for `max_jobs` concurrent jobs, its generator a `GatedGenerator`
    whose gate opens when the block ends (before the worker stops); yields the worker and the gated
    generator."""
    settings.worker.max_jobs = max_jobs
    gated = GatedGenerator(models["generator"])
    async with running_worker(settings, redis_url, {**models, "generator": gated}, poll_delay=0.02) as worker:
        try:
            yield worker, gated
        finally:
            gated.gate.set()


class GatedGenerator:
    """The real generator, held after a job's first step until the test opens `gate`.

    `holding` tells the test a job is being held. While it holds the GPU, progress has been reported
    and later jobs wait in the batcher together, so a test can see a progress edit, or know which
    jobs will share the next batch, however fast or slow the machine.
    """

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()
        self.holding = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, request, *, on_step=None, should_stop=None):
        def step(i: int, n: int) -> None:
            if on_step is not None:
                on_step(i, n)
            if not self.gate.is_set():
                self.holding.set()
                self.gate.wait(timeout=60)

        return self.inner.generate(request, on_step=step, should_stop=should_stop)

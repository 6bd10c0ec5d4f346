"""The real arq worker, run inside a test's event loop (as arq's own tests do)."""

from __future__ import annotations

import asyncio
import contextlib


@contextlib.asynccontextmanager
async def running_worker(settings, redis_url: str, models: dict | None = None):
    """Run `engine.worker`'s arq Worker until the block ends.

    `models` ({"generator", "extractor"}) are handed in ready-made (the session's tiny ones, or a
    wrapper around them); None loads what `viper worker` would load from `settings`.
    """
    from engine.worker import load_models, make_worker

    if models is None:
        models = await asyncio.to_thread(load_models, settings)
    worker = make_worker(settings, redis_url, ctx=dict(models), poll_delay=0.05)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await worker.close()

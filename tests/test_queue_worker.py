"""The job queue end to end: bot-side client -> real Redis -> real arq worker with the tiny model."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from tests.workers import gated_worker
from viper.contracts import jobs
from viper.contracts.errors import InvalidArgument, JobCancelled, QueueUnavailable
from bot.queue import JobQueue, Progress


@pytest.fixture
async def queue(redis_url):
    q = await JobQueue.connect(redis_url)
    yield q
    await q.close()


async def test_a_generation_job_returns_a_png_and_reports_progress(queue, worker):
    request = jobs.GenerateRequest(prompt="a lighthouse at dusk", liked=["teal"], disliked=["neon"], seed=3, steps=4)
    job_id = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
    raw = await queue.wait(job_id, timeout=120)
    result = jobs.from_dict(jobs.GenerateResult, raw)
    image = Image.open(io.BytesIO(result.png))
    assert image.format == "PNG" and image.size == (result.width, result.height)
    assert result.is_tiny and result.steps == 4 and result.seed == 3
    assert sorted(result.liked_used) == ["teal"]
    assert (await queue.progress(job_id)).step == 4


async def test_a_bad_argument_comes_back_as_the_same_domain_error(queue, worker):
    request = jobs.GenerateRequest(prompt="a cat", width=100, height=64)
    job_id = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
    with pytest.raises(InvalidArgument) as info:
        await queue.wait(job_id, timeout=60)
    assert info.value.argument == "width"


async def test_extraction_job_returns_liked_and_disliked(queue, worker):
    request = jobs.ExtractRequest(
        member_id=1,
        comments=[jobs.Comment("I love the teal and the flowing lines"), jobs.Comment("too busy, the yellow is harsh")],
    )
    job_id = await queue.enqueue(jobs.EXTRACT_JOB, jobs.to_dict(request))
    result = jobs.from_dict(jobs.ExtractResult, await queue.wait(job_id, timeout=60))
    assert "teal" in " ".join(result.liked)
    assert "yellow" in " ".join(result.disliked)
    assert result.backend == "lexicon"


async def test_without_a_worker_the_job_waits_in_line(queue):
    assert not await queue.workers_alive()
    first = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(jobs.GenerateRequest(prompt="one")))
    await asyncio.sleep(0.01)  # arq orders by enqueue time in ms (then by id): a later member is behind
    second = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(jobs.GenerateRequest(prompt="two")))
    assert await queue.position(first) == 1
    assert await queue.position(second) == 2


async def test_a_cancelled_job_stops(queue, worker):
    request = jobs.GenerateRequest(prompt="a slow one", steps=60, seed=1)
    job_id = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
    for _ in range(400):
        if await queue.progress(job_id):
            break
        await asyncio.sleep(0.02)
    await queue.cancel(job_id)
    with pytest.raises(JobCancelled):
        await queue.wait(job_id, timeout=60)


async def test_an_unreachable_redis_is_a_clear_error(tmp_path):
    with pytest.raises(QueueUnavailable, match="cannot reach Redis"):
        await JobQueue.connect(f"unix://{tmp_path}/nothing.sock")


# Dynamic batching in the worker: several jobs at once, one GPU batch at a time.


async def hold_the_gpu(queue, w, gated) -> str:
    """Start a job that holds the GPU at its first step; return its id."""
    request = jobs.GenerateRequest(prompt="first", seed=99, steps=4)
    holder = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
    assert await asyncio.to_thread(gated.holding.wait, 30)
    return holder


async def until(condition, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def png_pixels(raw: dict) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(jobs.from_dict(jobs.GenerateResult, raw).png))).astype(int)


BATCHMATES = [
    jobs.GenerateRequest(prompt="a lighthouse at dusk", liked=["teal"], disliked=["neon"], seed=3, steps=4),
    jobs.GenerateRequest(prompt="a bowl of lemons", liked=["ink wash", "soft light"], seed=8, steps=4, guidance=7.0),
    jobs.GenerateRequest(prompt="a fox in the snow", disliked=["3d render"], seed=21, steps=4),
]


async def test_concurrent_jobs_share_a_batch_and_keep_their_own_images(queue, settings, redis_url, tiny_models):
    async with gated_worker(settings, redis_url, tiny_models, max_jobs=8) as (w, gated):
        holder = await hold_the_gpu(queue, w, gated)
        ids = [await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(req)) for req in BATCHMATES]
        other_size = await queue.enqueue(
            jobs.GENERATE_JOB, jobs.to_dict(jobs.GenerateRequest(prompt="wide", width=96, seed=4, steps=4))
        )
        batcher = w.ctx["batcher"]
        await until(lambda: batcher.waiting == 4)
        gated.gate.set()
        results = [await queue.wait(job_id, timeout=120) for job_id in [holder, *ids, other_size]]
    assert list(batcher.batch_sizes) == [1, 3, 1], "the same-size jobs shared a batch, the wide one ran apart"
    generator = tiny_models["generator"]
    for req, raw, job_id in zip(BATCHMATES, results[1:4], ids):
        alone = generator.generate(req)
        assert np.abs(png_pixels(raw) - png_pixels(jobs.to_dict(alone))).max() <= 1
        assert raw["seed"] == req.seed and raw["liked_used"] == alone.liked_used
        assert await queue.progress(job_id) == Progress(4, 4)
    assert results[4]["width"] == 96


async def test_cancelling_one_batched_job_leaves_the_others(queue, settings, redis_url, tiny_models):
    async with gated_worker(settings, redis_url, tiny_models, max_jobs=8) as (w, gated):
        await hold_the_gpu(queue, w, gated)
        requests = [jobs.GenerateRequest(**{**req.__dict__, "steps": 12}) for req in BATCHMATES]
        ids = [await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(req)) for req in requests]
        await until(lambda: w.ctx["batcher"].waiting == 3)
        await queue.pool.set(jobs.cancel_key(ids[1]), b"1")  # the member's /cancel, as the bot sends it
        gated.gate.set()
        first = await queue.wait(ids[0], timeout=120)
        with pytest.raises(JobCancelled):
            await queue.wait(ids[1], timeout=120)
        third = await queue.wait(ids[2], timeout=120)
    assert list(w.ctx["batcher"].batch_sizes) == [1, 3]
    assert (await queue.progress(ids[1])).step < 12
    generator = tiny_models["generator"]
    for raw, req in ((first, requests[0]), (third, requests[2])):
        assert np.abs(png_pixels(raw) - png_pixels(jobs.to_dict(generator.generate(req)))).max() <= 1


async def test_an_aborted_job_leaves_the_batch_queue(queue, settings, redis_url, tiny_models):
    async with gated_worker(settings, redis_url, tiny_models, max_jobs=8) as (w, gated):
        await hold_the_gpu(queue, w, gated)
        keep, drop = [await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(req)) for req in BATCHMATES[:2]]
        batcher = w.ctx["batcher"]
        await until(lambda: batcher.waiting == 2)
        await queue.cancel(drop)  # the cancel key and an arq abort: arq cancels the waiting job's task
        await until(lambda: batcher.waiting == 1)
        gated.gate.set()
        assert (await queue.wait(keep, timeout=120))["seed"] == BATCHMATES[0].seed
        with pytest.raises(JobCancelled):
            await queue.wait(drop, timeout=60)
    assert list(batcher.batch_sizes) == [1, 1]


async def test_a_job_cancelled_before_any_worker_took_it_ends_at_once(queue):
    """With every worker down, a cancelled job still ends for whoever waits on it."""
    job_id = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(jobs.GenerateRequest(prompt="never mind")))
    behind = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(jobs.GenerateRequest(prompt="next")))
    await queue.cancel(job_id)
    with pytest.raises(JobCancelled):
        await queue.wait(job_id, timeout=5)
    assert await queue.position(job_id) is None
    assert await queue.position(behind) == 1  # the member behind moved up

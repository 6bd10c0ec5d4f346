"""The job queue end to end: bot-side client -> real Redis -> real arq worker with the tiny model."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from viper import jobs
from viper.errors import InvalidArgument, JobCancelled, QueueUnavailable
from viper.queue import JobQueue


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

"""Metrics and /healthz (issue #13), scraped over HTTP: from a running worker and from the bot's helper."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from bot.queue import JobQueue
from viper import metrics
from viper.contracts import jobs
from viper.contracts.errors import QueueUnavailable
from viper.redis_server import EmbeddedRedis


async def get(port: int, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (None when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


@pytest.fixture
async def queue(redis_url):
    q = await JobQueue.connect(redis_url)
    yield q
    await q.close()


async def test_a_worker_serves_its_metrics_and_health(settings, redis_url, tiny_models, queue):
    from engine.worker import make_worker

    before = sample((await _scrape_registry(metrics.WORKER_REGISTRY)), "viper_worker_jobs_total",
                    function="generate", status="ok") or 0
    worker = make_worker(settings, redis_url, ctx=dict(tiny_models), poll_delay=0.05, metrics_port=0)
    task = asyncio.create_task(worker.async_run())
    try:
        for _ in range(200):
            if worker.metrics_server is not None and "batcher" in worker.ctx:
                break
            await asyncio.sleep(0.02)
        port = worker.metrics_server.port
        status, _, body = await get(port, "/healthz")
        assert status == 200 and '"models": true' in body and '"redis": true' in body

        request = jobs.GenerateRequest(prompt="a lighthouse", seed=1, steps=2)
        job_id = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request), job_id="generate-5-1-abcdef")
        await queue.wait(job_id, timeout=60)
        held = await queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
        await queue.pool.zadd(queue.queue_name, {held: 9e15}, xx=True)  # a held (deferred) job stays in line

        status, content_type, text = await get(port, "/metrics")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    assert status == 200 and content_type.startswith("text/plain")
    assert sample(text, "viper_worker_jobs_total", function="generate", status="ok") == before + 1
    assert sample(text, "viper_job_wait_seconds_count", function="generate") >= 1
    assert sample(text, "viper_job_run_seconds_count", function="generate") >= 1
    assert sample(text, "viper_unet_batch_members_count") >= 1
    assert sample(text, "viper_unet_batch_members_bucket", le="1.0") >= 1
    assert sample(text, "viper_gpu_memory_bytes") == 0  # no CUDA here
    assert sample(text, "viper_queue_depth") == 0
    assert sample(text, "viper_queue_jobs", state="deferred") == 1
    assert sample(text, "viper_refusals_total", rule="term") is None  # the bot's, not in a worker's registry
    assert worker.metrics_server is None  # closed with the worker


async def _scrape_registry(registry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


async def test_a_worker_says_503_until_it_reaches_redis_and_has_its_models(settings, tmp_path):
    from engine.worker import make_worker

    worker = make_worker(settings, f"unix://{tmp_path}/no-redis.sock", poll_delay=0.05, metrics_port=0)
    task = asyncio.create_task(worker.main())  # waits for Redis (with backoff) after the server is up
    try:
        for _ in range(200):
            if worker.metrics_server is not None:
                break
            await asyncio.sleep(0.02)
        status, _, body = await get(worker.metrics_server.port, "/healthz")
        assert status == 503 and '"redis": false' in body and '"models": false' in body
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()


async def test_the_bot_process_serves_queue_jobs_and_refusals(runtime):
    from storage.store import JobRecord
    from viper.cli.serve import serve_bot_metrics
    from viper.contracts.states import JobKind, JobState

    store = runtime.store
    member = await store.member("telegram", 42, "Ada")
    for n, state in enumerate((JobState.DELIVERED, JobState.DELIVERED, JobState.FAILED)):
        await store.record_job(JobRecord(f"generate-{member.id}-{n}-aaaaaa", member.id, JobKind.GENERATE, "telegram",
                                         {}, "p", JobState.QUEUED))
        await store.update_job(f"generate-{member.id}-{n}-aaaaaa", state)
    for n in range(2):
        await runtime.queue.enqueue(jobs.GENERATE_JOB, {"prompt": "x"}, job_id=f"generate-{member.id}-9{n}-bbbbbb")

    server = await serve_bot_metrics(runtime, port=0)
    try:
        metrics.count_refusal("term")
        metrics.count_refusal("cooldown")
        metrics.count_refusal("term")
        status, _, text = await get(server.port, "/metrics")
        health, _, body = await get(server.port, "/healthz")
    finally:
        await server.close()
    assert status == 200 and health == 200, body
    assert sample(text, "viper_queue_depth") == 2
    assert sample(text, "viper_queue_jobs", state="waiting") == 2
    assert sample(text, "viper_jobs", status="delivered") == 2
    assert sample(text, "viper_jobs", status="failed") == 1
    assert sample(text, "viper_refusals_total", rule="term") >= 2
    assert sample(text, "viper_refusals_total", rule="cooldown") >= 1
    assert sample(text, "viper_gpu_memory_bytes") is None  # a worker's metric, not the bot's


async def test_the_bot_says_503_when_redis_is_gone(tmp_path):
    from types import SimpleNamespace

    from viper.cli.serve import serve_bot_metrics
    from viper.contracts.config import Settings

    redis = EmbeddedRedis(tmp_path / "r", persist=False).start()
    try:
        queue = await JobQueue.connect(redis.url)
    except QueueUnavailable:
        redis.stop()
        raise
    settings = Settings()
    settings.storage.data_dir = tmp_path / "data"
    server = await serve_bot_metrics(SimpleNamespace(queue=queue, settings=settings), port=0)
    try:
        assert (await get(server.port, "/healthz"))[0] == 200
        redis.stop()
        status, _, body = await get(server.port, "/healthz")
        assert status == 503 and '"redis": false' in body
        assert (await get(server.port, "/metrics"))[0] == 200  # still scraped, with the last values
    finally:
        await server.close()
        await queue.close()
        redis.stop()


async def test_a_port_in_use_leaves_the_process_running_without_metrics():
    first = await metrics.serve(metrics.BOT_REGISTRY, health=_always_fine, port=0)
    try:
        assert await metrics.serve(metrics.BOT_REGISTRY, health=_always_fine, port=first.port) is None
    finally:
        await first.close()


async def _always_fine() -> dict[str, bool]:
    return {"ok": True}

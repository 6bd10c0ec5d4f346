"""Issue 14, items 2 and 4: the embedded Redis persists the queue, and workers and the bot's wait go on
through a Redis outage (killed with SIGKILL and started again).

The outages here last a few seconds to keep CI fast; the code paths are those of a long outage (the
worker's poll loop, its lock heartbeat and its result store retry with capped backoff, however long).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from arq.jobs import Job

from bot.queue import JobQueue
from tests.faults.procs import kill_redis, request, until
from viper.contracts import jobs
from viper.contracts.errors import JobFailed
from viper.contracts.jobs import deserialize


async def config(url: str, name: str) -> str:
    client = aioredis.from_url(url)
    try:
        return (await client.config_get(name))[name]
    finally:
        await client.aclose()


async def test_the_embedded_redis_keeps_an_append_only_file(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=True)
    assert await config(server.url, "appendonly") == "yes"
    assert await config(server.url, "appendfsync") == "everysec"

    queue = await JobQueue.connect(server.url)
    first = await queue.enqueue(jobs.GENERATE_JOB, request("kept across a restart", steps=4))
    await queue.close()
    server.stop()  # SIGTERM, as `viper up` stops it
    server.start()
    queue = await JobQueue.connect(server.url)
    try:
        assert await queue.position(first) == 1
        second = await queue.enqueue(jobs.GENERATE_JOB, request("kept across a crash", steps=4))
        await asyncio.sleep(1.5)  # appendfsync everysec: at most the last second is lost in a crash
        kill_redis(server)
    finally:
        await queue.close()
    server.start()
    queue = await JobQueue.connect(server.url)
    try:
        assert [await queue.position(first), await queue.position(second)] == [1, 2]
    finally:
        await queue.close()
    assert (data_dir / "appendonly.aof").stat().st_mode & 0o777 == 0o600


async def test_without_persistence_nothing_is_saved(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=False)
    assert await config(server.url, "appendonly") == "no"
    assert await config(server.url, "save") == ""


async def test_a_worker_and_the_waiting_bot_ride_out_redis_restarts(processes, data_dir):
    """One worker (one job at a time), three outages: idle; painting one job with another queued,
    Redis persistent (both delivered); painting one with another queued, Redis back empty (the painted
    one is delivered, the queued one is honestly lost)."""
    server = processes.embedded_redis(data_dir, persist=True)
    worker = processes.worker(
        "worker", server.url, data_dir, VIPER_WORKER__MAX_JOBS="1", VIPER_WORKER__MAX_BATCH="1"
    )
    await worker.wait_for(r"worker ready", 120)
    queue = await JobQueue.connect(server.url)

    async def painting(job_id: str) -> None:
        async def started():
            progress = await queue.progress(job_id)
            return progress is not None and progress.step >= 1

        await until(started, 60, f"job {job_id} painting")

    async def timed_wait(job_id: str, start: float) -> tuple[dict, float]:
        raw = await queue.wait(job_id, timeout=120)
        return raw, time.monotonic() - start

    try:
        # 1. Idle: Redis dies for 3 s. The worker stays up and takes the next job.
        kill_redis(server)
        await asyncio.sleep(3)
        server.start()

        # 2. Painting, with one job queued behind: Redis is killed for 6 s and comes back with its AOF.
        first = await queue.enqueue(jobs.GENERATE_JOB, request("painted through an outage", steps=100))
        await painting(first)  # (two jobs queued in one millisecond start in the order of their ids)
        second = await queue.enqueue(jobs.GENERATE_JOB, request("queued through an outage", steps=20, seed=2))
        assert await queue.position(second) == 1  # next: the running job is no longer in the waiting line
        kill_redis(server)
        fault = time.monotonic()
        waits = [asyncio.create_task(timed_wait(job_id, fault)) for job_id in (first, second)]
        await asyncio.sleep(6)
        server.start()
        (raw1, t1), (raw2, t2) = await asyncio.wait_for(asyncio.gather(*waits), 150)
        print(f"\nRedis SIGKILL for 6 s (AOF): the painting job's result arrived {t1:.1f} s and the queued "
              f"job's {t2:.1f} s after the kill")
        assert raw1["seed"] == 1 and raw2["seed"] == 2
        for job_id in (first, second):
            info = await Job(job_id, queue.pool, _queue_name=queue.queue_name, _deserializer=deserialize).result_info()
            assert info.success and info.job_try == 1  # painted once, never started again

        # 3. The same, but Redis comes back empty (no persistence): the job being painted is still
        # delivered (its worker puts its lock back and stores its result); the queued one is lost.
        third = await queue.enqueue(jobs.GENERATE_JOB, request("painted while Redis forgot", steps=100, seed=3))
        await painting(third)
        fourth = await queue.enqueue(jobs.GENERATE_JOB, request("forgotten", steps=20, seed=4))
        kill_redis(server)
        fault = time.monotonic()
        third_wait = asyncio.create_task(timed_wait(third, fault))
        fourth_wait = asyncio.create_task(timed_wait(fourth, fault))
        await asyncio.sleep(2)
        empty = processes.embedded_redis(data_dir, persist=False)
        assert empty.url == server.url
        raw3, t3 = await asyncio.wait_for(third_wait, 150)
        assert raw3["seed"] == 3
        with pytest.raises(JobFailed, match="lost by the queue"):
            await asyncio.wait_for(fourth_wait, 60)
        print(f"Redis SIGKILL, back empty after 2 s: the painting job's result arrived {t3:.1f} s after the "
              f"kill, the queued job was reported lost {time.monotonic() - fault:.1f} s after it")
    finally:
        await queue.close()
    assert worker.alive(), worker.text()
    log = worker.text()
    assert "Traceback" not in log and "lost Redis" in log and "Redis answers again" in log

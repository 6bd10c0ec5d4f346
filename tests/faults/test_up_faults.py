"""Issue 14, items 2, 4 and 8 through `viper up` itself (no chat token: Redis, a worker, the runtime).

`viper up` restarts a worker that died, and a SIGTERM of `viper up` mid-job, followed by a new
`viper up`, still delivers the job: the worker hands it back before Redis stops, and the embedded
Redis keeps it in its append-only file. What `viper up` writes under the data dir is private.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from arq.jobs import Job

from bot.queue import JobQueue
from tests.faults.procs import request, until
from viper.contracts import jobs
from viper.contracts.jobs import deserialize

READY = r"worker ready"


async def test_up_restarts_a_dead_worker_and_a_restart_mid_job_loses_nothing(processes, data_dir):
    data = data_dir / "data"
    up = processes.viper("up-1", "up", data_dir=data)
    await up.wait_for(READY, 120)
    first_pid = int((await up.wait_for(r"worker started \(pid (\d+)\)", 5)).group(1))

    # The worker dies (OOM killer, a crash): `viper up` says so and starts another, with backoff.
    os.kill(first_pid, signal.SIGKILL)
    await up.wait_for(rf"the worker \(pid {first_pid}\) exited with code -9; restarting it in 1 s", 15)
    await up.wait_for(r"worker restarted \(pid \d+, restart 1\)", 15)
    await up.wait_for(READY, 120, count=2)

    queue = await JobQueue.connect(f"unix://{data / 'redis.sock'}")
    try:
        job = await queue.enqueue(jobs.GENERATE_JOB, request("a restart mid-job", steps=100))

        async def painting():
            progress = await queue.progress(job)
            return progress is not None and progress.step >= 1

        await until(painting, 60, "the job painting")
        # The bot's wait follows the job while `viper up` is down.
        start = time.monotonic()
        waiting = asyncio.create_task(queue.wait(job, timeout=150))
        up.send(signal.SIGTERM)
        assert await up.exited(40) == 0, up.text()
        assert "1 running job(s) go back to the queue" in up.text() and not waiting.done()

        modes = {p.name: p.stat().st_mode & 0o777 for p in (data, *data.iterdir()) if not p.is_socket()}
        assert modes[data.name] == 0o700, modes
        for name in ("viper.sqlite3", "appendonly.aof", "redis.log"):
            assert modes[name] == 0o600, modes

        up2 = processes.viper("up-2", "up", data_dir=data)
        raw = await asyncio.wait_for(waiting, 160)
        delivered = time.monotonic() - start
        print(f"\nviper up SIGTERM mid-job, then started again: the result arrived {delivered:.1f} s after the "
              f"signal (a new `viper up` included)")
        assert jobs.from_dict(jobs.GenerateResult, raw).seed == 1
        info = await Job(job, queue.pool, _queue_name=queue.queue_name, _deserializer=deserialize).result_info()
        assert info.success and info.job_try == 1
    finally:
        await queue.close()
    up2.send(signal.SIGTERM)
    assert await up2.exited(40) == 0, up2.text()
    assert "Traceback" not in up.text() + up2.text()


async def test_up_starts_its_redis_again_when_it_dies(processes, data_dir):
    """The embedded Redis is killed under `viper up`: it comes back (with its append-only file), says
    so in the log, and the worker serves the next job."""
    import redis.asyncio as aioredis

    data = data_dir / "data"
    up = processes.viper("up-redis", "up", data_dir=data)
    await up.wait_for(READY, 120)
    url = f"unix://{data / 'redis.sock'}"
    client = aioredis.from_url(url)
    try:
        pid = int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    await up.wait_for(r"the embedded Redis stopped; starting it again in 1 s", 15)
    await up.wait_for(r"the embedded Redis is running again", 20)
    queue = await JobQueue.connect(url)
    try:
        job = await queue.enqueue(jobs.GENERATE_JOB, request("after the outage", steps=2))
        raw = await queue.wait(job, timeout=90)
        print(f"\nthe embedded Redis was killed; a new job's result came {time.monotonic() - killed:.1f} s later")
        assert jobs.from_dict(jobs.GenerateResult, raw).seed == 1
    finally:
        await queue.close()
    up.send(signal.SIGTERM)
    assert await up.exited(40) == 0, up.text()
    assert "Traceback" not in up.text()

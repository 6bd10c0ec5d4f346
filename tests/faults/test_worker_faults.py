"""Issue 14, item 1: a worker killed mid-job (SIGKILL) or stopped gracefully (SIGTERM) while painting.

Two real `viper worker` processes on a real Redis. Worker B is paused (SIGSTOP) while the job is
enqueued, so worker A is the one painting it; then A dies or is stopped and B must finish the job,
with its result written exactly once. The times from the fault to the result are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from arq.constants import in_progress_key_prefix
from arq.jobs import Job, JobStatus

from bot.queue import JobQueue
from viper.contracts.jobs import HEARTBEAT_S, LOCK_TTL_S
from tests.faults.procs import ResultWrites, request, until
from viper.contracts import jobs
from viper.contracts.errors import JobCancelled
from viper.contracts.jobs import deserialize

READY = r"worker ready"


async def two_workers(processes, server, data_dir):
    a = processes.worker("worker-a", server.url, data_dir)
    b = processes.worker("worker-b", server.url, data_dir)
    await a.wait_for(READY, 120)
    await b.wait_for(READY, 120)
    return a, b


async def painting(queue: JobQueue, job_id: str) -> None:
    async def started():
        progress = await queue.progress(job_id)
        return progress is not None and progress.step >= 1

    await until(started, 60, f"job {job_id} painting")


async def result_info(queue: JobQueue, job_id: str):
    return await Job(job_id, queue.pool, _queue_name=queue.queue_name, _deserializer=deserialize).result_info()


async def test_a_worker_killed_mid_job_hands_it_to_another_worker_and_cancel_still_works(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=False)
    queue = await JobQueue.connect(server.url)
    try:
        async with ResultWrites(server.url) as writes:
            a, b = await two_workers(processes, server, data_dir)
            b.send(signal.SIGSTOP)
            job = await queue.enqueue(jobs.GENERATE_JOB, request("a lighthouse at dusk", steps=40))
            doomed = await queue.enqueue(jobs.GENERATE_JOB, request("never mind", steps=40, seed=2))
            await painting(queue, job)
            assert await Job(doomed, queue.pool, _queue_name=queue.queue_name).status() == JobStatus.in_progress

            a.send(signal.SIGKILL)
            fault = time.monotonic()
            await a.exited(10)
            # The member presses Cancel on the second image after its worker died, while no other
            # worker is running (B is paused): it ends once the dead worker's lock lapses.
            await queue.cancel(doomed)
            with pytest.raises(JobCancelled):
                await asyncio.wait_for(queue.wait(doomed, timeout=LOCK_TTL_S + 20), LOCK_TTL_S + 30)
            cancelled = time.monotonic() - fault
            assert cancelled < LOCK_TTL_S + HEARTBEAT_S + 5
            assert await queue.position(doomed) is None  # out of the line: no worker will paint it

            b.send(signal.SIGCONT)
            raw = await asyncio.wait_for(queue.wait(job, timeout=60), 70)
            delivered = time.monotonic() - fault
            print(f"\nSIGKILL mid-job: cancel of the dead worker's job ended {cancelled:.1f} s and the other "
                  f"job's result arrived {delivered:.1f} s after the kill")
            assert delivered < 30
            assert jobs.from_dict(jobs.GenerateResult, raw).seed == 1
            info = await result_info(queue, job)
            assert info.success and info.job_try == 2  # the dead worker's try, then B's
            await asyncio.sleep(1.0)
        assert writes.counts.get(job) == 1 and doomed not in writes.counts
        assert "try 2 (its last worker stopped or died)" in b.text()
        assert not await queue.pool.exists(in_progress_key_prefix + job)
        assert b.alive() and "Traceback" not in b.text()
    finally:
        await queue.close()


async def test_a_worker_stopped_mid_job_puts_it_back_for_another_worker(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=False)
    queue = await JobQueue.connect(server.url)
    try:
        async with ResultWrites(server.url) as writes:
            a, b = await two_workers(processes, server, data_dir)
            b.send(signal.SIGSTOP)
            job = await queue.enqueue(jobs.GENERATE_JOB, request("a harbour at night", steps=40))
            await painting(queue, job)
            b.send(signal.SIGCONT)

            a.send(signal.SIGTERM)  # a deploy, or `viper up` stopping
            fault = time.monotonic()
            raw = await asyncio.wait_for(queue.wait(job, timeout=60), 70)
            delivered = time.monotonic() - fault
            print(f"\nSIGTERM mid-job: the result arrived {delivered:.1f} s after the signal")
            assert await a.exited(30) == 0
            assert delivered < 30
            assert jobs.from_dict(jobs.GenerateResult, raw).seed == 1
            info = await result_info(queue, job)
            assert info.success and info.job_try == 1  # a graceful stop gives its try back
            await asyncio.sleep(1.0)
        assert writes.counts.get(job) == 1
        assert "go back to the queue" in a.text()
        assert b.alive() and "Traceback" not in a.text() + b.text()
    finally:
        await queue.close()

"""Issue 13, item 2: two `viper worker` processes on one Redis, a burst of jobs from several members.

Both workers are real processes with the tiny model, one job at a time each (`[worker] max_jobs = 1`),
paused (SIGSTOP) while the burst is queued so they meet it together. Redis keyspace notifications
count, per job, the runs started (arq's INCR of the job's try counter, once per run) and the results
written, and give the order in which runs started, one total order across both workers.

What is asserted:
- every job ran exactly once: one run started, one result written, and its result says try 1;
- the fair order holds within what two concurrent workers allow. Alone, one worker starts them in
  `fair_order`'s order, where before any member's first job at most 1 job of each other member has
  started; two workers read the line at about the same time and each may claim a job the other's
  snapshot put later, so the bound tested is 2 (1 + one per extra worker), and B, who queued one
  image right after A's six, starts among the first 3 (2 with one worker).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter

import redis.asyncio as aioredis

from bot.queue import JobQueue
from tests.faults.procs import request
from viper.contracts import jobs
from viper.contracts.fairness import WORKER_KEY_PREFIX, member_of

READY = r"worker ready"
WORKERS = 2
BOUND = 1 + (WORKERS - 1)  # jobs of one other member started before a member's first job


class RunsAndResults:
    """Per job: runs started (INCR of `arq:retry:<id>`), results written (SET of `arq:result:<id>`),
    and the order the runs started in, from Redis keyspace notifications."""

    def __init__(self, url: str):
        self.url = url
        self.runs: Counter[str] = Counter()
        self.results: Counter[str] = Counter()
        self.started: list[str] = []

    async def __aenter__(self) -> "RunsAndResults":
        self.client = aioredis.from_url(self.url)
        await self.client.config_set("notify-keyspace-events", "K$")
        self.pubsub = self.client.pubsub()
        await self.pubsub.psubscribe("__keyspace@0__:arq:retry:*", "__keyspace@0__:arq:result:*")
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] != "pmessage":
                continue
            key = message["channel"].decode().split(":", 1)[1]
            if message["data"] == b"incrby" and key.startswith("arq:retry:"):
                job_id = key.removeprefix("arq:retry:")
                self.runs[job_id] += 1
                self.started.append(job_id)
            elif message["data"] == b"set" and key.startswith("arq:result:"):
                self.results[key.removeprefix("arq:result:")] += 1

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.pubsub.aclose()
        await self.client.aclose()


async def completed_per_worker(queue: JobQueue, total: int) -> list[int]:
    """Jobs completed by each worker, from their own health keys (written every 5 s)."""
    async def read() -> list[int]:
        counts = []
        async for key in queue.pool.scan_iter(match=WORKER_KEY_PREFIX + "*"):
            raw = await queue.pool.get(key)
            if raw:
                counts.append(json.loads(raw)["complete"])
        return sorted(counts)

    deadline = time.monotonic() + 10
    counts = await read()
    while sum(counts) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        counts = await read()
    return counts


def most_ahead(started: list[str]) -> dict[str, int]:
    """For each member, the most jobs of any one other member started before its first job."""
    worst: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for job_id in started:
        who = member_of(job_id)
        if who not in worst:
            worst[who] = max((n for m, n in seen.items() if m != who), default=0)
        seen[who] += 1
    return worst


async def test_two_workers_run_every_job_of_a_burst_once_in_about_fair_order(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=False)
    queue = await JobQueue.connect(server.url)
    try:
        async with RunsAndResults(server.url) as seen:
            workers = [processes.worker(f"worker-{n}", server.url, data_dir, VIPER_WORKER__MAX_JOBS="1")
                       for n in range(WORKERS)]
            for w in workers:
                await w.wait_for(READY, 120)
            for w in workers:
                w.send(signal.SIGSTOP)
            ids: list[str] = []
            now = int(time.time() * 1000)
            plan = [1] * 6 + [m for m in range(2, 8) for _ in range(2)]  # A bursts 6, then six members 2 each
            for n, member in enumerate(plan):
                job_id = f"generate-{member}-{now + n}-{n:06x}"
                await queue.enqueue(jobs.GENERATE_JOB, request(f"image {n}", steps=2, seed=n), job_id=job_id)
                ids.append(job_id)
            began = time.monotonic()
            for w in workers:
                w.send(signal.SIGCONT)
            for job_id in ids:
                raw = await asyncio.wait_for(queue.wait(job_id, timeout=90), 100)
                assert jobs.from_dict(jobs.GenerateResult, raw).seed == ids.index(job_id)
            took = time.monotonic() - began
            await asyncio.sleep(0.3)  # the last notifications
        for job_id in ids:
            info = await queue.pool.get("arq:result:" + job_id)
            assert info is not None
        assert {j: seen.runs[j] for j in ids} == {j: 1 for j in ids}, "a job ran twice (or never)"
        assert {j: seen.results[j] for j in ids} == {j: 1 for j in ids}, "a result was written twice"
        assert sorted(seen.started) == sorted(ids)

        order = seen.started
        ahead = most_ahead(order)
        b_first = order.index(ids[6])
        per_worker = await completed_per_worker(queue, len(ids))
        print(f"\n{len(ids)} jobs, {WORKERS} workers: done in {took:.1f} s; runs per worker {per_worker}; "
              f"most jobs of one other member before a member's first: {max(ahead.values())} (bound {BOUND}); "
              f"B's first image was start number {b_first + 1}")
        assert max(ahead.values()) <= BOUND, (ahead, order)
        assert b_first < 1 + WORKERS, order
        assert len(per_worker) == WORKERS and all(n >= 1 for n in per_worker), "both workers took jobs"
    finally:
        await queue.close()

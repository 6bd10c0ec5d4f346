"""Bot-side client of the job queue (arq on Redis): enqueue, position, progress, result, cancel.

The worker (`engine.worker`) runs the jobs; both sides agree on the names, keys and msgpack
serialisation in `viper.contracts.jobs`. A Redis failure surfaces as `QueueUnavailable`, except in
`wait`, which follows its job through an outage (Redis restarted, network cut) until its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from arq import create_pool
from arq.connections import ArqRedis
from arq.constants import health_check_key_suffix, in_progress_key_prefix, job_key_prefix
from arq.jobs import Job, JobStatus, SerializationError
from redis.exceptions import RedisError, WatchError

from viper.contracts import jobs
from viper.contracts.fairness import Line, read_line
from viper.contracts.jobs import deserialize, redis_settings, serialize
from viper.contracts.errors import (
    InvalidArgument, JobCancelled, JobFailed, JobTimeout, QueueUnavailable, ViperError,
)

log = logging.getLogger("viper.queue")

LOST_GRACE_S = 2 * jobs.HEARTBEAT_S
"""After an outage, how long a job may be missing from Redis before `wait` calls it lost: a Redis that
restarted empty gets the lock of a job still painting back within a heartbeat of the worker running it
(`jobs.HEARTBEAT_S`), and that job's result is then stored as usual."""
RETRY_MAX_S = 2.0
"""Longest pause between two attempts to reach Redis while following a job."""
LINE_CACHE_S = 0.2
"""How long one read of the line serves the positions asked for (every job a bot follows asks)."""


@dataclass
class Progress:
    step: int
    total: int


ProgressCallback = Callable[[str, Progress | None, int | None], Awaitable[None]]
"""Called while waiting: (status, progress or None, queue position or None)."""


HELD_SCORE = 9e15
"""A queue score (milliseconds, about the year 2255) that keeps a job waiting: see `JobQueue.hold`."""


class JobQueue:
    """Thin wrapper around an `ArqRedis` pool with the project's conventions."""

    def __init__(self, pool: ArqRedis, queue_name: str = jobs.QUEUE_NAME):
        self.pool = pool
        self.queue_name = queue_name
        self._line: tuple[float, Line] | None = None  # (when it was read, the line)

    @classmethod
    async def connect(cls, url: str, queue_name: str = jobs.QUEUE_NAME) -> "JobQueue":
        try:
            pool = await create_pool(
                redis_settings(url), job_serializer=serialize, job_deserializer=deserialize,
                default_queue_name=queue_name,
            )
        except (OSError, RedisError, asyncio.TimeoutError) as e:
            raise QueueUnavailable(f"cannot reach Redis at {url}: {e}") from e
        return cls(pool, queue_name)

    async def close(self) -> None:
        await self.pool.aclose()

    async def enqueue(self, function: str, payload: dict, job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        try:
            job = await self.pool.enqueue_job(function, payload, _job_id=job_id, _queue_name=self.queue_name)
        except SerializationError as e:  # e.g. an integer beyond 64 bits, which msgpack cannot carry
            raise InvalidArgument(f"the job's arguments cannot be queued: {e.__cause__ or e}") from e
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot queue the job: {e}") from e
        self._line = None  # the next position sees this job
        if job is None:  # arq refuses a duplicate id: the job is already queued
            return job_id
        return job.job_id

    async def line(self, *, max_age_s: float = LINE_CACHE_S) -> Line:
        """The queue as the workers see it: waiting jobs in fair order (`viper.contracts.fairness`),
        and the running ones. Read again when older than `max_age_s` (many followers share a read)."""
        now = time.monotonic()
        if self._line is not None and now - self._line[0] <= max_age_s:
            return self._line[1]
        try:
            line = await read_line(self.pool, self.queue_name)
        except (OSError, RedisError) as e:
            raise QueueUnavailable(str(e)) from e
        self._line = (now, line)
        return line

    async def position(self, job_id: str) -> int | None:
        """1-based place in the order the workers will start the waiting jobs (fair order: round-robin
        across members), or None when the job is running or finished. It is computed by the same
        function as the workers' (`fairness.fair_order`), so it moves as the line moves."""
        line = await self.line()
        place = line.position(job_id)
        if place is not None or not line.truncated:
            return place
        try:  # beyond the window that is ordered: its rank in arq's order, after the whole window
            rank = await self.pool.zrank(self.queue_name, job_id)
            if rank is None or await self.pool.exists(in_progress_key_prefix + job_id):
                return None
        except (OSError, RedisError) as e:
            raise QueueUnavailable(str(e)) from e
        return max(rank + 1, len(line.order) + 1)

    async def workers_alive(self) -> bool:
        """Whether a worker reported in recently (arq's health-check key)."""
        try:
            return bool(await self.pool.exists(self.queue_name + health_check_key_suffix))
        except (OSError, RedisError) as e:
            raise QueueUnavailable(str(e)) from e

    async def progress(self, job_id: str) -> Progress | None:
        raw = await self.pool.get(jobs.progress_key(job_id))
        if not raw:
            return None
        step, _, total = raw.decode().partition("/")
        return Progress(int(step), int(total))

    async def cancel(self, job_id: str) -> None:
        """Stop the job: taken out of the line if no worker has it yet (so it ends even while every
        worker is down), otherwise stopped by its worker at the next step."""
        job = Job(job_id, self.pool, _queue_name=self.queue_name, _deserializer=deserialize)
        self._line = None
        try:
            await self.pool.set(jobs.cancel_key(job_id), b"1", ex=3600)
            if await self._take_out_of_line(job_id):
                return
            # arq's abort marks the job and then waits for its end; we only mark it.
            with contextlib.suppress(asyncio.TimeoutError):
                await job.abort(timeout=0, poll_delay=0)
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot cancel the job: {e}") from e

    async def _take_out_of_line(self, job_id: str) -> bool:
        """Remove a job no worker has started; False when one has (arq keeps running jobs in the line).

        The worker marks a job in progress under a WATCH of the same key, so exactly one side wins.
        """
        in_progress = in_progress_key_prefix + job_id
        async with self.pool.pipeline(transaction=True) as pipe:
            await pipe.watch(in_progress)
            if await pipe.exists(in_progress):
                return False
            pipe.multi()
            pipe.zrem(self.queue_name, job_id)
            pipe.delete(job_key_prefix + job_id)
            try:
                removed, _ = await pipe.execute()
            except WatchError:
                return False
        return bool(removed)

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float,
        on_update: ProgressCallback | None = None,
        poll_interval: float = 0.25,
        update_interval: float = 2.0,
        lost_grace: float = LOST_GRACE_S,
    ) -> dict:
        """Wait for a job's result dict; call `on_update` at most every `update_interval` seconds.

        Follows the job through Redis outages, trying again with backoff, until `timeout` (from now)
        has passed. A job cancelled while no worker runs it (its worker died) ends here, taken out of
        the line. Raises the job's own ViperError (as the worker reported it), JobCancelled, JobFailed
        (the job is gone, e.g. a Redis restarted without persistence), JobTimeout, or QueueUnavailable
        (Redis still away at the timeout).
        """
        job = Job(job_id, self.pool, _queue_name=self.queue_name, _deserializer=deserialize)
        deadline = time.monotonic() + timeout
        last_update = 0.0
        last_seen: tuple | None = None
        down_since: float | None = None  # Redis unreachable since then
        back_at: float | None = None  # Redis answered again then, after an outage
        delay = poll_interval
        while True:
            try:
                info = await job.result_info()
                if info is not None:
                    return self._unpack(info.success, info.result)
                status = await job.status()
                now = time.monotonic()
                if down_since is not None:
                    log.info("job %s: Redis answers again after %.1f s", job_id, now - down_since)
                    down_since, back_at, delay = None, now, poll_interval
                if status == JobStatus.not_found:
                    if await self.pool.exists(jobs.cancel_key(job_id)):
                        raise JobCancelled("the job was cancelled before it started")
                    if back_at is None or now - back_at >= lost_grace:
                        raise JobFailed("the job was lost by the queue (was Redis restarted?)")
                held = status == JobStatus.deferred and await self._held(job_id)
                if held:  # a paused server's job (`hold`): it waits without running out of time
                    deadline = max(deadline, now + timeout)
                if status == JobStatus.queued and await self.pool.exists(jobs.cancel_key(job_id)):
                    # Cancelled, and no worker holds it (its worker died, or the member asked while
                    # every worker was down): end it here rather than wait for a worker to drop it.
                    if await self._take_out_of_line(job_id):
                        raise JobCancelled("the job was cancelled")
                if on_update is not None and now - last_update >= update_interval:
                    prog = await self.progress(job_id)
                    pos = await self.position(job_id)
                    state = "held" if held else status.value
                    seen = (state, prog and (prog.step, prog.total), pos)
                    if seen != last_seen:
                        await on_update(state, prog, pos)
                        last_seen = seen
                        last_update = now
            except (OSError, RedisError, QueueUnavailable) as e:
                now = time.monotonic()
                if down_since is None:
                    down_since = now
                    log.warning("job %s: lost the connection to Redis (%s); trying again", job_id, e)
                if now > deadline:
                    raise QueueUnavailable(
                        f"lost the connection to Redis {now - down_since:.0f} s ago and it is still away: {e}"
                    ) from e
                await asyncio.sleep(min(delay, max(deadline - now, 0.0) + 0.01))
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if time.monotonic() > deadline:
                raise JobTimeout(f"no result after {timeout:.0f} s; the workers may be overloaded or down")
            await asyncio.sleep(poll_interval)

    @staticmethod
    def _unpack(success: bool, result: Any) -> dict:
        if success and isinstance(result, dict) and result.get("ok"):
            return result["result"]
        if success and isinstance(result, dict) and "error" in result:
            raise ViperError.from_dict(result["error"])
        if isinstance(result, dict) and result.get("__exception__") in ("CancelledError", "JobAborted"):
            raise JobCancelled("the job was cancelled")
        if isinstance(result, dict) and result.get("__exception__") == "TimeoutError":
            raise JobTimeout("the worker gave up on the job (job timeout)")
        message = result.get("message") if isinstance(result, dict) else str(result)
        tries = re.fullmatch(r"max (\d+) retries exceeded", str(message))
        if tries:  # arq's word for a job whose workers all stopped (killed, crashed) under it
            raise JobFailed(f"the job was started {tries.group(1)} times and its worker stopped every time")
        raise JobFailed(f"the worker failed: {message}")

    async def forget(self, job_ids: list[str]) -> None:
        """Delete what Redis holds about these jobs (a member's /forget): queued ones are taken out
        of the line, and results (their prompts, comments and features), progress and cancel marks go."""
        from arq.constants import result_key_prefix

        try:
            for job_id in job_ids:
                await self._take_out_of_line(job_id)
            keys = [key for job_id in job_ids for key in (
                result_key_prefix + job_id, job_key_prefix + job_id, jobs.progress_key(job_id), jobs.cancel_key(job_id),
            )]
            if keys:
                await self.pool.delete(*keys)
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot delete the jobs' data from Redis: {e}") from e

    # -- pausing a server: its queued jobs wait in the line, kept ----------------------------------

    async def hold(self, job_ids: list[str]) -> dict[str, float]:
        """Keep these queued jobs in the line without letting a worker take them: each is moved to
        a score far in the future (arq treats it as deferred). Returns job id -> its real score, for
        `release`; jobs a worker already has (or that are gone) are left alone."""
        held: dict[str, float] = {}
        try:
            for job_id in job_ids:
                score = await self.pool.zscore(self.queue_name, job_id)
                if score is None or score >= HELD_SCORE or await self.pool.exists(in_progress_key_prefix + job_id):
                    continue
                await self.pool.zadd(self.queue_name, {job_id: HELD_SCORE}, xx=True)
                held[job_id] = score
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot pause the queued jobs: {e}") from e
        return held

    async def _held(self, job_id: str) -> bool:
        score = await self.pool.zscore(self.queue_name, job_id)
        return score is not None and score >= HELD_SCORE

    async def release(self, held: dict[str, float]) -> None:
        """Put held jobs back at their places in the line."""
        try:
            for job_id, score in held.items():
                await self.pool.zadd(self.queue_name, {job_id: score}, xx=True)
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot resume the queued jobs: {e}") from e

    async def depth(self) -> int:
        """Jobs in the line (queued, held or running)."""
        try:
            return int(await self.pool.zcard(self.queue_name))
        except (OSError, RedisError) as e:
            raise QueueUnavailable(f"cannot read the queue: {e}") from e

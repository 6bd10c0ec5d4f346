"""The arq worker: two jobs, extract preferences and generate an image.

Models are loaded once per worker process in `startup` and kept in arq's `ctx`. Generation runs in
a thread so the event loop keeps answering arq (health checks, aborts) while the GPU works; the
thread reports each step to Redis and stops at the next step when the job is cancelled.

The worker runs several generate jobs at once (`[worker] max_jobs`), and they meet in one
`engine.batching.Batcher`: requests of the same size, steps and mode that arrive within
`[worker] batch_window_ms` of each other share UNet calls, up to `[worker] max_batch` members,
while the GPU runs one batch at a time. Each member keeps its own prompt, profile, seed, progress
and cancellation. A shared lock keeps VPE extraction and generation from using the GPU at once.

Jobs return `{"ok": True, "result": {...}}` or `{"ok": False, "error": ViperError.to_dict()}` so the
bot gets domain errors as data, never as pickled exceptions.

What survives what (`ViperWorker`, on arq's own mechanisms):
- a worker killed mid-job (SIGKILL, OOM, power): the job's in-progress lock lives `LOCK_TTL_S` and is
  renewed every `HEARTBEAT_S` while the job runs, so once its worker is gone the lock lapses and
  another worker runs the job again (arq counts tries: `MAX_TRIES` runs at most, so a job that kills
  every worker it meets ends as a failure instead of looping). A run is safe to repeat: its result is
  stored under the job id, once, and the same seed paints the same image;
- a worker stopped gracefully (SIGTERM/SIGINT) mid-job: arq cancels the job and puts it back in the
  queue at once, for any worker; that run does not count as a try;
- Redis going away (restart, outage): the worker keeps running and polls again with backoff, a job
  keeps painting, its lock is re-claimed as soon as Redis answers (even a Redis restarted empty), its
  result waits until it can be stored, and the worker takes no new job for `RECLAIM_GRACE_S` after
  an outage, so the workers that were running jobs re-claim them first.

Fair service (`viper.contracts.fairness`): each poll reads the ready line, orders it with
`fair_order` (round-robin across members, the one served longest ago first) and claims jobs in that
order with arq's per-job lock, only as many as the worker has free slots (never waiting on a slot
with a stale list), so several workers on one Redis start every job once and keep the order. A slot
that frees wakes the poll at once. The claim records the member's turn in `fairness.SERVED_KEY` in
the same transaction as the lock.

Metrics (`viper.metrics`, served when `make_worker(..., metrics_port=...)`): jobs by outcome, wait
and run seconds, batch sizes, GPU memory, the queue; `/healthz` says whether Redis answers and the
models are loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from arq import Worker
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms
from arq.worker import func
from redis.exceptions import RedisError, ResponseError, WatchError

from viper import metrics
from viper.contracts import fairness, jobs
from viper.contracts.config import Settings
from viper.contracts.errors import JobCancelled, JobFailed, QueueUnavailable, ViperError
from viper.contracts.jobs import HEARTBEAT_S, LOCK_TTL_S, MAX_TRIES, deserialize, redis_settings, serialize

log = logging.getLogger("viper.worker")

REDIS_RETRY_MAX_S = 2.0
"""Longest pause between two attempts to reach Redis again."""
RECLAIM_GRACE_S = 2.0
"""After an outage, how long a worker waits before it takes jobs: a worker that was running jobs
through the outage renews their locks every 0.5 s until Redis answers, so it re-claims them first."""
STARTUP_REDIS_WAIT_S = 120.0
"""How long a starting worker waits for Redis before it gives up with a clear error."""
RESULT_PATIENCE_S = 3600.0
"""How long a finished job's result waits for Redis to come back before the worker drops it."""

_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)


def load_models(settings: Settings) -> dict[str, Any]:
    """Load the generator and the extractor named in the settings (the slow part of start-up)."""
    from engine.extraction import extractor_from_settings
    from engine.generation import GenerationDefaults
    from engine.safety import safety_checker_for
    from engine.sdxl import load_generator

    e = settings.engine
    defaults = GenerationDefaults(
        steps=e.steps, guidance=e.guidance, width=e.width, height=e.height,
        liked_strength=e.liked_strength, disliked_strength=e.disliked_strength, max_side=e.max_side,
        max_steps=e.max_steps, mode="fast" if e.fast else "fused",
        fast_refresh=e.fast_refresh, vary_strength=e.vary_strength,
    )
    compile_unet = e.compile
    log.info("loading model %s on %s", e.model, e.device)
    generator = load_generator(
        e.model, device=e.device, dtype=e.dtype, refiner=e.refiner or None,
        cache_dir=e.cache_dir or None, defaults=defaults,
        compile=compile_unet, channels_last=e.channels_last,
    )
    # The image safety check ([moderation] nsfw_check), on the generator's device: every result's
    # image is judged in `to_result`. "auto" with a real model and no checker stops the start here.
    generator.safety = safety_checker_for(
        settings.moderation.nsfw_check, model=e.model, device=generator.device, dtype=generator.pipe.dtype,
        cache_dir=e.cache_dir or None,
    )
    if compile_unet:
        log.info("compiling the UNet for batches of one and two members (this takes minutes once)")
        generator.warm_up(members=(1, 2))
    extractor = extractor_from_settings(settings.extraction)
    try:
        extractor.load()  # the first member's /done should not pay for loading a vision-language model
    except ViperError as e:  # e.g. the openai endpoint is down now: jobs retry and explain, the worker runs on
        log.warning("extraction backend %s is not ready: %s", extractor.name, e.message)
    log.info(
        "worker ready: model %s, refiner %s, mode %s, extraction backend %s, image safety check %s",
        generator.model_name, "on" if generator.refiner is not None else "off", defaults.mode, extractor.name,
        "on" if generator.safety is not None else "off",
    )
    return {"generator": generator, "extractor": extractor}


async def startup(ctx: dict) -> None:
    # Tests (and `viper up` with a shared process) may hand in already-loaded models.
    if "generator" not in ctx:
        ctx.update(await asyncio.to_thread(load_models, ctx["settings"]))
    from engine.batching import Batcher

    w = ctx["settings"].worker
    generator = ctx["generator"]
    ctx["gpu_lock"] = asyncio.Lock()
    ctx["batcher"] = Batcher(
        lambda group: _run_generation(generator, group),
        window_s=w.batch_window_ms / 1000,
        max_batch=w.max_batch,
        lock=ctx["gpu_lock"],
    )


async def shutdown(ctx: dict) -> None:
    if "batcher" in ctx:
        await ctx["batcher"].close()


def _fail(err: ViperError) -> dict:
    return {"ok": False, "error": err.to_dict()}


def _log_retry(ctx: dict, what: str) -> None:
    if ctx.get("job_try", 1) > 1:
        log.info("%s job %s: try %d (its last worker stopped or died)", what, ctx.get("job_id"), ctx["job_try"])


async def _cancel_requested(redis, job_id: str) -> bool:
    try:
        return bool(await redis.exists(jobs.cancel_key(job_id)))
    except _REDIS_DOWN:  # asked again at every step once Redis is back
        return False


async def extract_preferences(ctx: dict, payload: dict) -> dict:
    request = jobs.from_dict(jobs.ExtractRequest, payload)
    _log_retry(ctx, "extraction")
    extractor = ctx["extractor"]
    # Only a backend that runs a model on this GPU (VPE) waits for the current batch; the lexicon
    # and remote endpoints do not touch it. A backend can say so itself with `uses_gpu`.
    gpu = ctx.get("gpu_lock") if getattr(extractor, "uses_gpu", extractor.name == "vpe") else None
    try:
        async with gpu or contextlib.nullcontext():
            result = await asyncio.to_thread(extractor.extract, request.comments)
    except ViperError as e:
        return _fail(e)
    except Exception as e:  # the member must hear something; the operator gets the traceback
        log.exception("extraction failed for member %s", request.member_id)
        return _fail(JobFailed(f"extraction failed: {type(e).__name__}"))
    return {"ok": True, "result": jobs.to_dict(result)}


@dataclass
class _Generation:
    """One generate job as the batcher sees it: the request and its member (plan, progress, stop)."""

    request: jobs.GenerateRequest
    member: Any  # engine.generation.Member


def _run_generation(generator, group: list[_Generation]) -> list:
    """Run one group on the GPU (in the batcher's thread); one outcome per job.

    A group of one goes through `generate`, the engine's single-request entry point (the same code
    as a batch of one, PNG included). A larger group goes through `render_batch`, which stops at the
    decoded images so their PNG encoding runs in each job, off the GPU's critical path.
    """
    metrics.BATCH_SIZE.observe(len(group))
    if len(group) == 1:
        job = group[0]
        try:
            return [generator.generate(job.request, on_step=job.member.on_step, should_stop=job.member.should_stop)]
        except Exception as exc:
            return [exc]
    return generator.render_batch([job.member for job in group])


async def generate_image(ctx: dict, payload: dict) -> dict:
    from engine.generation import Member

    request = jobs.from_dict(jobs.GenerateRequest, payload)
    job_id: str = ctx["job_id"]
    redis = ctx["redis"]
    generator = ctx["generator"]
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    async def report(step: int, total: int) -> None:
        try:
            await redis.set(jobs.progress_key(job_id), f"{step}/{total}", ex=3600)
            if await redis.exists(jobs.cancel_key(job_id)):
                stop.set()
        except _REDIS_DOWN:  # Redis is away: keep painting, the member's progress catches up later
            pass

    def on_step(step: int, total: int) -> None:
        # Called from the generation thread: hand the Redis I/O to the event loop, never wait on it.
        asyncio.run_coroutine_threadsafe(report(step, total), loop)

    _log_retry(ctx, "generation")
    try:
        # Invalid requests fail here, before they wait for a batch; in a thread, since an attached
        # image (Vary, Compare) is decoded and checked here.
        plan = await asyncio.to_thread(generator.prepare, request)
        if await _cancel_requested(redis, job_id):
            raise JobCancelled("generation cancelled")
        member = Member(plan, on_step=on_step, should_stop=stop.is_set)
        outcome = await ctx["batcher"].submit(plan.batch_key, _Generation(request, member))
        if isinstance(outcome, jobs.GenerateResult):
            result = outcome
        else:
            result = await asyncio.to_thread(generator.to_result, outcome)
    except asyncio.CancelledError:
        stop.set()  # an arq abort or job timeout: leave the queue, or stop at the batch's next step
        raise
    except ViperError as e:
        return _fail(e)
    except Exception as e:
        log.exception("generation failed for job %s", job_id)
        return _fail(JobFailed(f"generation failed: {type(e).__name__}: {e}"))
    return {"ok": True, "result": jobs.to_dict(result)}


def _measured(function, name: str):
    """`function` (a job coroutine), counted in the worker's metrics: its wait (first try only), its
    run time and its outcome (ok, failed, cancelled by its member, interrupted: aborted, timed out
    or handed back by a stopping worker)."""

    @functools.wraps(function)
    async def measured(ctx: dict, *args, **kwargs):
        if ctx.get("job_try", 1) == 1 and ctx.get("enqueue_time") is not None:
            metrics.WAIT_SECONDS.labels(name).observe(max(time.time() - ctx["enqueue_time"].timestamp(), 0.0))
        started = time.monotonic()
        status = "failed"
        try:
            outcome = await function(ctx, *args, **kwargs)
            if isinstance(outcome, dict) and outcome.get("ok"):
                status = "ok"
            elif isinstance(outcome, dict) and (outcome.get("error") or {}).get("code") == JobCancelled.code:
                status = "cancelled"
            return outcome
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            metrics.RUN_SECONDS.labels(name).observe(time.monotonic() - started)
            metrics.WORKER_JOBS.labels(name, status).inc()

    return measured


def _gpu_memory_bytes() -> float:
    torch = sys.modules.get("torch")  # loaded with the models; never imported just to say 0
    if torch is None or not torch.cuda.is_available():
        return 0.0
    return float(torch.cuda.memory_allocated())


class ViperWorker(Worker):
    """arq's Worker, made to survive its own death and Redis outages, and to start jobs in fair order
    (see the module's docstring).

    `lock_ttl_s` and `heartbeat_s` default to `LOCK_TTL_S` and `HEARTBEAT_S`. `metrics_port` (None:
    no metrics; 0: any free port, for tests) serves `viper.metrics.WORKER_REGISTRY` and `/healthz`.
    """

    def __init__(self, *args, lock_ttl_s: float = LOCK_TTL_S, heartbeat_s: float = HEARTBEAT_S,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1", **kwargs):
        super().__init__(*args, **kwargs)
        if heartbeat_s >= lock_ttl_s:
            raise ValueError("the heartbeat must be shorter than the lock it renews")
        self.metrics_port, self.metrics_host = metrics_port, metrics_host
        self.metrics_server: metrics.MetricsServer | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.worker_key = fairness.WORKER_KEY_PREFIX + self.worker_id
        self._started_at = time.time()
        self._slot_freed = asyncio.Event()  # a job ended: poll again now, its slot is free
        self._pruned_at = 0.0
        self.in_progress_timeout_s = lock_ttl_s  # arq sets the lock with this when it takes a job
        self.heartbeat_s = heartbeat_s
        self._running: set[str] = set()  # jobs whose lock this worker keeps alive
        self._locks_guard = asyncio.Lock()  # a renewal never lands after the job's end removed its lock
        self._pick_after = 0.0
        self._down_since: float | None = None
        self._down_logged = 0.0
        self._retry_delay = 0.0
        self.on_stop = self._log_stop

    # -- start, stop -----------------------------------------------------------------------------

    async def main(self) -> None:
        if self.metrics_port is not None and self.metrics_server is None:
            # Before Redis and the models: /healthz says 503 while the worker waits for them.
            self.metrics_server = await metrics.serve(
                metrics.WORKER_REGISTRY, health=self._health, refresh=self._refresh_metrics,
                host=self.metrics_host, port=self.metrics_port,
            )
            metrics.GPU_MEMORY.set_function(_gpu_memory_bytes)
        if self._pool is None:
            self._pool = await self._connect()
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        keeper = asyncio.create_task(self._keep_locks(), name="viper-lock-heartbeat")
        try:
            while True:
                self._slot_freed.clear()  # a job ending during this iteration makes the next one come at once
                await self._poll_iteration()
                if self.burst and await self._burst_done():
                    await asyncio.gather(*self.tasks.values())
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), self.poll_delay_s)
        finally:
            keeper.cancel()

    async def _health(self) -> dict[str, bool]:
        redis = self._pool
        return {
            "redis": redis is not None and await metrics.redis_answers(redis),
            "models": "batcher" in self.ctx,  # set by `startup` once the models are loaded
        }

    async def _refresh_metrics(self) -> None:
        if self._pool is not None:
            line = await fairness.read_line(self._pool, self.queue_name)
            metrics.set_queue(line.ready, line.deferred, len(line.running))

    async def _connect(self):
        """The arq pool, waiting (with backoff) for a Redis that is not up yet."""
        deadline = time.monotonic() + STARTUP_REDIS_WAIT_S
        delay = 0.5
        while True:
            try:
                return await create_pool(
                    self.redis_settings, job_deserializer=self.job_deserializer, job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name, expires_extra_ms=self.expires_extra_ms,
                )
            except _REDIS_DOWN as e:
                if time.monotonic() + delay > deadline:
                    raise QueueUnavailable(
                        f"cannot reach Redis at {_where(self.redis_settings)} after {STARTUP_REDIS_WAIT_S:.0f} s: {e}"
                    ) from e
                log.warning("waiting for Redis at %s: %s", _where(self.redis_settings), e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REDIS_RETRY_MAX_S)

    async def _burst_done(self) -> bool:
        if 0 <= self.max_burst_jobs <= self._jobs_started():
            return True
        try:
            return await self.pool.zcard(self.queue_name) == 0
        except _REDIS_DOWN:
            return False

    def _log_stop(self, sig: signal.Signals) -> None:
        if sig != signal.SIGUSR1 and self.tasks:
            log.info("stopping on %s: %d running job(s) go back to the queue for another worker", sig.name, len(self.tasks))

    async def close(self) -> None:
        """arq's close, except that a Redis that is away does not stop the shutdown half-way."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if self.metrics_server is not None:
            await self.metrics_server.close()
            self.metrics_server = None
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(*_REDIS_DOWN):
            await self.pool.delete(self.health_check_key, self.worker_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(*_REDIS_DOWN):
            await self.pool.aclose(close_connection_pool=True)
        self._pool = None

    # -- polling through outages -----------------------------------------------------------------

    async def _poll_iteration(self) -> None:
        try:
            await self._poll_once()
        except _REDIS_DOWN as e:
            await self._redis_down(e)
            return
        if self._down_since is not None:
            log.warning("Redis answers again after %.0f s; taking jobs again", time.monotonic() - self._down_since)
            self._down_since = None
            # The workers that were running jobs through the outage re-claim their locks: leave them that.
            self._pick_after = time.monotonic() + RECLAIM_GRACE_S

    async def _redis_down(self, error: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since, self._down_logged, self._retry_delay = now, now, 0.25
            log.warning(
                "lost Redis (%s); %d running job(s) keep going, trying again with backoff", error, len(self.tasks)
            )
        elif now - self._down_logged >= 30:
            self._down_logged = now
            log.warning("still no Redis after %.0f s (%s); trying again", now - self._down_since, error)
        await asyncio.sleep(self._retry_delay)
        self._retry_delay = min(self._retry_delay * 2, REDIS_RETRY_MAX_S)

    # -- taking jobs, keeping their locks --------------------------------------------------------

    async def _poll_once(self) -> None:
        """arq's poll, with the ready line taken in fair order (`fairness.read_line`)."""
        if self.allow_pick_jobs and self.job_counter < self.max_jobs and time.monotonic() >= self._pick_after:
            line = await fairness.read_line(
                self.pool, self.queue_name, ready_only=True, limit=max(self.queue_read_limit, fairness.LINE_WINDOW),
            )
            await self.start_jobs([job_id.encode() for job_id in line.order])
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # errors in run_job propagate, as in arq
        await self.heart_beat()
        await self._prune_served()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Claim jobs in the given order (the fair order), as many as this worker has free slots.

        Unlike arq's, it never waits for a slot to free with this list in hand (the list would be stale
        by then: the next poll reads the line again), and keeps its counters right when Redis fails
        half-way. It skips the jobs this worker already runs (their lock may have lapsed while Redis
        was away)."""
        if time.monotonic() < self._pick_after:
            return
        budget = self.max_jobs
        if self.burst and self.max_burst_jobs >= 0:
            budget = self.max_burst_jobs - self._jobs_started()
        for job_id_b in job_ids:
            if self.job_counter >= self.max_jobs or budget <= 0:
                return
            job_id = job_id_b.decode()
            if job_id in self.tasks:
                continue
            await self.sem.acquire()  # free: the semaphore counts the same slots as job_counter
            self.job_counter += 1
            started = False
            try:
                started = await self._claim(job_id)
            finally:
                if not started:
                    self.job_counter -= 1
                    self.sem.release()
            budget -= started

    async def _claim(self, job_id: str) -> bool:
        in_progress_key = in_progress_key_prefix + job_id
        async with self.pool.pipeline(transaction=True) as pipe:
            await pipe.watch(in_progress_key)
            ongoing = await pipe.exists(in_progress_key)
            score = await pipe.zscore(self.queue_name, job_id)
            if ongoing or not score or score > timestamp_ms():
                return False  # another worker runs it, it has ended, or it is deferred
            pipe.multi()
            pipe.psetex(in_progress_key, int(self.in_progress_timeout_s * 1000), b"1")
            member = fairness.member_of(job_id)
            if member is not None:  # this member's turn, for the order of the next polls (every worker's)
                pipe.zadd(fairness.SERVED_KEY, {member: timestamp_ms()})
            try:
                await pipe.execute()
            except (ResponseError, WatchError):
                return False  # another worker took it since
        self._running.add(job_id)
        task = asyncio.create_task(self.run_job(job_id, int(score)))
        task.add_done_callback(self._job_task_done)
        self.tasks[job_id] = task
        return True

    def _job_task_done(self, _task: asyncio.Task) -> None:
        self._release_sem_dec_counter_on_complete()
        self._slot_freed.set()

    async def _prune_served(self) -> None:
        """Forget members' turns older than `fairness.SERVED_KEEP_S` (every ten minutes, any worker)."""
        now = time.monotonic()
        if now - self._pruned_at < 600:
            return
        self._pruned_at = now
        oldest = timestamp_ms() - int(fairness.SERVED_KEEP_S * 1000)
        await self.pool.zremrangebyscore(fairness.SERVED_KEY, "-inf", oldest)

    async def record_health(self) -> None:
        """arq's health key (one per queue), and this worker's own key (`fairness.WORKER_KEY_PREFIX`),
        so `viper status` can count the workers alive."""
        due = time.time() - self._last_health_check >= self.health_check_interval
        await super().record_health()
        if not due:
            return
        info = {
            "id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(), "since": round(self._started_at),
            "running": sum(not t.done() for t in self.tasks.values()), "max_jobs": self.max_jobs,
            "complete": self.jobs_complete, "failed": self.jobs_failed, "retried": self.jobs_retried,
            "models": "batcher" in self.ctx, "at": round(time.time(), 3),
        }
        ttl_ms = int((self.health_check_interval + 1) * 1000)
        await self.pool.psetex(self.worker_key, ttl_ms, json.dumps(info).encode())

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except _REDIS_DOWN as e:
            # Redis failed before the job ran or after its end could be stored: its lock lapses and a
            # worker (maybe this one) runs it again.
            log.warning("job %s: Redis is away (%s); it will be run again", job_id, e)
        finally:
            await self._release(job_id)

    async def _release(self, job_id: str) -> None:
        async with self._locks_guard:
            self._running.discard(job_id)

    async def _keep_locks(self) -> None:
        healthy = True
        while True:
            await asyncio.sleep(self.heartbeat_s if healthy else 0.5)
            healthy = await self._renew_locks()

    async def _renew_locks(self) -> bool:
        """Set the lock of every job this worker runs again (SET, not PEXPIRE: a Redis restarted
        empty, or one whose clock let the lock lapse during an outage, gets it back)."""
        ttl_ms = int(self.in_progress_timeout_s * 1000)
        async with self._locks_guard:
            for job_id in list(self._running):
                try:
                    await asyncio.wait_for(self.pool.set(in_progress_key_prefix + job_id, b"1", px=ttl_ms), 2.0)
                except _REDIS_DOWN:
                    return False
        return True

    # -- ending jobs -----------------------------------------------------------------------------

    async def finish_job(self, job_id: str, finish: bool, result_data, *args) -> None:
        await self._release(job_id)  # no heartbeat may bring the lock back once this removed it
        if not finish:
            # Cancelled by a worker shutdown (arq puts the job back in the queue): that run does not
            # count as one of the job's tries.
            with contextlib.suppress(*_REDIS_DOWN):
                await self.pool.decr(retry_key_prefix + job_id)
        patience = RESULT_PATIENCE_S if finish else 5.0  # a job handed back lapses to the queue anyway
        await self._patiently(f"store the end of job {job_id}", patience, super().finish_job, job_id, finish,
                              result_data, *args)

    async def finish_failed_job(self, job_id: str, result_data) -> None:
        await self._release(job_id)
        await self._patiently(f"store the end of job {job_id}", RESULT_PATIENCE_S, super().finish_failed_job,
                              job_id, result_data)

    async def _patiently(self, what: str, patience: float, call, *args) -> None:
        deadline = time.monotonic() + patience
        delay, warned = 0.25, False
        while True:
            try:
                await call(*args)
                if warned:
                    log.warning("Redis is back: could %s", what)
                return
            except _REDIS_DOWN as e:
                if time.monotonic() + delay > deadline:
                    raise
                if not warned:
                    log.warning("cannot %s yet (%s); trying again until Redis is back", what, e)
                    warned = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, REDIS_RETRY_MAX_S)


def _where(settings) -> str:
    if settings is None:
        return "?"
    return settings.unix_socket_path or f"{settings.host}:{settings.port}"


def make_worker(
    settings: Settings, redis_url: str, *, burst: bool = False, ctx: dict | None = None,
    metrics_port: int | None = None, **kwargs
) -> ViperWorker:
    """A `ViperWorker` for `settings`, connected to `redis_url`; with `metrics_port` (not None), serving
    its metrics and /healthz there, on `[metrics] host` (`viper worker` passes `[metrics] port` when set)."""
    max_batch = settings.worker.max_batch
    if settings.worker.max_jobs < max_batch:
        log.warning(
            "[worker] max_jobs = %d is below max_batch = %d: at most %d members can share a batch",
            settings.worker.max_jobs, max_batch, settings.worker.max_jobs,
        )
    return ViperWorker(
        functions=[
            func(_measured(extract_preferences, "extract"), name=jobs.EXTRACT_JOB),
            func(_measured(generate_image, "generate"), name=jobs.GENERATE_JOB),
        ],
        queue_name=jobs.QUEUE_NAME,
        redis_settings=redis_settings(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings, **(ctx or {})},
        burst=burst,
        max_jobs=settings.worker.max_jobs,
        job_timeout=settings.worker.job_timeout_s,
        keep_result=3600,
        max_tries=MAX_TRIES,
        allow_abort_jobs=True,
        health_check_interval=5,
        job_serializer=serialize,
        job_deserializer=deserialize,
        handle_signals=not burst,
        metrics_port=metrics_port,
        metrics_host=settings.metrics.host,
        **kwargs,
    )

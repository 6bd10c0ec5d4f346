"""Prometheus metrics and `/healthz`, served over HTTP by the bot process and by each worker.

`[metrics] port` (0 = off; `VIPER_METRICS__PORT`) and `host` say where. `viper up` runs the bot and
the worker in two processes: the bot serves on `port`, its worker on `port + 1`.

    GET /metrics   Prometheus text format (prometheus_client)
    GET /healthz   200 when the process reaches Redis (and, in a worker, its models are loaded),
                   else 503; the body is a small JSON saying which part is missing

Each process has its own registry: `BOT_REGISTRY` (`viper bot`/`viper up`) and `WORKER_REGISTRY`
(`viper worker`); the queue's gauges are in both. What the bot's core and adapters call:
`count_refusal(rule)`, once per refused request, with the rule's name (`term`, `cooldown`...).

This module imports no chat platform, no torch and nothing of `bot` or `engine`: both sides import
it, and hand it what it needs (a health check, a refresh before each scrape).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics,
    generate_latest,
)

log = logging.getLogger("viper.metrics")

disable_created_metrics()  # no `*_created` series beside every counter and histogram

BOT_REGISTRY = CollectorRegistry()
WORKER_REGISTRY = CollectorRegistry()
ProcessCollector(registry=BOT_REGISTRY)
ProcessCollector(registry=WORKER_REGISTRY)

# -- the queue (both processes; read from Redis at each scrape) ------------------------------------

QUEUE_DEPTH = Gauge("viper_queue_depth", "Jobs waiting in the queue that may start now (not running, not held)",
                    registry=None)
QUEUE_JOBS = Gauge("viper_queue_jobs", "Jobs in the Redis queue by state: waiting, deferred (held), running",
                   ["state"], registry=None)
for _registry in (BOT_REGISTRY, WORKER_REGISTRY):
    _registry.register(QUEUE_DEPTH)
    _registry.register(QUEUE_JOBS)

# -- the bot ---------------------------------------------------------------------------------------

JOBS = Gauge("viper_jobs", "Jobs recorded in SQLite whose status changed in the last hour, by status "
             "(queued counts every job still queued)", ["status"], registry=BOT_REGISTRY)
REFUSALS = Counter("viper_refusals", "Requests refused, by rule", ["rule"], registry=BOT_REGISTRY)

# -- a worker --------------------------------------------------------------------------------------

WORKER_JOBS = Counter("viper_worker_jobs", "Job runs that ended in this worker, by function and outcome "
                      "(ok, failed, cancelled, handed_back)", ["function", "status"], registry=WORKER_REGISTRY)
WAIT_SECONDS = Histogram(
    "viper_job_wait_seconds", "From enqueue to the first start of a job, by function", ["function"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=WORKER_REGISTRY,
)
RUN_SECONDS = Histogram(
    "viper_job_run_seconds", "From the start of a job run to its end, by function", ["function"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300), registry=WORKER_REGISTRY,
)
BATCH_SIZE = Histogram(
    "viper_unet_batch_members", "Members (generate jobs) sharing one batched GPU run",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32), registry=WORKER_REGISTRY,
)
GPU_MEMORY = Gauge("viper_gpu_memory_bytes", "GPU memory allocated by this worker (torch; 0 without CUDA)",
                   registry=WORKER_REGISTRY)


def count_refusal(rule: str) -> None:
    """Count one refused request under `rule` (the moderation or limit rule that refused it)."""
    REFUSALS.labels(rule=rule or "unknown").inc()


def set_queue(waiting: int, deferred: int, running: int) -> None:
    QUEUE_DEPTH.set(waiting)
    QUEUE_JOBS.labels(state="waiting").set(waiting)
    QUEUE_JOBS.labels(state="deferred").set(deferred)
    QUEUE_JOBS.labels(state="running").set(running)


HealthCheck = Callable[[], Awaitable[dict[str, bool]]]
"""What a process checks for /healthz: part name -> fine (every part fine: 200)."""


class MetricsServer:
    """`/metrics` and `/healthz` on an aiohttp server in the running event loop.

    `refresh` (optional) runs before each scrape, bounded by `refresh_timeout_s` (a Redis that is away
    leaves the last values). `port=0` binds a free port (tests); read `port` after `start`.
    """

    def __init__(
        self, registry: CollectorRegistry, *, health: HealthCheck, refresh: Callable[[], Awaitable[None]] | None = None,
        host: str = "127.0.0.1", port: int = 0, refresh_timeout_s: float = 2.0,
    ):
        self.registry = registry
        self.health = health
        self.refresh = refresh
        self.host = host
        self.port = port
        self.refresh_timeout_s = refresh_timeout_s
        self._runner: web.AppRunner | None = None

    async def start(self) -> "MetricsServer":
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics (health: /healthz)", self.host, self.port)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.refresh is not None:
            try:
                await asyncio.wait_for(self.refresh(), self.refresh_timeout_s)
            except Exception as e:  # scrape what we have; the gauges keep their last values
                log.debug("metrics refresh failed: %s", e)
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            parts = await asyncio.wait_for(self.health(), self.refresh_timeout_s)
        except Exception as e:
            parts = {"error": False}
            log.debug("health check failed: %s", e)
        ok = bool(parts) and all(parts.values())
        return web.Response(status=200 if ok else 503, text=json.dumps({"ok": ok, **parts}),
                            content_type="application/json")


async def serve(registry: CollectorRegistry, *, health: HealthCheck, refresh=None, host: str = "127.0.0.1",
                port: int = 0) -> MetricsServer | None:
    """Start a `MetricsServer`; None (with a warning) when the port cannot be bound: a process never
    stops for its metrics."""
    try:
        return await MetricsServer(registry, health=health, refresh=refresh, host=host, port=port).start()
    except OSError as e:
        log.warning("cannot serve metrics on %s:%d (%s); running without them", host, port, e)
        return None


async def redis_answers(redis, timeout_s: float = 1.0) -> bool:
    """Whether `redis` (a redis-py asyncio client) answers a PING within `timeout_s`."""
    try:
        return bool(await asyncio.wait_for(redis.ping(), timeout_s))
    except Exception:
        return False

"""Composition root: open the real resources (Redis, SQLite, gallery) and wire the bot core.

The CLI and the tests both build their runtime here, so what is tested is what runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from bot.core import ViperBot
from storage.store import Store
from viper.contracts.config import Settings
from engine.art import ensure_gallery
from storage.gallery import Gallery, load_gallery
from bot.queue import JobQueue
from viper.redis_server import EmbeddedRedis

log = logging.getLogger("viper")


@dataclass
class Runtime:
    settings: Settings
    store: Store
    queue: JobQueue | None
    gallery: Gallery
    core: ViperBot
    redis_url: str
    embedded: EmbeddedRedis | None = None

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.close()
        await self.store.close()
        if self.embedded is not None:
            self.embedded.stop()


async def _answers(url: str) -> bool:
    client = aioredis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def resolve_redis(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """The Redis URL to use: the configured one, an embedded one already running, or a new one."""
    if settings.redis.url:
        return settings.redis.url, None
    data_dir = settings.storage.data_dir
    existing = EmbeddedRedis(data_dir)
    if existing.socket.exists() and await _answers(existing.url):
        log.info("using the embedded Redis already running at %s", existing.socket)
        return existing.url, None
    server = EmbeddedRedis(data_dir).start()
    log.info("started the embedded Redis at %s", server.socket)
    return server.url, server


def open_gallery(settings: Settings) -> Gallery:
    if settings.gallery.path is not None:
        return load_gallery(Path(settings.gallery.path))
    return ensure_gallery(settings.storage.data_dir / "gallery", count=settings.gallery.count)


async def open_runtime(settings: Settings, *, with_queue: bool = True) -> Runtime:
    """Everything the bot and the CLI use, wired. `with_queue=False`: the store and the gallery only
    (for work that never queues a job, such as `viper profile export`), so no Redis is started."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    if not with_queue:
        store = await Store.open(settings.storage.database_path)
        gallery = open_gallery(settings)
        return Runtime(settings, store, None, gallery, ViperBot(settings, store, None, gallery), "")
    url, embedded = await resolve_redis(settings)
    try:
        queue = await JobQueue.connect(url)
        store = await Store.open(settings.storage.database_path)
        gallery = open_gallery(settings)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    # Refusals are counted for /metrics (served only when [metrics] port is set).
    core = ViperBot(settings, store, queue, gallery, metrics=refusal_counter())
    return Runtime(settings, store, queue, gallery, core, url, embedded)


def refusal_counter():
    """What the core counts refusals with: `viper.metrics` (prometheus_client)."""
    from viper import metrics

    return metrics

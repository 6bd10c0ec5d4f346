"""Shared fixtures: a real Redis, a real SQLite file, the real arq worker with the tiny model.

Nothing here fakes a component that can run on a CPU: only the chat platforms are emulated (by
HTTP servers in the adapter tests) and the model is tiny with random weights.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.workers import running_worker
from viper.contracts.config import Settings
from viper.redis_server import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server


@pytest.fixture
async def redis_url(redis_server):
    """A clean Redis for each test."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    return redis_server.url


@pytest.fixture(scope="session")
def tiny_models():
    """The tiny random-weight SDXL and the default extractor, built once for the whole run."""
    import torch

    from engine.extraction import make_extractor
    from engine.generation import GenerationDefaults
    from engine.sdxl import load_generator

    # Two cores are shared by everything on a CI machine: one torch thread paints tiny images
    # several times faster than two contending ones.
    torch.set_num_threads(1)
    return {
        "generator": load_generator("tiny", defaults=GenerationDefaults(steps=4)),
        "extractor": make_extractor("lexicon"),
    }


@pytest.fixture
def settings(tmp_path, redis_url) -> Settings:
    s = Settings()
    s.storage.data_dir = tmp_path / "data"
    s.redis.url = redis_url
    s.engine.model = "tiny"
    s.engine.steps = 4
    s.bot.min_comments = 3
    s.gallery.count = 12
    return s


@pytest.fixture
async def runtime(settings):
    from viper.app import open_runtime

    rt = await open_runtime(settings)
    yield rt
    await rt.close()


@pytest.fixture
async def worker(settings, redis_url, tiny_models):
    """The real arq worker, running in this event loop with the tiny models, until the test ends."""
    async with running_worker(settings, redis_url, tiny_models) as w:
        yield w

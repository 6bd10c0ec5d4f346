"""`viper status` (issue #13): workers alive, the queue per member, the last hour's jobs; text and --json."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from storage.store import JobRecord
from tests.workers import gated_worker
from viper.cli import main
from viper.contracts import jobs
from viper.contracts.states import JobKind, JobState

CONFIG = str(Path(__file__).resolve().parents[1] / "config.toml")


async def viper_status(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--config", CONFIG, "status", *args])
    return code, capsys.readouterr().out


@pytest.fixture
def env(monkeypatch, settings):
    for name in ("VIPER_REDIS__URL", "VIPER_STORAGE__DATA_DIR", "VIPER_STORAGE__DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIPER_REDIS__URL", settings.redis.url)
    monkeypatch.setenv("VIPER_STORAGE__DATA_DIR", str(settings.storage.data_dir))
    return monkeypatch


async def test_status_shows_workers_queue_per_member_and_the_last_hour(runtime, env, capsys, settings, redis_url,
                                                                        tiny_models):
    store, queue = runtime.store, runtime.queue
    ada = await store.member("telegram", 1001, "Ada Lovelace")
    bob = await store.member("discord", 2002, "Bob Builder")
    for n, state in enumerate((JobState.DELIVERED, JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)):
        jid = f"generate-{ada.id}-{n}-000001"
        await store.record_job(JobRecord(jid, ada.id, JobKind.GENERATE, "telegram", {}, "p", JobState.QUEUED))
        await store.update_job(jid, state)
    request = jobs.to_dict(jobs.GenerateRequest(prompt="a lighthouse", steps=2))
    async with gated_worker(settings, redis_url, tiny_models, max_jobs=1) as (w, gated):  # one job, held
        first = await queue.enqueue(jobs.GENERATE_JOB, request, job_id=f"generate-{bob.id}-1-00000a")
        assert await asyncio.to_thread(gated.holding.wait, 30)  # Bob's first image is painting
        for n in range(3):
            await queue.enqueue(jobs.GENERATE_JOB, request, job_id=f"generate-{ada.id}-{10 + n}-00000b")
        await queue.enqueue(jobs.GENERATE_JOB, request, job_id=f"generate-{bob.id}-20-00000c")
        await queue.enqueue(jobs.GENERATE_JOB, request, job_id="3f2a9c0e5b7d4e1a")  # viper imagine's kind of id

        code, text = await viper_status(capsys)
        assert code == 0, text
        code_json, raw = await viper_status(capsys, "--json")
        gated.gate.set()
        await queue.wait(first, timeout=60)
    print(text)
    lines = text.splitlines()
    assert "(answers)" in lines[0]
    assert "Workers:    1 alive" in text
    assert "1/1 running" in text and "models loaded" in text
    assert "Queue:      5 waiting, 1 running" in text
    assert f"    member {ada.id}: 3" in lines and f"    member {bob.id}: 1" in lines
    assert "    other (no member): 1" in lines
    assert "Last hour:  queued 0, done 0, delivered 2, failed 1, cancelled 1" in text
    assert "Ada" not in text and "Bob" not in text  # member ids only

    report = json.loads(raw)
    assert code_json == 0
    assert report["redis"]["ok"] is True
    assert report["workers"]["alive"] == 1 and report["workers"]["list"][0]["running"] == 1
    assert report["queue"] == {"waiting": 5, "held": 0, "running": 1, "total": 6,
                               "members": {str(ada.id): 3, str(bob.id): 1, "other": 1}}
    assert report["jobs_last_hour"] == {"queued": 0, "done": 0, "delivered": 2, "failed": 1, "cancelled": 1}


async def test_status_without_redis_says_so_and_exits_1(env, capsys, tmp_path):
    env.setenv("VIPER_REDIS__URL", f"unix://{tmp_path}/gone.sock")
    code, text = await viper_status(capsys)
    assert code == 1
    assert "unreachable" in text.splitlines()[0]
    assert "Queue:      unknown (no Redis)" in text
    assert "Workers:    0 alive" in text
    env.setenv("VIPER_REDIS__URL", "")
    code, raw = await viper_status(capsys, "--json")
    report = json.loads(raw)
    assert code == 1 and report["redis"] == {"url": None, "ok": False} and report["queue"] is None

"""`viper status`: the workers alive, the queue in fair order, the jobs of the last hour.

It reads, never starts anything: the configured Redis (or the embedded one, if `viper up` runs it)
and the SQLite file, read-only. Members appear by id only, never by name. `--json` prints the same
as one JSON object, for scripts; the exit code is 1 when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sqlite3
import sys
import time
from pathlib import Path

from viper.cli.common import settings_of
from viper.contracts import fairness, jobs
from viper.contracts.config import Settings
from viper.contracts.states import JobState

LAST_HOUR_S = 3600


def jobs_by_status(database: Path, since_s: float = LAST_HOUR_S) -> dict[str, int]:
    """Jobs in SQLite whose status changed in the last `since_s` seconds, by status, plus every job
    still queued whatever its age (a job stuck in the queue is worth seeing). Read-only; {} without a
    database yet."""
    counts = {state.value: 0 for state in JobState}
    if not Path(database).exists():
        return counts
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute(
            "SELECT status, COUNT(*) FROM jobs WHERE status = ? OR updated_at >= datetime('now', ?) GROUP BY status",
            (JobState.QUEUED.value, f"-{int(since_s)} seconds"),
        ).fetchall()
    finally:
        db.close()
    counts.update({status: n for status, n in rows})
    return counts


def _redacted(url: str) -> str:
    return re.sub(r"//([^@/]*)@", "//***@", url)


async def _redis_url(settings: Settings) -> str | None:
    if settings.redis.url:
        return settings.redis.url
    from viper.redis_server import EmbeddedRedis

    embedded = EmbeddedRedis(settings.storage.data_dir.resolve())  # a unix:// URL needs an absolute path
    return embedded.url if embedded.socket.exists() else None


async def gather(settings: Settings) -> dict:
    """Everything `viper status` shows, as one dict (what `--json` prints)."""
    from bot.queue import JobQueue
    from viper.contracts.errors import QueueUnavailable

    report: dict = {"redis": {"url": None, "ok": False}, "workers": {"alive": 0, "list": []}, "queue": None}
    url = await _redis_url(settings)
    if url is not None:
        report["redis"]["url"] = _redacted(url)
        try:
            queue = await JobQueue.connect(url)
        except QueueUnavailable as e:
            report["redis"]["error"] = e.message
        else:
            try:
                report["redis"]["ok"] = True
                report["workers"] = await _workers(queue)
                line = await queue.line(max_age_s=0)
                report["queue"] = {
                    "waiting": line.ready, "held": line.deferred, "running": len(line.running), "total": line.total,
                    "members": line.waiting_per_member(),
                }
            except Exception as e:  # Redis went away half-way: say so, show the rest
                report["redis"].update(ok=False, error=f"{type(e).__name__}: {e}")
            finally:
                await queue.close()
    report["jobs_last_hour"] = await asyncio.to_thread(jobs_by_status, settings.storage.database_path)
    return report


async def _workers(queue) -> dict:
    from arq.constants import health_check_key_suffix

    listed = []
    async for key in queue.pool.scan_iter(match=fairness.WORKER_KEY_PREFIX + "*", count=100):
        raw = await queue.pool.get(key)
        if raw:
            try:
                listed.append(json.loads(raw))
            except ValueError:
                continue
    listed.sort(key=lambda w: (str(w.get("host")), int(w.get("pid") or 0)))
    arq_health = await queue.pool.get(jobs.QUEUE_NAME + health_check_key_suffix)
    # A worker of an older version reports only arq's shared key: at least one is alive then.
    alive = max(len(listed), 1 if arq_health else 0)
    return {"alive": alive, "list": listed, "arq_health": arq_health.decode() if arq_health else None}


def _age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def render(report: dict) -> str:
    """The report as text, one fact per line."""
    out = []
    redis = report["redis"]
    if redis["url"] is None:
        out.append("Redis:      none running (no [redis] url, and the embedded one is not started; try `viper up`)")
    elif redis["ok"]:
        out.append(f"Redis:      {redis['url']} (answers)")
    else:
        out.append(f"Redis:      {redis['url']}: unreachable ({redis.get('error', '?')})")
    workers = report["workers"]
    out.append(f"Workers:    {workers['alive']} alive")
    now = time.time()
    for w in workers["list"]:
        models = "models loaded" if w.get("models") else "loading models"
        out.append(
            f"  {w.get('host')} pid {w.get('pid')}: {w.get('running', 0)}/{w.get('max_jobs', '?')} running, "
            f"{w.get('complete', 0)} done, {w.get('failed', 0)} failed, {models}, up {_age(now - w.get('since', now))}"
        )
    queue = report["queue"]
    if queue is None:
        out.append("Queue:      unknown (no Redis)")
    else:
        held = f", {queue['held']} held" if queue["held"] else ""
        out.append(f"Queue:      {queue['waiting']} waiting{held}, {queue['running']} running")
        if queue["members"]:
            out.append("  waiting per member (served round-robin, the one served longest ago first):")
            for member, count in queue["members"].items():
                who = f"member {member}" if member != "other" else "other (no member)"
                out.append(f"    {who}: {count}")
    last = report["jobs_last_hour"]
    order = [JobState.QUEUED, JobState.DONE, JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED]
    counts = ", ".join(f"{state.value} {last.get(state.value, 0)}" for state in order)
    out.append(f"Last hour:  {counts}  (SQLite jobs; queued counts every job still queued)")
    return "\n".join(out)


def cmd_status(args: argparse.Namespace) -> int:
    logging.getLogger("arq.connections").setLevel(logging.ERROR)  # an unreachable Redis is said once, below
    report = asyncio.run(gather(settings_of(args)))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render(report))
    sys.stdout.flush()
    return 0 if report["redis"]["ok"] else 1

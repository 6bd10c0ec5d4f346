"""Load benchmark: simulated members against the real queue and a real tiny-model worker.

    python -m bench.bench_load [--members 20] [--burst 6] [--rounds 8] [--sequential 100] [--steps 4]
                               [--max-jobs 1 8] [--machine "what runs it"] [--out bench/results]

Nothing is stubbed: an embedded Redis, a `viper worker` process with the tiny model (one per
`--max-jobs` value: 1 = one job at a time, 8 = the default, batching members together), and the
bot's core (`viper.app.open_runtime`: real SQLite file, real arq client) in this process.

Round 1 is the burst: member A asks for `--burst` images one after another, then B asks for one,
then the other members one each, all at once. Every later round, all members ask for one image at
once. Each request goes through `ViperBot.submit_imagine`, end to end (member lookup, profile and
settings reads, the SQLite record, the enqueue, the fair queue position, the workers check, the
status text): that is the bot's overhead from a chat update to the queued reply, WITHOUT the chat
stack (PTB/discord.py parsing the update and sending the reply, which is the platform's network
round trip and not ours). Two p50/p99: over every request of the rounds (`submit_imagine_ms`:
twenty members at once, so a request also waits for the others ahead of it in the event loop and
on the one SQLite connection), and over `--sequential` requests made one at a time after the rounds
(`submit_imagine_ms_one_at_a_time`: a request's own cost). Both while the worker paints on the
same cores.

Fairness, from the order in which runs started (Redis keyspace notifications, one total order):
- `max_other_ahead_of_first`: for each member, the most jobs of any one other member that started
  after its first request was queued and before its first job started (ideal: 1 at most);
- `b_started_after`: jobs that started after B queued its one image and before it started (B is
  among the next two to start when this is 1 or less), and `b_position`: the place it was told.

The JSON goes to `<out>/<date>-<machine>-load.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_load", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=20, help="simulated members (default 20)")
    parser.add_argument("--burst", type=int, default=6, help="images member A asks for in round 1 (default 6)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of requests (default 8; the first is the burst)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps of every image (default 4)")
    parser.add_argument("--sequential", type=int, default=100,
                        help="requests made one at a time after the rounds, for the overhead alone (default 100)")
    parser.add_argument("--max-jobs", type=int, nargs="+", default=[1, 8],
                        help="worker configurations to run, by [worker] max_jobs (default: 1 8)")
    parser.add_argument("--machine", default=None, help="what runs it, for the JSON and the file name")
    parser.add_argument("--out", default="bench/results", help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.members < 2 or args.burst < 1 or args.rounds < 1 or args.steps < 1:
        parser.error("--members must be 2 or more, --burst, --rounds and --steps positive")
    return args


class Starts:
    """The order in which job runs start (arq's INCR of `arq:retry:<id>`, once per run), and when."""

    def __init__(self, url: str):
        self.url = url
        self.started: list[tuple[str, float]] = []
        self.runs: Counter[str] = Counter()

    async def __aenter__(self) -> "Starts":
        self.client = aioredis.from_url(self.url)
        await self.client.config_set("notify-keyspace-events", "K$")
        self.pubsub = self.client.pubsub()
        await self.pubsub.psubscribe("__keyspace@0__:arq:retry:*")
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "pmessage" and message["data"] == b"incrby":
                job_id = message["channel"].decode().rsplit("arq:retry:", 1)[1]
                self.runs[job_id] += 1
                self.started.append((job_id, time.monotonic()))

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.pubsub.aclose()
        await self.client.aclose()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: list[float]) -> dict:
    if not ms:
        return {"samples": 0}
    return {"samples": len(ms), "p50": round(statistics.median(ms), 2), "p99": round(percentile(ms, 99), 2),
            "mean": round(statistics.fmean(ms), 2), "max": round(max(ms), 2)}


def fairness(started: list[tuple[str, float]], queued: dict[str, float], member_of) -> dict:
    """See the module's docstring. `queued`: job id -> when its submit returned (monotonic)."""
    order = [(job_id, t) for job_id, t in started if job_id in queued]
    first: dict[str, tuple[int, str]] = {}
    for index, (job_id, _) in enumerate(order):
        first.setdefault(member_of(job_id), (index, job_id))
    worst: dict[str, int] = {}
    for member, (index, job_id) in first.items():
        since = queued[job_id]
        ahead = Counter(member_of(j) for j, t in order[:index] if t >= since and member_of(j) != member)
        worst[member] = max(ahead.values(), default=0)
    raw: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for job_id, _ in order:
        member = member_of(job_id)
        if member not in raw:
            raw[member] = max((n for m, n in seen.items() if m != member), default=0)
        seen[member] += 1
    return {
        "max_other_ahead_of_first": max(worst.values(), default=0),
        "members_with_more_than_one_ahead": sum(v > 1 for v in worst.values()),
        "max_other_ahead_of_first_in_start_order": max(raw.values(), default=0),
        "start_order_members": [member_of(j) for j, _ in order],
    }


async def wait_for_worker(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    from viper.contracts.fairness import WORKER_KEY_PREFIX

    client = aioredis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with code {proc.returncode}")
            async for key in client.scan_iter(match=WORKER_KEY_PREFIX + "*"):
                raw = await client.get(key)
                if raw and json.loads(raw).get("models"):
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("the worker did not get ready in time")
    finally:
        await client.aclose()


async def run_config(max_jobs: int, args: argparse.Namespace, root: Path) -> dict:
    from bot.core.types import MemberRef
    from viper.app import open_runtime
    from viper.contracts.config import Settings
    from viper.contracts.fairness import member_of
    from viper.contracts.states import JobState
    from viper.redis_server import EmbeddedRedis

    redis_dir = Path(tempfile.mkdtemp(prefix="vl-", dir="/tmp"))  # a short unix socket path
    server = EmbeddedRedis(redis_dir, persist=False).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPER_")}
    env.update(
        VIPER_ENGINE__MODEL="tiny", VIPER_ENGINE__STEPS=str(args.steps), VIPER_WORKER__MAX_JOBS=str(max_jobs),
        VIPER_STORAGE__DATA_DIR=str(root / f"worker-{max_jobs}"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
    )
    log = open(root / f"worker-{max_jobs}.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), "worker", "--redis-url", server.url],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    runtime = None
    try:
        settings = Settings()
        settings.storage.data_dir = root / f"bot-{max_jobs}"
        settings.redis.url = server.url
        settings.engine.model = "tiny"
        settings.gallery.count = 12
        settings.bot.max_queued_per_member = 100
        runtime = await open_runtime(settings)
        core, queue = runtime.core, runtime.queue
        await wait_for_worker(server.url, worker)
        members = [MemberRef("telegram", str(1000 + n), f"member {n}") for n in range(args.members)]

        overhead: list[float] = []
        queued: dict[str, float] = {}
        b_position = None
        rounds: list[list[str]] = []

        async def done(job_id: str) -> None:
            """Follow a job to its result and mark it delivered, as the bot's `deliver` does."""
            await queue.wait(job_id, timeout=600)
            await runtime.store.update_job(job_id, JobState.DELIVERED)

        async def submit(who: MemberRef, n: int) -> str:
            start = time.perf_counter()
            submitted = await core.submit_imagine(who, f"a lighthouse at dusk, study {n}")
            overhead.append(time.perf_counter() - start)
            queued[submitted.job_id] = time.monotonic()
            return submitted.job_id

        began = time.monotonic()
        async with Starts(server.url) as starts:
            for r in range(args.rounds):
                ids: list[str] = []
                if r == 0:
                    for i in range(args.burst):  # A types its six one after another
                        ids.append(await submit(members[0], i))
                    b = await submit(members[1], 0)
                    b_position = await queue.position(b)  # what B's status message said (or None: started)
                    ids.append(b)
                    ids += await asyncio.gather(*(submit(m, 0) for m in members[2:]))
                else:
                    ids += await asyncio.gather(*(submit(m, r) for m in members))
                rounds.append(ids)
                for job_id in ids:
                    await done(job_id)
            seconds = time.monotonic() - began
            await asyncio.sleep(0.3)
        burst_ms = [s * 1000 for s in overhead]
        overhead.clear()
        alone: list[str] = []
        for n in range(args.sequential):  # one request at a time, while the worker paints the earlier ones
            alone.append(await submit(members[n % len(members)], 1000 + n))
            if len(alone) >= args.members:
                await done(alone[-args.members])
        for job_id in alone[-args.members:]:
            await done(job_id)
        sequential_ms = [s * 1000 for s in overhead]
        every = [j for ids in rounds for j in ids]
        twice = [j for j in every if starts.runs[j] != 1]
        first_round = set(rounds[0])
        order0 = [(j, t) for j, t in starts.started if j in first_round]
        fair = fairness(order0, {j: queued[j] for j in rounds[0]}, member_of)
        b_id = rounds[0][args.burst]
        b_index = [j for j, _ in order0].index(b_id)
        b_started_after = sum(1 for _, t in order0[:b_index] if t >= queued[b_id])
        return {
            "max_jobs": max_jobs,
            "images": len(every),
            "seconds": round(seconds, 2),
            "images_per_s": round(len(every) / seconds, 2),
            "jobs_not_run_exactly_once": len(twice),
            "fairness_round_1": {**fair, "b_started_after": b_started_after, "b_position": b_position},
            "submit_imagine_ms": summary(burst_ms),
            "submit_imagine_ms_one_at_a_time": summary(sequential_ms),
        }
    finally:
        if runtime is not None:
            await runtime.close()
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        server.stop()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "machine"


async def amain(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="viper-load-") as tmp:
        configs = [await run_config(n, args, Path(tmp)) for n in args.max_jobs]
    return {
        "date": dt.date.today().isoformat(),
        "machine": args.machine,
        "model": "tiny",
        "steps": args.steps,
        "members": args.members,
        "burst": args.burst,
        "rounds": args.rounds,
        "sequential": args.sequential,
        "overhead_measures": "ViperBot.submit_imagine end to end (SQLite + Redis + fair position); the chat "
                             "stack (update parsing, the reply's network round trip) is not included",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "configs": configs,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(amain(args))
    for c in result["configs"]:
        f, o, a = c["fairness_round_1"], c["submit_imagine_ms"], c["submit_imagine_ms_one_at_a_time"]
        print(
            f"max_jobs {c['max_jobs']}: {c['images']} images in {c['seconds']} s ({c['images_per_s']}/s), "
            f"{c['jobs_not_run_exactly_once']} not run exactly once\n"
            f"  fairness (round 1): at most {f['max_other_ahead_of_first']} job(s) of another member started "
            f"ahead of a member's first (after it was queued); {f['members_with_more_than_one_ahead']} member(s) "
            f"with more than 1; B (1 image after A's {result['burst']}) was told position {f['b_position']} and "
            f"{f['b_started_after']} job(s) started between its request and its start\n"
            f"  submit_imagine, {result['members']} members at once: p50 {o['p50']} ms, p99 {o['p99']} ms, "
            f"max {o['max']} ms over {o['samples']} requests\n"
            f"  submit_imagine, one at a time: p50 {a.get('p50')} ms, p99 {a.get('p99')} ms over {a['samples']} requests"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['date']}-{slug(args.machine or platform.node())}-load.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()

"""Real processes for the fault tests: `viper worker` / `viper up` with the tiny model, a redis-server
we can kill, and a clock that bounds every wait.

Each process writes its output to a file, so a test can wait for a log line without a pipe filling up,
and read the whole log when it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from viper.contracts import jobs

REPO = Path(__file__).resolve().parents[2]


def short_dir(prefix: str = "vf-") -> Path:
    """A directory with a short path: the embedded Redis's socket must stay at the same place across
    restarts, and unix socket paths are limited to about 100 bytes (pytest's tmp_path can be longer)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def viper_env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPER_") and k not in ("DISCORD_TOKEN", "TELEGRAM_TOKEN")}
    env.update(
        VIPER_ENGINE__MODEL="tiny", VIPER_STORAGE__DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        # One torch thread per process: on a two-core CI machine, two workers and the test contending
        # with several threads each paint many times slower.
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


class Proc:
    """A `viper ...` process; its stdout and stderr go to `log`."""

    def __init__(self, args: list[str], env: dict, log: Path, cwd: Path):
        self.log = log
        self._out = open(log, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "viper.cli", "--config", str(REPO / "config.toml"), *args],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def wait_for(self, pattern: str, timeout: float, *, count: int = 1) -> re.Match:
        """The `count`-th match of `pattern` in the log, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = list(re.finditer(pattern, self.text()))
            if len(found) >= count:
                return found[count - 1]
            if not self.alive():
                raise AssertionError(f"{self.log.name} exited ({self.proc.returncode}) before {pattern!r}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in {self.log.name} after {timeout:.0f} s:\n{self.text()}")
            await asyncio.sleep(0.1)

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    async def exited(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.log.name} still runs {timeout:.0f} s later:\n{self.text()}")
            await asyncio.sleep(0.1)
        return self.proc.returncode

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a paused process does not die of SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


class Processes:
    """Every process a test starts, stopped when it ends (whatever happened)."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[Proc] = []
        self.redis: list = []

    def viper(self, name: str, *args: str, data_dir: Path, **env: str) -> Proc:
        proc = Proc(list(args), viper_env(data_dir, **env), self.root / f"{name}.log", cwd=self.root)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, redis_url: str, data_dir: Path, **env: str) -> Proc:
        return self.viper(name, "worker", "--redis-url", redis_url, data_dir=data_dir, **env)

    def embedded_redis(self, data_dir: Path, *, persist: bool):
        from viper.redis_server import EmbeddedRedis

        server = EmbeddedRedis(data_dir, persist=persist).start()
        self.redis.append(server)
        return server

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        for server in self.redis:
            server.stop()

    def logs(self) -> str:
        return "\n".join(f"----- {p.log.name}\n{p.text()}" for p in self.procs)


def kill_redis(server) -> None:
    """SIGKILL the redis-server: no shutdown, no last write (what a crash or an OOM kill does)."""
    pid = server.pid
    assert pid is not None, "that Redis is not running"
    os.kill(pid, signal.SIGKILL)
    server.stop()  # reaps it


async def until(condition, timeout: float, what: str, step: float = 0.05):
    """Await `condition()` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:.0f} s")
        await asyncio.sleep(step)


class ResultWrites:
    """Counts the writes of each job's arq result key, with Redis keyspace notifications: a job
    delivered exactly once has its result written exactly once."""

    def __init__(self, url: str):
        self.url = url
        self.counts: dict[str, int] = {}
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "ResultWrites":
        self.client = aioredis.from_url(self.url)
        await self.client.config_set("notify-keyspace-events", "K$")
        self.pubsub = self.client.pubsub()
        await self.pubsub.psubscribe("__keyspace@0__:arq:result:*")
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "pmessage" and message["data"] == b"set":
                job_id = message["channel"].decode().rsplit("arq:result:", 1)[1]
                self.counts[job_id] = self.counts.get(job_id, 0) + 1

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass
        await self.pubsub.aclose()
        await self.client.aclose()


def request(prompt: str, steps: int, seed: int = 1) -> dict:
    return jobs.to_dict(jobs.GenerateRequest(prompt=prompt, steps=steps, seed=seed))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

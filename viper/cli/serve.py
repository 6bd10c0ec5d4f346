"""`viper up`, `viper bot` and `viper worker`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from viper.cli.common import log, settings_of
from viper.contracts.config import Settings
from viper.contracts.errors import ModelUnavailable, ViperError

EX_CONFIG = 78  # sysexits.h: a configuration error; the worker would fail again the same way


def no_token_help() -> str:
    from bot.messages import TOKEN_HELP

    return (
        "No chat platform token is set, so no bot is connected (the worker still runs; try `viper imagine`).\n"
        "To connect one, set its environment variable and run `viper up` again:\n  "
        + "\n  ".join(TOKEN_HELP.values())
    )


# -- up / bot / worker --------------------------------------------------------------------------


class Adapters:
    """The chat adapters of this process: started for every token set, watched until `stop`."""

    def __init__(self) -> None:
        self.running: dict[asyncio.Task, str] = {}
        self.started = 0

    async def run(self, settings: Settings, stop: asyncio.Event) -> int:
        """Run until `stop` is set (0), or until every adapter that started has stopped (1): a refused
        token says which variable in one line."""
        from viper.app import open_runtime

        runtime = await open_runtime(settings)
        served = sweeper = None
        try:
            if settings.metrics.port:
                served = await serve_bot_metrics(runtime, host=settings.metrics.host, port=settings.metrics.port)
            self._start(runtime.core, settings, stop)
            sweeper = asyncio.create_task(sweep_daily(runtime.core, stop))
            if not self.running:
                print(no_token_help(), file=sys.stderr)
            stopper = asyncio.create_task(stop.wait())
            while not stop.is_set():
                done, _ = await asyncio.wait({stopper, *self.running}, return_when=asyncio.FIRST_COMPLETED)
                for task in done - {stopper}:
                    self._ended(task, self.running.pop(task))
                if self.started and not self.running and not stop.is_set():
                    print("error: no chat adapter is left running; stopping.", file=sys.stderr)
                    stopper.cancel()
                    return 1
            for task in self.running:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=15)
            return 0
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if served is not None:
                await served.close()
            await runtime.close()

    def _start(self, core, settings: Settings, stop: asyncio.Event) -> None:
        if settings.telegram_token:
            from bot.adapters.telegram import run_telegram

            self.running[asyncio.create_task(run_telegram(core, settings, settings.telegram_token, stop))] = "Telegram"
            log.info("Telegram adapter starting")
        if settings.discord_token:
            from bot.adapters.discord import run_discord

            self.running[asyncio.create_task(run_discord(core, settings, settings.discord_token, stop))] = "Discord"
            log.info("Discord adapter starting")
        self.started = len(self.running)

    @staticmethod
    def _ended(task: asyncio.Task, name: str) -> None:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, ViperError):
            where = f" ({error.argument})" if error.argument else ""
            print(f"error{where}: {error.message}", file=sys.stderr)
        elif error is not None:
            log.error("the %s adapter stopped", name, exc_info=error)
            print(f"error: the {name} adapter stopped: {type(error).__name__}: {error}", file=sys.stderr)
        else:
            log.warning("the %s adapter stopped", name)


async def sweep_daily(core, stop: asyncio.Event) -> None:
    """Delete images older than `[storage] keep_results_days` at start and then once a day."""
    while not stop.is_set():
        try:
            await core.sweep_results()
        except Exception:  # a failed sweep must not stop the bot; the next one tries again
            log.warning("could not delete old images", exc_info=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=24 * 3600)


async def serve_bot_metrics(runtime, *, host: str = "127.0.0.1", port: int = 0):
    """The bot process's `/metrics` and `/healthz` (`viper.metrics.BOT_REGISTRY`): the queue in fair
    order and SQLite's jobs by status, read at each scrape; healthy while Redis answers. Returns the
    `MetricsServer` (its `port` is the bound one), or None when the port cannot be bound."""
    from viper import metrics
    from viper.cli.status import jobs_by_status

    queue = runtime.queue

    async def health() -> dict[str, bool]:
        return {"redis": queue is not None and await metrics.redis_answers(queue.pool)}

    async def refresh() -> None:
        with contextlib.suppress(Exception):  # SQLite busy: keep the last values
            counts = await asyncio.to_thread(jobs_by_status, runtime.settings.storage.database_path)
            for status, n in counts.items():
                metrics.JOBS.labels(status=status).set(n)
        if queue is not None:
            line = await queue.line(max_age_s=0.5)
            metrics.set_queue(line.ready, line.deferred, len(line.running))

    return await metrics.serve(metrics.BOT_REGISTRY, health=health, refresh=refresh, host=host, port=port)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _bot_main(settings: Settings) -> int:
    return await Adapters().run(settings, _stop_event())


def cmd_bot(args: argparse.Namespace) -> int:
    return asyncio.run(_bot_main(settings_of(args)))


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    from engine.worker import make_worker

    url = args.redis_url or settings.redis.url
    if not url:
        from viper.redis_server import EmbeddedRedis

        url = EmbeddedRedis(settings.storage.data_dir).url
        if not Path(url.removeprefix("unix://")).exists():
            print("No Redis to work for: set [redis] url (VIPER_REDIS__URL), or start `viper up` first.", file=sys.stderr)
            return 2
    try:
        make_worker(settings, url, metrics_port=settings.metrics.port or None).run()
    except ModelUnavailable as e:
        print(f"error: {e.message}", file=sys.stderr)
        return EX_CONFIG  # `viper up` does not start a worker again that cannot load its model
    return 0


class _WorkerSupervisor:
    """The worker process `viper up` runs: started again, with backoff, whenever it dies."""

    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 60.0
    STABLE_S = 60.0  # a worker that ran this long before dying starts again after the first delay

    def __init__(self, cmd: list[str], env: dict, can_serve=lambda: True):
        self.cmd, self.env = cmd, env
        self.can_serve = can_serve  # whether `viper up` has a use without a worker (an adapter runs)
        self.failed = False
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = self.FIRST_DELAY_S
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env)
        self.started_at = time.monotonic()

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if stop.is_set() or self.proc.poll() is None:
                continue
            if self.proc.returncode == EX_CONFIG:
                log.error("the worker cannot start with these settings (see the error above); not restarting it")
                self.failed = True
                if not self.can_serve():
                    stop.set()
                return
            if time.monotonic() - self.started_at >= self.STABLE_S:
                self.delay = self.FIRST_DELAY_S
            log.error(
                "the worker (pid %s) exited with code %s; restarting it in %.0f s",
                self.proc.pid, self.proc.returncode, self.delay,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.delay)
            if stop.is_set():
                return
            self.delay = min(self.delay * 2, self.MAX_DELAY_S)
            self.start()
            self.restarts += 1
            log.warning("worker restarted (pid %s, restart %d); models load in the background", self.proc.pid,
                        self.restarts)

    def stop(self) -> None:
        """SIGINT, as a terminal would: the worker hands its running jobs back to the queue, then exits."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _watch_redis(embedded, stop: asyncio.Event) -> None:
    """`viper up`'s own Redis, started again whenever it dies: its append-only file brings the queue
    back, and the workers and the bot reconnect by themselves."""
    delay = 1.0
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        if stop.is_set() or embedded.pid is not None:
            continue
        log.error("the embedded Redis stopped; starting it again in %.0f s", delay)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(embedded.start)
            log.warning("the embedded Redis is running again (pid %s)", embedded.pid)
            delay = 1.0
        except ViperError as e:
            log.error("the embedded Redis did not start: %s", e.message)
            delay = min(delay * 2, 60.0)


async def _up_main(settings: Settings, config: str | None) -> int:
    from viper.app import resolve_redis

    settings.storage.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    url, embedded = await resolve_redis(settings)
    env = dict(os.environ, VIPER_REDIS__URL=url)
    if settings.metrics.port:  # the bot serves its metrics on the port, its worker on the next one
        env["VIPER_METRICS__PORT"] = str(settings.metrics.port + 1)
    cmd = [sys.executable, "-m", "viper.cli"] + (["--config", config] if config else []) + ["worker"]
    adapters = Adapters()
    worker = _WorkerSupervisor(cmd, env, can_serve=lambda: bool(adapters.running))
    try:
        worker.start()
        log.info("worker started (pid %s); models load in the background", worker.proc.pid)
        settings.redis.url = url
        stop = _stop_event()
        watchers = [asyncio.create_task(worker.watch(stop))]
        if embedded is not None:
            watchers.append(asyncio.create_task(_watch_redis(embedded, stop)))
        try:
            code = await adapters.run(settings, stop)
        finally:
            stop.set()
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    finally:
        worker.stop()
        if embedded is not None:
            embedded.stop()
    if worker.failed and not adapters.running:
        print("error: the worker cannot start and no chat adapter is running; stopping.", file=sys.stderr)
        return 1
    return code


def cmd_up(args: argparse.Namespace) -> int:
    return asyncio.run(_up_main(settings_of(args), args.config))

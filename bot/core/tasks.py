"""One registry for the core's background work (following jobs), shared by every adapter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("viper.bot")


class Background:
    """Tasks that outlive the handler that started them; `stop` cancels them all at shutdown.

    A job being followed when the bot stops stays undelivered in the store, and the next start
    follows it again, so cancelling loses nothing.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self.closed = False

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task | None:
        if self.closed:
            coroutine.close()
            return None
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        self.closed = True
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

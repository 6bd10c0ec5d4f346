"""Dynamic batching: members' generate requests that arrive close together share one GPU run.

A UNet call of batch 4 leaves an H100/H200 partly idle; eight members' requests in one call of
batch 32 use it far better (DESIGN.md section 6). The worker therefore runs several generate jobs at
once (arq `max_jobs` > 1), and each job hands its request to one `Batcher`, which:

- waits up to `window_s` after the oldest waiting request for others with the same batch key (same
  width, height, steps and mode: see `engine.generation.Plan.batch_key`), up to `max_batch`;
- runs that group through `run` in a thread, one group at a time (the GPU does one thing at a time,
  and an optional shared lock keeps other GPU users, such as preference extraction, out);
- hands every job its own outcome.

Requests with other keys wait their turn in arrival order: the next group is always formed around
the oldest waiting request, so nobody starves. A request whose job is cancelled while it waits
leaves the queue; one cancelled while its group runs is stopped by the generator at the next step
(its `should_stop`), without disturbing the others. Every submitted request ends exactly once: with
its outcome, with the error its group raised, or with an error saying the worker is stopping.

The batcher knows nothing of torch or images: `run` maps a list of items to a list of outcomes
(results or exceptions), which is what `ViperGenerator.render_batch` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from viper.contracts.errors import JobFailed

log = logging.getLogger("viper.batching")

RunBatch = Callable[[list[Any]], Sequence[Any]]


@dataclass(eq=False)  # identity: two requests are never "equal", even with equal items
class _Waiting:
    key: Hashable
    item: Any
    future: asyncio.Future
    arrived: float = field(default=0.0)


class Batcher:
    """Collects compatible requests for `window_s` seconds (up to `max_batch`) and runs them together.

    Create it inside the event loop that will use it. `run` is synchronous and runs in a worker
    thread; `lock`, when given, is held for each run. `batch_sizes` holds the sizes of the last
    thousand groups run, for logs and tests.
    """

    def __init__(
        self,
        run: RunBatch,
        *,
        window_s: float = 0.05,
        max_batch: int = 8,
        lock: asyncio.Lock | None = None,
    ):
        if window_s < 0:
            raise ValueError(f"window_s must be 0 or more, got {window_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be 1 or more, got {max_batch}")
        self.run = run
        self.window_s = window_s
        self.max_batch = max_batch
        self.lock = lock or asyncio.Lock()
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self._waiting: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Requests queued for a group that has not started yet."""
        return sum(not w.future.done() for w in self._waiting)

    async def submit(self, key: Hashable, item: Any) -> Any:
        """Queue `item` for a batch of equal `key`s and return its outcome (or raise its exception).

        Cancelling the awaiting task takes the item out of the queue if its group has not started;
        if it has, the item's own stop check must end it (the generator asks it every step).
        """
        if self._closed:
            raise JobFailed("the worker is shutting down; the job will not run here")
        loop = asyncio.get_running_loop()
        waiting = _Waiting(key, item, loop.create_future(), loop.time())
        self._waiting.append(waiting)
        self._arrived.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_forever(), name="viper-batcher")
        try:
            return await waiting.future
        finally:
            if waiting in self._waiting:  # cancelled before its group formed
                self._waiting.remove(waiting)

    async def close(self) -> None:
        """Stop forming groups; every request still waiting ends with `JobFailed`."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._fail(self._waiting, "the worker is shutting down; please try again")
        self._waiting.clear()

    async def _run_forever(self) -> None:
        while True:
            try:
                group = await self._next_group()
            except asyncio.CancelledError:
                raise
            except Exception:  # never leave a request waiting on a runner that died
                log.exception("the batcher could not form a group")
                self._fail(self._waiting, "internal error while queueing the job")
                self._waiting.clear()
                continue
            try:
                async with self.lock:
                    outcomes = await asyncio.to_thread(self.run, [w.item for w in group])
            except asyncio.CancelledError:
                self._fail(group, "the worker is shutting down; please try again")
                raise
            except Exception as exc:  # a bug in the run, not one member's failure: all of them hear it
                log.exception("a batch of %d failed", len(group))
                for w in group:
                    if not w.future.done():
                        w.future.set_exception(exc)
                continue
            if len(outcomes) != len(group):
                self._fail(group, f"internal error: {len(outcomes)} outcomes for {len(group)} requests")
                continue
            for w, outcome in zip(group, outcomes):
                if w.future.done():  # its job was cancelled while the group ran
                    continue
                if isinstance(outcome, BaseException):
                    w.future.set_exception(outcome)
                else:
                    w.future.set_result(outcome)

    async def _next_group(self) -> list[_Waiting]:
        """Wait for the oldest request's window to close (or its group to fill) and take the group."""
        loop = asyncio.get_running_loop()
        while True:
            self._drop_cancelled()
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            head = self._waiting[0]
            group = [w for w in self._waiting if w.key == head.key][: self.max_batch]
            remaining = head.arrived + self.window_s - loop.time()
            if len(group) < self.max_batch and remaining > 0:
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                continue
            for w in group:
                self._waiting.remove(w)
            self.batch_sizes.append(len(group))
            if len(group) > 1:
                log.info("running %d requests as one batch (key %s)", len(group), head.key)
            return group

    def _drop_cancelled(self) -> None:
        self._waiting = [w for w in self._waiting if not w.future.done()]

    @staticmethod
    def _fail(group: list[_Waiting], message: str) -> None:
        for w in group:
            if not w.future.done():
                w.future.set_exception(JobFailed(message))

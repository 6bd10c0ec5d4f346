"""Fair service on arq's queue: jobs start round-robin across members, the one served longest ago first.

arq keeps one sorted set of job ids scored by enqueue time (ms) and, by itself, serves it oldest
first: a member who queues six images makes everyone behind wait for all six. Here the same sorted
set stays the one queue, but which waiting job starts next is decided by ONE pure function,
`fair_order`, which both sides call:

- the worker (`engine.worker.ViperWorker`) reads the ready line (`read_line`), orders it and claims
  jobs in that order with arq's per-job lock, as many as it has free slots, so with several workers
  on one Redis every job still runs exactly once;
- the bot (`bot.queue.JobQueue.position`) reads the same line and reports a job's place in that
  order (1 = next), so the position a member sees is the real one.

The order's key, for each waiting job (not running, not deferred):

1. its round: how many jobs of the same member are ahead of it in the line (arq's order). Every
   member's first waiting job comes before anyone's second, so in a burst no member waits behind
   more than one job of each other member;
2. within a round, when its member last had a job started (`SERVED_KEY`, written by the worker in
   the same transaction as the job's lock); a member never served (or not within
   `SERVED_KEEP_S`) counts as served longest ago. So a member whose first image is painting waits
   behind members who have none yet;
3. then the job's own score (the member who has waited longest), then its id (a total order).

Deferred jobs (scored more than `DEFER_SLACK_MS` in the future: an arq `_defer_by`, or a job a
paused server holds) come after every ready job, by score. The member is read from the job id (`generate-<member>-<ms>-<hex>`,
`extract-<member>-...`, as `bot.core` makes them); any other id (`viper imagine`'s) is a member of
its own.

Imports nothing of ours (it is a contract both sides read).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from arq.constants import in_progress_key_prefix

SERVED_KEY = "viper:fair:served"
"""Sorted set: member id -> the time (ms) a worker last started one of that member's jobs."""
SERVED_KEEP_S = 24 * 3600.0
"""Entries older than this are pruned by the workers; such a member counts as never served."""
LINE_WINDOW = 1000
"""How many jobs of the line (oldest first) are read and ordered at once. A job beyond it is placed
by its rank in arq's order until it is within the window (`bot.queue.JobQueue.position`)."""

DEFER_SLACK_MS = 2000
"""A job scored less than this in the future counts as ready, not deferred: arq scores a new job with
the enqueuing machine's clock (rounded to the ms), which may run a little ahead of the reader's. The
jobs that really wait (a paused server's) are scored years ahead."""

WORKER_KEY_PREFIX = "viper:worker:"
"""One key per live worker (`viper:worker:<host>:<pid>:<hex>`), JSON about it, expiring a few seconds
after the worker stops reporting: `viper status` counts them (arq's own health key is one per queue,
shared by every worker)."""

_JOB_ID = re.compile(r"(?:generate|extract)-(\d+)-\d+-[0-9a-f]+")


def member_of(job_id: str) -> str | None:
    """The member id in a bot job's id (`generate-12-1733...-a1b2c3` -> "12"); None for other ids."""
    match = _JOB_ID.fullmatch(job_id)
    return match.group(1) if match else None


def _who(job_id: str) -> str:
    member = member_of(job_id)
    return member if member is not None else "job:" + job_id  # an anonymous id is a member of its own


def fair_order(
    entries: Iterable[tuple[str, float]],
    last_served: Mapping[str, float] | None = None,
    *,
    now_ms: float | None = None,
) -> list[str]:
    """The waiting jobs `entries` ((job id, arq score in ms), running jobs left out) in the order they
    should start. `last_served`: member id -> ms of that member's last start (missing: never).
    `now_ms`: jobs scored later are deferred and go last (None: none is deferred)."""
    served = last_served or {}
    line = sorted(entries, key=lambda e: (e[1], e[0]))  # arq's own order
    ahead: Counter[str] = Counter()
    keyed: list[tuple[tuple, str]] = []
    for job_id, score in line:
        if now_ms is not None and score > now_ms:
            keyed.append(((1, 0, 0.0, score, job_id), job_id))
            continue
        who = _who(job_id)
        member = member_of(job_id)
        last = served.get(member, -math.inf) if member is not None else -math.inf
        keyed.append(((0, ahead[who], last, score, job_id), job_id))
        ahead[who] += 1
    keyed.sort(key=lambda k: k[0])
    return [job_id for _, job_id in keyed]


@dataclass
class Line:
    """A snapshot of the queue: waiting jobs in fair order, and the running ones."""

    order: list[str] = field(default_factory=list)
    """Waiting job ids, next first (ready ones, then deferred ones)."""
    running: list[str] = field(default_factory=list)
    ready: int = 0
    """How many of `order` may start now (the rest are deferred or held)."""
    total: int = 0
    """Jobs in arq's sorted set, running ones included (it may hold more than were read)."""
    read: int = 0
    """How many entries were read (at most the window)."""

    @property
    def truncated(self) -> bool:
        return self.total > self.read

    @property
    def deferred(self) -> int:
        return len(self.order) - self.ready

    def position(self, job_id: str) -> int | None:
        """1-based place among the waiting jobs; None when running, finished or beyond the window."""
        try:
            return self.order.index(job_id) + 1
        except ValueError:
            return None

    def waiting_per_member(self) -> dict[str, int]:
        """Member id -> waiting jobs; ids that name no member are counted under "other"."""
        counts: Counter[str] = Counter(member_of(job_id) or "other" for job_id in self.order)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


async def read_line(redis, queue_name: str, *, ready_only: bool = False, limit: int = LINE_WINDOW,
                    now_ms: float | None = None) -> Line:
    """Read the oldest `limit` jobs of arq's queue `queue_name` (only the ready ones with `ready_only`),
    which of them run (arq's in-progress keys) and when their members were last served, in two
    round trips, and order the waiting ones with `fair_order`. `redis` is a redis-py asyncio client."""
    now = round(time.time() * 1000) if now_ms is None else now_ms  # as arq's timestamp_ms
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(queue_name, "-inf", now if ready_only else "+inf", start=0, num=limit, withscores=True)
        pipe.zcard(queue_name)
        raw, total = await pipe.execute()
    entries = [(job_id.decode() if isinstance(job_id, bytes) else job_id, float(score)) for job_id, score in raw]
    if not entries:
        return Line(total=int(total), read=0)
    members = sorted({m for m in (member_of(job_id) for job_id, _ in entries) if m is not None})
    async with redis.pipeline(transaction=False) as pipe:
        pipe.mget([in_progress_key_prefix + job_id for job_id, _ in entries])
        for member in members:
            pipe.zscore(SERVED_KEY, member)
        locks, *scores = await pipe.execute()
    last_served = {m: float(s) for m, s in zip(members, scores) if s is not None}
    running = [job_id for (job_id, _), lock in zip(entries, locks) if lock is not None]
    busy = set(running)
    waiting = [(job_id, score) for job_id, score in entries if job_id not in busy]
    ready_until = now + DEFER_SLACK_MS
    order = fair_order(waiting, last_served, now_ms=ready_until)
    ready = sum(score <= ready_until for _, score in waiting)
    return Line(order=order, running=running, ready=ready, total=int(total), read=len(entries))

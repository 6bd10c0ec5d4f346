"""Fair service (issue #13): the order function, the positions the bot reports, and the worker's claims.

The order is `viper.contracts.fairness.fair_order`; the bot (`JobQueue.position`) and the worker
(`ViperWorker`'s poll) both use it on the same Redis line, tested here with a real Redis and the real
worker (tiny model, in this event loop).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest
from arq.constants import in_progress_key_prefix
from arq.jobs import Job

from bot.queue import JobQueue
from tests.workers import gated_worker
from viper.contracts import fairness, jobs
from viper.contracts.fairness import fair_order, member_of
from viper.contracts.jobs import deserialize


_serial = iter(range(10**6))


def job_id(member: int, ms: int = 1_765_000_000_000, kind: str = "generate") -> str:
    """An id as `bot.core` makes it: `<kind>-<member id>-<ms>-<hex>`."""
    return f"{kind}-{member}-{ms}-{next(_serial):06x}"


def ahead_of_first(order: list[str]) -> dict[str, int]:
    """For each member, the most jobs of any one other member placed before its first job."""
    worst: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for jid in order:
        who = member_of(jid) or jid
        if who not in worst:
            others = [n for m, n in seen.items() if m != who]
            worst[who] = max(others, default=0)
        seen[who] += 1
    return worst


# -- the order function ----------------------------------------------------------------------------


def test_a_member_queueing_one_after_a_burst_of_six_is_among_the_next_two():
    burst = [(job_id(1), 1000 + i) for i in range(6)]
    b = (job_id(2), 1010)
    order = fair_order([*burst, b])
    assert order.index(b[0]) < 2
    assert order == [burst[0][0], b[0], *(j for j, _ in burst[1:])]
    # Once A's first image has started (it leaves the waiting line, A was served), B is next.
    order = fair_order([*burst[1:], b], {"1": 1500})
    assert order[0] == b[0]


def test_in_a_twenty_member_burst_nobody_waits_behind_two_jobs_of_one_other_member():
    rng = random.Random(13)
    entries, ms = [], 1000
    for _ in range(6):  # member 1 bursts first
        entries.append((job_id(1, ms), ms))
        ms += 1
    wanted = {m: rng.randint(1, 4) for m in range(2, 21)}
    pending = [m for m, n in wanted.items() for _ in range(n)]
    rng.shuffle(pending)
    for m in pending:
        entries.append((job_id(m, ms), ms))
        ms += rng.choice((0, 1, 3))  # same-millisecond arrivals too
    order = fair_order(entries)
    assert sorted(order) == sorted(j for j, _ in entries)
    assert max(ahead_of_first(order).values()) <= 1
    # More generally: before a member's k-th job, at most k jobs of any one other member.
    seen: Counter[str] = Counter()
    for jid in order:
        who = member_of(jid)
        assert all(n <= seen[who] + 1 for m, n in seen.items() if m != who)
        seen[who] += 1
    # Within a member, its own jobs keep their order.
    for m in wanted:
        mine = [j for j in order if member_of(j) == str(m)]
        assert mine == [j for j, _ in sorted(entries, key=lambda e: e[1]) if member_of(j) == str(m)]


def test_within_a_round_the_member_served_longest_ago_goes_first_and_never_served_is_oldest():
    a, b, c = job_id(1), job_id(2), job_id(3)
    entries = [(a, 100), (b, 200), (c, 300)]
    assert fair_order(entries, {"1": 50, "2": 40}) == [c, b, a]  # 3 never served, then 2 (40), then 1 (50)
    assert fair_order(entries) == [a, b, c]  # nobody served: whoever waited longest


def test_ties_are_broken_by_score_then_job_id():
    x, y, z = job_id(5), job_id(6), job_id(7)
    assert fair_order([(z, 100), (y, 100), (x, 100)], {"5": 10, "6": 10, "7": 10}) == [x, y, z]
    assert fair_order([(y, 101), (x, 100)], {"5": 10, "6": 10}) == [x, y]
    # Same member, same millisecond: the job id decides, the same way on every reader.
    first, second = sorted([job_id(9), job_id(9)])
    assert fair_order([(second, 7), (first, 7)]) == [first, second]


def test_ids_that_name_no_member_are_each_a_member_of_their_own():
    member = [(job_id(7, kind="extract"), 100), (job_id(7), 101), (job_id(7), 102)]
    anonymous = [("3f2a9c0e5b7d4e1a", 103), ("imagine-cli-job", 104)]
    order = fair_order([*member, *anonymous])
    assert order == [member[0][0], anonymous[0][0], anonymous[1][0], member[1][0], member[2][0]]
    assert member_of(member[0][0]) == member_of(member[1][0]) == "7"  # extract and generate: one member
    assert member_of("3f2a9c0e5b7d4e1a") is None
    assert member_of("generate-12-abc-ff") is None  # not the bot's format: anonymous


def test_deferred_jobs_come_after_every_ready_one():
    held, ready = job_id(1), job_id(2)
    assert fair_order([(held, 9e15), (ready, 2000)], now_ms=1500) == [ready, held]


# -- positions from the bot's queue client, on a real Redis ----------------------------------------


@pytest.fixture
async def queue(redis_url):
    q = await JobQueue.connect(redis_url)
    yield q
    await q.close()


def tiny(seed: int, steps: int = 1) -> dict:
    return jobs.to_dict(jobs.GenerateRequest(prompt=f"a lighthouse {seed}", seed=seed, steps=steps))


async def enqueue_burst(queue: JobQueue) -> dict[str, list[str]]:
    """A queues 6 images, then B 1, then C 2 (ids as the bot makes them)."""
    ids: dict[str, list[str]] = {"A": [], "B": [], "C": []}
    for name, member, count in (("A", 1, 6), ("B", 2, 1), ("C", 3, 2)):
        for _ in range(count):
            jid = job_id(member, int(time.time() * 1000))
            await queue.enqueue(jobs.GENERATE_JOB, tiny(len(ids[name]) + member * 10), job_id=jid)
            ids[name].append(jid)
            await asyncio.sleep(0.002)  # distinct arq scores, as members typing one after another
    return ids


FAIR = ["A0", "B0", "C0", "A1", "C1", "A2", "A3", "A4", "A5"]


def named(ids: dict[str, list[str]], name: str) -> str:
    return ids[name[0]][int(name[1:])]


async def test_the_position_the_bot_reports_is_the_place_in_the_fair_order(queue):
    ids = await enqueue_burst(queue)
    for place, name in enumerate(FAIR, 1):
        assert await queue.position(named(ids, name)) == place, name
    # A worker takes A's first image: it leaves the line and A was just served; everyone moves up.
    first = named(ids, "A0")
    await queue.pool.psetex(in_progress_key_prefix + first, 15000, b"1")
    await queue.pool.zadd(fairness.SERVED_KEY, {"1": int(time.time() * 1000)})
    await asyncio.sleep(0.25)  # past the line's cache
    assert await queue.position(first) is None
    for place, name in enumerate(FAIR[1:], 1):
        assert await queue.position(named(ids, name)) == place, name
    assert await queue.position("generate-1-0-000000") is None  # no such job


async def start_times(queue: JobQueue, job_ids: list[str]) -> list[str]:
    infos = {}
    for jid in job_ids:
        infos[jid] = await Job(jid, queue.pool, _queue_name=queue.queue_name, _deserializer=deserialize).result_info()
    assert all(info is not None and info.success for info in infos.values())
    return sorted(job_ids, key=lambda j: infos[j].start_time)


async def test_a_worker_starts_jobs_in_fair_order_and_positions_follow(queue, settings, redis_url, tiny_models):
    ids = await enqueue_burst(queue)
    every = [named(ids, n) for n in FAIR]
    last = named(ids, "C1")
    seen: list[int | None] = []

    async def note(status, progress, position):
        seen.append(position if status == "queued" else None)

    async with gated_worker(settings, redis_url, tiny_models, max_jobs=1) as (w, gated):
        assert await asyncio.to_thread(gated.holding.wait, 30)  # A0 is painting, held at its first step
        follower = asyncio.create_task(queue.wait(last, timeout=60, on_update=note, update_interval=0,
                                                  poll_interval=0.02))
        await asyncio.sleep(0.3)
        assert await queue.position(named(ids, "A0")) is None
        assert [await queue.position(named(ids, n)) for n in FAIR[1:]] == list(range(1, 9))
        gated.gate.set()
        await asyncio.wait_for(follower, 60)
        for jid in every:
            await queue.wait(jid, timeout=60)
    assert await start_times(queue, every) == every  # the worker's order is the order the bot showed
    places = [p for p in seen if p is not None]
    assert places[0] == 4 and places == sorted(places, reverse=True)  # C1 moved up, 4, 3, 2, 1
    assert seen[-1] is None  # then it ran


async def test_a_worker_with_free_slots_takes_the_fairest_jobs_and_batches_them(queue, settings, redis_url,
                                                                                tiny_models):
    async with gated_worker(settings, redis_url, tiny_models, max_jobs=4) as (w, gated):
        holder = await queue.enqueue(jobs.GENERATE_JOB, tiny(99, steps=2))  # an anonymous id (viper imagine's)
        assert await asyncio.to_thread(gated.holding.wait, 30)
        w.allow_pick_jobs = False  # the burst lands in one go, as if the members typed faster than a poll
        ids = await enqueue_burst(queue)
        w.allow_pick_jobs = True
        batcher = w.ctx["batcher"]
        for _ in range(500):
            if batcher.waiting == 3:
                break
            await asyncio.sleep(0.02)
        running = {j for j in (named(ids, n) for n in FAIR) if await queue.pool.exists(in_progress_key_prefix + j)}
        assert running == {named(ids, "A0"), named(ids, "B0"), named(ids, "C0")}
        gated.gate.set()
        await queue.wait(holder, timeout=60)
        for name in FAIR:
            await queue.wait(named(ids, name), timeout=60)
    assert list(batcher.batch_sizes)[:2] == [1, 3]  # three members' first images shared one batch
    served = await queue.pool.zrange(fairness.SERVED_KEY, 0, -1)
    assert sorted(served) == [b"1", b"2", b"3"]  # members' turns; the anonymous job is not recorded


async def test_a_job_just_queued_by_a_machine_whose_clock_runs_ahead_is_ready_not_deferred(queue):
    from viper.contracts.fairness import DEFER_SLACK_MS, read_line

    now = int(time.time() * 1000)
    early, ahead, held = job_id(1), job_id(2), job_id(3)
    await queue.pool.zadd(queue.queue_name, {early: now - 5, ahead: now + DEFER_SLACK_MS // 2, held: 9e15})
    line = await read_line(queue.pool, queue.queue_name, now_ms=now)
    assert line.order == [early, ahead, held] and line.ready == 2 and line.deferred == 1
    worker_view = await read_line(queue.pool, queue.queue_name, ready_only=True, now_ms=now)
    assert worker_view.order == [early]  # a worker claims it a moment later, as arq would

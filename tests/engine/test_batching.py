"""Several members in one UNet call: the generator's batch path and the worker's `Batcher`.

Generator tests run the tiny model on a CPU thread: a member's image must not depend on who shares
its batch, each member hears its own progress and may leave alone, and running out of GPU memory
(injected here as the error CUDA raises) splits the calls without losing or repeating a step.
Batcher tests drive its grouping with a fake `run`, since grouping is about timing, not images.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import torch
from PIL import Image

from engine.batching import Batcher
from engine.generation import GenerationDefaults, Member, ViperGenerator
from engine.sdxl import load_generator
from viper.contracts.errors import JobCancelled, JobFailed
from viper.contracts.jobs import GenerateRequest

STEPS = 4

# Three members with their own prompt, profile, seed and settings: personalised (4 rows per step),
# unpersonalised (2 rows), and unguided (1 row), so one call mixes every row layout.
MEMBERS = [
    GenerateRequest(prompt="a lighthouse at dusk", liked=["teal", "soft light"], disliked=["neon"],
                    seed=3, steps=STEPS),
    GenerateRequest(prompt="a bowl of lemons", negative_prompt="blurry", seed=11, steps=STEPS, guidance=7.5),
    GenerateRequest(prompt="a fox in the snow", liked=["ink wash"], disliked=["3d render", "harsh yellow"],
                    seed=5, steps=STEPS, guidance=1.0),
]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/engine/conftest.py; `tiny` comes from there too


@pytest.fixture(scope="module")
def alone(tiny) -> list[torch.Tensor]:
    """Each member's final latents when it runs by itself."""
    return [tiny.generate_latents(req) for req in MEMBERS]


def members(gen: ViperGenerator, requests=MEMBERS, **callbacks) -> list[Member]:
    return [Member(gen.prepare(req), **callbacks) for req in requests]


def assert_same_image(batched: torch.Tensor, alone: torch.Tensor) -> None:
    # Equal up to float32 rounding: a larger GEMM may order its sums differently (bit-equal for
    # small batches here, 1e-6 apart per step for larger ones, a little more after the steps add up).
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-4)


def pixels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png))).astype(int)


class OutOfMemoryAbove:
    """A UNet pre-hook that fails like CUDA does when a call holds more than `rows` rows."""

    def __init__(self, rows: int):
        self.rows = rows
        self.refused = 0

    def __call__(self, module, args):
        if args[0].shape[0] > self.rows:
            self.refused += 1
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected above {self.rows} rows)")


# 1. Alone or batched, the same image.


def test_batched_members_match_their_images_alone(tiny, alone, unet_batches):
    outcomes = tiny.denoise_batch(members(tiny))
    assert unet_batches == [4 + 2 + 1] * STEPS, "one UNet call per step for all three members"
    for batched, single in zip(outcomes, alone):
        assert_same_image(batched, single)


def test_batched_pngs_match_alone_within_one_level(tiny):
    results = tiny.generate_batch(members(tiny, MEMBERS[:2]))
    for result, req in zip(results, MEMBERS[:2]):
        single = tiny.generate(req)
        assert (result.seed, result.width, result.steps) == (single.seed, single.width, single.steps)
        assert result.liked_used == single.liked_used
        assert np.abs(pixels(result.png) - pixels(single.png)).max() <= 1


def test_members_may_come_in_any_order(tiny, alone):
    reversed_outcomes = tiny.denoise_batch(members(tiny, MEMBERS[::-1]))
    for batched, single in zip(reversed_outcomes[::-1], alone):
        assert_same_image(batched, single)


def test_refiner_stage_is_batched_too():
    refined = load_generator("tiny", refiner="tiny")
    requests = [GenerateRequest(**{**req.__dict__, "steps": 10}) for req in MEMBERS[:2]]
    single = [refined.generate_latents(req) for req in requests]
    refiner_batches: list[int] = []
    hook = refined.refiner.unet.register_forward_pre_hook(lambda m, a: refiner_batches.append(a[0].shape[0]))
    try:
        outcomes = refined.denoise_batch(members(refined, requests))
    finally:
        hook.remove()
    assert refiner_batches == [2 + 2] * 2, "both members' refiner steps share calls"
    for batched, one in zip(outcomes, single):
        assert_same_image(batched, one)


def test_batch_members_must_share_size_steps_and_mode(tiny):
    mixed = members(tiny, [MEMBERS[0], GenerateRequest(prompt="wide", width=96, steps=STEPS)])
    with pytest.raises(ValueError, match="batch_key"):
        tiny.denoise_batch(mixed)


# 2. Progress and cancellation, per member.


def test_each_member_reports_its_own_progress(tiny):
    calls: dict[int, list] = {i: [] for i in range(len(MEMBERS))}
    batch = [
        Member(tiny.prepare(req), on_step=lambda i, n, k=k: calls[k].append((i, n)))
        for k, req in enumerate(MEMBERS)
    ]
    tiny.denoise_batch(batch)
    for progress in calls.values():
        assert progress == [(i, STEPS) for i in range(1, STEPS + 1)]


def test_a_cancelled_member_leaves_and_the_others_finish(tiny, alone, unet_batches):
    steps_seen: list[int] = []
    batch = members(tiny)
    batch[1].on_step = lambda i, n: steps_seen.append(i)
    batch[1].should_stop = lambda: len(steps_seen) >= 2
    outcomes = tiny.denoise_batch(batch)
    assert isinstance(outcomes[1], JobCancelled)
    assert steps_seen == [1, 2]
    assert unet_batches == [7, 7, 5, 5], "the cancelled member's rows leave the calls"
    assert_same_image(outcomes[0], alone[0])
    assert_same_image(outcomes[2], alone[2])


def test_a_member_cancelled_before_the_start_costs_nothing(tiny, alone, unet_batches):
    batch = members(tiny, MEMBERS[:2])
    batch[0].should_stop = lambda: True
    outcomes = tiny.denoise_batch(batch)
    assert isinstance(outcomes[0], JobCancelled)
    assert unet_batches == [2] * STEPS
    assert_same_image(outcomes[1], alone[1])


def test_a_failing_progress_callback_ends_only_its_member(tiny, alone):
    def broken(i, n):
        raise ConnectionError("redis went away")

    batch = members(tiny, MEMBERS[:2])
    batch[0].on_step = broken
    outcomes = tiny.denoise_batch(batch)
    assert isinstance(outcomes[0], ConnectionError)
    assert_same_image(outcomes[1], alone[1])


# 3. Out of GPU memory: split the calls, lose and repeat nothing.


def test_out_of_memory_splits_the_batch_and_keeps_every_step(tiny, alone, unet_batches):
    refuse = OutOfMemoryAbove(rows=4)
    hook = tiny.pipe.unet.register_forward_pre_hook(refuse)
    progress: dict[int, list] = {i: [] for i in range(len(MEMBERS))}
    batch = [
        Member(tiny.prepare(req), on_step=lambda i, n, k=k: progress[k].append(i)) for k, req in enumerate(MEMBERS)
    ]
    try:
        outcomes = tiny.denoise_batch(batch)
    finally:
        hook.remove()
    # First call: 7 rows refused, then 3 (4 + 2) refused... the cap halves until calls fit.
    assert refuse.refused >= 1
    assert max(size for size in unet_batches if size <= 4) <= 4
    accepted = [size for size in unet_batches if size <= refuse.rows]
    assert sum(accepted) == (4 + 2 + 1) * STEPS, "every member's rows ran exactly once per step"
    for k, single in enumerate(alone):
        assert progress[k] == list(range(1, STEPS + 1)), "no step skipped or reported twice"
        assert_same_image(outcomes[k], single)


def test_out_of_memory_for_a_single_member_is_a_clear_failure(tiny):
    hook = tiny.pipe.unet.register_forward_pre_hook(OutOfMemoryAbove(rows=1))
    try:
        outcomes = tiny.generate_batch(members(tiny, MEMBERS[:2]))
    finally:
        hook.remove()
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, JobFailed) and "out of memory" in outcome.message
        assert isinstance(outcome.__cause__, torch.cuda.OutOfMemoryError)


# 4. Fast mode: fewer rows, measured error, never the default.


def test_fast_mode_refreshes_the_keyword_branches_every_k_steps(tiny, unet_batches):
    gen = ViperGenerator(tiny.pipe, model_name="tiny", is_tiny=True, defaults=GenerationDefaults(fast_refresh=3))
    req = GenerateRequest(**{**MEMBERS[0].__dict__, "steps": 7})
    fast = gen.generate_latents(req, mode="fast")
    assert unet_batches == [4, 2, 2, 4, 2, 2, 4]
    unet_batches.clear()
    exact = gen.generate_latents(req)
    assert unet_batches == [4] * 7
    assert not torch.equal(fast, exact)
    assert (fast - exact).norm() / exact.norm() < 0.5


def test_fast_mode_with_refresh_every_step_is_exact(tiny, alone):
    defaults = GenerationDefaults(steps=STEPS, fast_refresh=1)
    gen = ViperGenerator(tiny.pipe, model_name="tiny", is_tiny=True, defaults=defaults)
    assert torch.equal(gen.generate_latents(MEMBERS[0], mode="fast"), alone[0])


def test_exact_mode_is_the_default():
    assert GenerationDefaults().mode == "fused"


# 5. The batcher: who rides together.


def _echo_run(runs: list):
    def run(items: list) -> list:
        runs.append(list(items))
        return [f"done {item}" for item in items]

    return run


async def test_requests_within_the_window_share_a_batch():
    runs: list = []
    batcher = Batcher(_echo_run(runs), window_s=0.2, max_batch=8)
    results = await asyncio.gather(*(batcher.submit("64x64", i) for i in range(3)))
    assert results == ["done 0", "done 1", "done 2"]
    assert runs == [[0, 1, 2]] and list(batcher.batch_sizes) == [3]
    await batcher.close()


async def test_only_compatible_requests_are_grouped_and_the_oldest_goes_first():
    runs: list = []
    batcher = Batcher(_echo_run(runs), window_s=0.1, max_batch=8)
    keys = ["a", "b", "a", "b", "a"]
    results = await asyncio.gather(*(batcher.submit(key, f"{key}{i}") for i, key in enumerate(keys)))
    assert results == [f"done {key}{i}" for i, key in enumerate(keys)]
    assert runs == [["a0", "a2", "a4"], ["b1", "b3"]]
    await batcher.close()


async def test_a_full_batch_starts_without_waiting_for_the_window():
    runs: list = []
    batcher = Batcher(_echo_run(runs), window_s=30, max_batch=2)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit("k", i) for i in range(4))), timeout=5)
    assert results == [f"done {i}" for i in range(4)]
    assert runs == [[0, 1], [2, 3]]
    await batcher.close()


async def test_requests_arriving_while_the_gpu_is_busy_form_the_next_batch():
    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    runs: list = []

    def run(items):
        runs.append(list(items))
        if len(runs) == 1:
            loop.call_soon_threadsafe(started.set)
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        return items

    batcher = Batcher(run, window_s=0.0, max_batch=8)
    first = asyncio.create_task(batcher.submit("k", "first"))
    await started.wait()
    later = [asyncio.create_task(batcher.submit("k", name)) for name in ("x", "y", "z")]
    await asyncio.sleep(0.05)
    release.set()
    assert await first == "first" and await asyncio.gather(*later) == ["x", "y", "z"]
    assert runs == [["first"], ["x", "y", "z"]]
    await batcher.close()


async def test_a_cancelled_waiting_request_leaves_the_queue():
    runs: list = []
    batcher = Batcher(_echo_run(runs), window_s=0.2, max_batch=8)
    keep = asyncio.create_task(batcher.submit("k", "keep"))
    drop = asyncio.create_task(batcher.submit("k", "drop"))
    await asyncio.sleep(0.01)
    drop.cancel()
    assert await keep == "done keep"
    with pytest.raises(asyncio.CancelledError):
        await drop
    assert runs == [["keep"]]
    await batcher.close()


async def test_each_member_gets_its_own_outcome_and_a_crash_reaches_everyone():
    def run(items):
        if "crash" in items:
            raise RuntimeError("driver error")
        return [ValueError(item) if item == "bad" else item for item in items]

    batcher = Batcher(run, window_s=0.05, max_batch=8)
    good, bad = await asyncio.gather(batcher.submit("k", "good"), batcher.submit("k", "bad"), return_exceptions=True)
    assert good == "good" and isinstance(bad, ValueError)
    crashed = await asyncio.gather(batcher.submit("k", "crash"), batcher.submit("k", "other"), return_exceptions=True)
    assert all(isinstance(outcome, RuntimeError) for outcome in crashed)
    assert await batcher.submit("k", "after") == "after", "the batcher survives a failed batch"
    await batcher.close()


async def test_closing_fails_waiting_requests_instead_of_dropping_them():
    batcher = Batcher(_echo_run([]), window_s=30, max_batch=8)
    waiting = asyncio.create_task(batcher.submit("k", "late"))
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(JobFailed, match="shutting down"):
        await waiting
    with pytest.raises(JobFailed):
        await batcher.submit("k", "after close")


# GPU: fp16 batches, and a step loop that never waits for the device.

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@gpu
def test_cuda_batch_matches_alone_and_never_syncs_inside_a_step(monkeypatch):
    from engine import denoising

    gen = load_generator("tiny", device="cuda", dtype="fp16")
    alone = [gen.generate_latents(req).float() for req in MEMBERS]
    original = denoising.denoise_step

    def strict(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")  # any host-device sync raises
        try:
            return original(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(denoising, "denoise_step", strict)
    for batched, single in zip(gen.denoise_batch(members(gen)), alone):
        assert not isinstance(batched, BaseException), batched
        torch.testing.assert_close(batched.float(), single, rtol=1e-2, atol=1e-2)

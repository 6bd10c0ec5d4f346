"""The platform-neutral core on a real SQLite file and a real Redis (no worker unless named)."""

from __future__ import annotations

import pytest

from bot.core import MemberRef
from viper.contracts.errors import InvalidArgument, JobCancelled

ALICE = MemberRef("telegram", "1", "Alice")


async def comment_on_first(core, who, n, text="love the warm orange tones"):
    for image in core.gallery.images[:n]:
        await core.add_comment(who, image.id, text)


async def test_comments_are_validated_and_counted(runtime):
    core = runtime.core
    first = core.gallery.images[0].id
    with pytest.raises(InvalidArgument) as empty:
        await core.add_comment(ALICE, first, "   ")
    assert empty.value.argument == "comment"
    with pytest.raises(InvalidArgument, match="keep it under"):
        await core.add_comment(ALICE, first, "x" * (runtime.settings.bot.max_comment_chars + 1))
    with pytest.raises(InvalidArgument) as unknown:
        await core.add_comment(ALICE, "no-such-image", "nice")
    assert unknown.value.argument == "image"
    assert await core.add_comment(ALICE, first, "love the teal") == 1
    assert core.comment_ack(1).startswith("Noted! 1 of 3")
    assert "Press Done" in core.comment_ack(3, "discord")


async def test_tapping_a_number_then_typing_comments_on_that_image(runtime):
    core = runtime.core
    with pytest.raises(InvalidArgument, match="no image #99"):
        await core.choose_image(ALICE, 99)
    image = await core.choose_image(ALICE, 5)
    assert image.id == core.gallery.images[4].id
    assert (await core.chosen_image(ALICE)).id == image.id
    await core.add_comment(ALICE, image.id, "the stripes feel calm")
    assert await core.chosen_image(ALICE) is None  # used up by the comment


async def test_pager_position_and_resuming_after_cancel(runtime):
    core = runtime.core
    await core.start_onboarding(ALICE)
    await core.save_position(ALICE, 7)
    await comment_on_first(core, ALICE, 2)
    assert await core.cancel_onboarding(ALICE) == 2
    status = await core.start_onboarding(ALICE)
    assert status.resumed and status.comments == 2
    assert await core.position(ALICE) == 7


async def test_redo_forgets_comments_but_keeps_the_old_profile(runtime):
    core = runtime.core
    await comment_on_first(core, ALICE, 3)
    member = await core.member(ALICE)
    await runtime.store.save_profile(member.id, ["teal"], ["neon"], "lexicon")
    status = await core.redo_onboarding(ALICE)
    assert status.comments == 0 and not status.resumed
    assert await core.comment_count(ALICE) == 0
    assert (await core.profile(ALICE)).liked == ["teal"]


async def test_removing_a_feature_from_the_profile(runtime):
    core = runtime.core
    member = await core.member(ALICE)
    await runtime.store.save_profile(member.id, ["teal", "flowing lines"], ["neon"], "lexicon")
    profile = await core.remove_feature(ALICE, "neon")
    assert profile.liked == ["teal", "flowing lines"] and profile.disliked == []
    with pytest.raises(InvalidArgument, match="not in your profile"):
        await core.remove_feature(ALICE, "purple")


async def test_forget_deletes_the_member_and_only_them(runtime):
    core = runtime.core
    bob = MemberRef("telegram", "2")
    await comment_on_first(core, ALICE, 2)
    await comment_on_first(core, bob, 1)
    assert await core.forget(ALICE)
    assert await core.comment_count(ALICE) == 0 and await core.profile(ALICE) is None
    assert await runtime.store.find_member("telegram", "1") is None
    assert await core.comment_count(bob) == 1
    assert not await core.forget(MemberRef("telegram", "404"))


async def test_done_needs_enough_comments_and_runs_once_at_a_time(runtime):
    core = runtime.core
    await comment_on_first(core, ALICE, 2)
    with pytest.raises(InvalidArgument, match="at least 3"):
        await core.finish_onboarding(ALICE)
    member = await core.member(ALICE)
    await runtime.store.set_onboarding(member.id, "extracting")
    with pytest.raises(InvalidArgument, match="being built"):
        await core.start_onboarding(ALICE)
    with pytest.raises(InvalidArgument, match="being built"):
        await core.add_comment(ALICE, core.gallery.images[5].id, "one more")
    with pytest.raises(InvalidArgument, match="being built"):
        await core.check_can_comment(ALICE)
    assert len(await core.comments(ALICE)) == 2


async def test_forget_while_the_profile_is_built_keeps_nothing(runtime, worker):
    core = runtime.core
    await comment_on_first(core, ALICE, 3)
    member = await core.member(ALICE)
    real_wait = runtime.queue.wait  # the member leaves while the extraction job runs

    async def wait_after_forget(job_id, **kwargs):
        await core.forget(ALICE)
        return await real_wait(job_id, **kwargs)

    runtime.queue.wait = wait_after_forget
    with pytest.raises(InvalidArgument, match="deleted"):
        await core.finish_onboarding(ALICE)
    assert await runtime.store.find_member("telegram", "1") is None
    assert await runtime.store.profile(member.id) is None


async def test_done_builds_the_profile_through_the_worker(runtime, worker):
    core = runtime.core
    for image, text in zip(core.gallery.images, ["love the teal", "hate the neon glow", "love the grain"]):
        await core.add_comment(ALICE, image.id, text)
    profile = await core.finish_onboarding(ALICE)
    assert profile.backend == "lexicon"
    assert profile.liked and profile.disliked
    assert (await runtime.store.onboarding(profile.member_id)).state == "done"


async def test_imagine_prompt_limits_and_per_member_queue_cap(runtime):
    core = runtime.core
    with pytest.raises(InvalidArgument) as empty:
        await core.submit_imagine(ALICE, "  ")
    assert empty.value.argument == "prompt"
    with pytest.raises(InvalidArgument, match="limit"):
        await core.submit_imagine(ALICE, "a" * 601)
    for _ in range(runtime.settings.bot.max_queued_per_member):
        sub = await core.submit_imagine(ALICE, "a cat")
        assert not sub.personalised and not sub.workers_alive
    with pytest.raises(InvalidArgument, match="already have 3 images"):
        await core.submit_imagine(ALICE, "one more")


async def test_require_profile_refuses_members_without_one(runtime):
    runtime.settings.bot.require_profile = True
    with pytest.raises(InvalidArgument, match="no taste profile"):
        await runtime.core.submit_imagine(ALICE, "a cat")


async def test_a_member_cancels_their_own_queued_image(runtime):
    core = runtime.core
    bob = MemberRef("telegram", "2", "Bob")
    await core.member(bob)
    sub = await core.submit_imagine(ALICE, "a cat")  # no worker: it waits in line
    with pytest.raises(InvalidArgument, match="isn't one of yours"):
        await core.cancel_image(bob, sub.job_id)
    with pytest.raises(InvalidArgument, match="isn't one of yours"):
        await core.cancel_image(ALICE, "generate-no-such-job")
    assert await core.cancel_image(ALICE, sub.job_id) is True
    with pytest.raises(JobCancelled):
        await core.follow(sub.job_id)
    assert (await runtime.store.job(sub.job_id)).status == "cancelled"
    assert await core.cancel_image(ALICE, sub.job_id) is False  # already ended
    assert await runtime.store.undelivered_jobs("telegram") == []  # nothing to resume after a restart
    # the freed place in the member's queue allowance is usable again
    for _ in range(runtime.settings.bot.max_queued_per_member):
        await core.submit_imagine(ALICE, "a dog")


async def test_members_add_and_move_features_in_their_own_words(runtime):
    core = runtime.core
    profile, added = await core.add_taste(ALICE, "Teal,  flowing   lines;teal", liked=True)  # no profile yet
    assert added == ["teal", "flowing lines"] and profile.liked == ["teal", "flowing lines"]
    assert profile.disliked == [] and profile.backend == "member"
    profile, _ = await core.add_taste(ALICE, "neon, teal", liked=False)  # teal was read the wrong way
    assert profile.liked == ["flowing lines"] and profile.disliked == ["neon", "teal"]
    with pytest.raises(InvalidArgument) as empty:
        await core.add_taste(ALICE, " , ;", liked=True)
    assert empty.value.argument == "features"
    with pytest.raises(InvalidArgument, match="too long for one feature"):
        await core.add_taste(ALICE, "x" * 41, liked=True)
    many = ", ".join(f"feature {i}" for i in range(100))
    with pytest.raises(InvalidArgument, match="at most 100 features"):
        await core.add_taste(ALICE, many, liked=True)
    assert (await core.profile(ALICE)).disliked == ["neon", "teal"]  # a refused change changes nothing
    # an extracted profile keeps its backend when the member adds to it
    member = await core.member(ALICE)
    await runtime.store.save_profile(member.id, ["gold"], [], "lexicon", "5.454+x")
    profile, _ = await core.add_taste(ALICE, "soft light", liked=True)
    assert profile.liked == ["soft light", "gold"] and profile.backend == "lexicon"


async def test_forget_deletes_the_members_jobs_from_redis_too(runtime, worker):
    """Job results hold prompts and comments: /forget takes them out of Redis, and the WAL is
    checkpointed so the deleted rows do not linger in it."""
    import redis.asyncio as aioredis

    core = runtime.core
    submitted = await core.submit_imagine(ALICE, "a secret garden")
    await core.follow(submitted.job_id)
    client = aioredis.from_url(runtime.redis_url)
    try:
        assert await client.exists(f"arq:result:{submitted.job_id}")
        assert await core.forget(ALICE)
        assert not await client.keys(f"*{submitted.job_id}*")
    finally:
        await client.aclose()
    wal = runtime.settings.storage.database_path.with_name(runtime.settings.storage.database_path.name + "-wal")
    assert not wal.exists() or b"a secret garden" not in wal.read_bytes()
    assert b"a secret garden" not in runtime.settings.storage.database_path.read_bytes()

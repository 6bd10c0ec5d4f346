"""Busy servers in the core: moderation of text, limits and their refusals, admin controls, /usage
and the image safety policy, on a real SQLite file and a real Redis. Both adapters drive the same
calls through the real chat stacks."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot import messages
from bot.core import MemberRef
from bot.core.moderation import first_hit
from bot.core.servers import Place
from storage.store import JobRecord
from tests.bot.test_results_core import Port
from viper.contracts import jobs
from viper.contracts.errors import InvalidArgument, NotYours, ViperError

ALICE = MemberRef("discord", "1", "Alice")
BOB = MemberRef("discord", "2", "Bob")
GUILD = Place("discord", "900", "10")
ADMIN = Place("discord", "900", "10", is_admin=True)


@pytest.fixture
def core(runtime):
    return runtime.core


def test_terms_are_whole_words_in_any_case_and_patterns_are_regexes():
    assert first_hit("a class of students", ["ass"], []) is None
    assert first_hit("what an ASS", ["ass"], []) == ("term", "ass")
    assert first_hit("red  Light district", ["red light"], []) == ("term", "red light")
    assert first_hit("photo by k9x", [], [r"k\dx"]) == ("pattern", r"k\dx")


async def test_a_blocked_term_is_refused_everywhere_without_repeating_it(core, settings):
    settings.moderation.blocked_terms = ["gore"]
    settings.moderation.blocked_patterns = [r"(?i)\bnsfw\b"]
    cases = [
        (core.submit_imagine(ALICE, "a GORE scene", {}, place=GUILD), "prompt"),
        (core.submit_imagine(ALICE, "a fox --no Gore", {}, place=GUILD), "no"),
        (core.add_taste(ALICE, "teal, gore", liked=True), "feature"),
        (core.add_comment(ALICE, core.gallery.images[0].id, "love the NSFW vibe"), "comment"),
    ]
    for call, what in cases:
        with pytest.raises(InvalidArgument) as caught:
            await call
        text = messages.friendly(caught.value)
        assert "gore" not in text.lower() and "nsfw" not in text.lower() and "nothing was queued" in text
        assert text.startswith(f"Sorry, that {'--no text' if what == 'no' else what}")
    member = await core.member(ALICE)
    assert await core.store.job_ids(member.id) == [] and await core.comment_count(ALICE) == 0
    assert await core.profile(ALICE) is None
    refusals = await core.store.refusals("discord:900")
    assert [(r.rule, r.what, r.text) for r in refusals] == [("term", "prompt", None), ("term", "no", None)]
    settings.moderation.log_text = True
    with pytest.raises(InvalidArgument):
        await core.submit_imagine(ALICE, "gore again", {}, place=GUILD)
    assert (await core.store.refusals("discord:900"))[-1].text == "gore again"


async def test_admins_block_terms_for_their_server_only(core):
    with pytest.raises(NotYours):
        await core.admin_block(GUILD, "add", "Lighthouse")
    assert "Blocked" in await core.admin_block(ADMIN, "add", "Lighthouse")
    assert "lighthouse" in await core.admin_block(ADMIN, "list")
    with pytest.raises(InvalidArgument, match="rules here"):
        await core.submit_imagine(ALICE, "a lighthouse at dusk", {}, place=GUILD)
    await core.submit_imagine(ALICE, "a lighthouse at dusk", {}, place=Place("discord", "901", "11"))  # another server
    assert "Unblocked" in await core.admin_block(ADMIN, "remove", "lighthouse")
    await core.submit_imagine(BOB, "a lighthouse at dusk", {}, place=GUILD)


async def test_daily_quota_and_cooldown_with_server_overrides_and_exempt_admins(core, settings):
    settings.limits.images_per_day = 2
    await core.submit_imagine(ALICE, "a fox", {}, place=GUILD)
    await core.submit_imagine(ALICE, "a fox", {}, place=GUILD)
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_imagine(ALICE, "a fox", {}, place=GUILD)
    assert caught.value.argument == "images_per_day"
    assert "today's 2 images" in caught.value.message and "resets at midnight UTC" in caught.value.message
    admin_alice = Place("discord", "900", "10", is_admin=True)
    await core.submit_imagine(ALICE, "a fox", {}, place=admin_alice)  # admins are exempt
    # This server's admins raise the quota and add a cooldown.
    assert "5 images per member per day, a 60 seconds cooldown" in await core.admin_limits(ADMIN, 5, 60)
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_imagine(ALICE, "a fox", {}, place=GUILD)
    assert caught.value.argument == "cooldown" and "try again in" in caught.value.message
    await core.submit_imagine(BOB, "a fox", {}, place=GUILD)
    usage = await core.usage(ALICE, GUILD)
    assert usage.startswith("📊 Today: 3 images of 5; 2 left") and "Cooldown between images: 60 seconds" in usage
    assert "Queued: 3 images" in usage
    stats = await core.admin_stats(ADMIN)
    assert "4 images for 2 members" in stats and "cooldown 1" in stats and "images_per_day 1" in stats


async def test_channels_and_pause_keep_queued_jobs(core, runtime, settings):
    await core.admin_channels(ADMIN, ["10"])
    with pytest.raises(InvalidArgument, match="only in <#10>"):
        await core.submit_imagine(ALICE, "a fox", {}, place=Place("discord", "900", "12"))
    queued = await core.submit_imagine(ALICE, "a fox", {}, place=GUILD)
    assert "1 queued image wait" in await core.admin_pause(ADMIN, True)
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_imagine(BOB, "a fox", {}, place=GUILD)
    assert caught.value.argument == "paused" and "kept" in caught.value.message
    score = await runtime.queue.pool.zscore(runtime.queue.queue_name, queued.job_id)
    assert score >= 9e15  # held: no worker takes it
    # Its member sees why it waits, and the wait does not run out while the server is paused.
    port = Port()
    settings.bot.job_timeout_s = 1.0
    following = asyncio.create_task(core.deliver(queued.job_id, port))
    for _ in range(100):
        if port.statuses:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    assert port.statuses == [messages.HELD_LINE] and not following.done()
    following.cancel()
    assert "resumed" in await core.admin_pause(ADMIN, False)
    assert await runtime.queue.pool.zscore(runtime.queue.queue_name, queued.job_id) < 9e15
    with pytest.raises(InvalidArgument, match="in a server"):
        await core.admin_stats(Place("discord", None, "5", is_admin=True))


class FlaggingQueue:
    """The queue's answer for a job whose image the worker's safety check flagged."""

    def __init__(self, queue):
        self.real = queue

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def wait(self, job_id, **kwargs):
        return jobs.to_dict(jobs.GenerateResult(png=b"png", seed=1, width=64, height=64, steps=4, model="tiny",
                                                nsfw_checked=True, nsfw=True))


@pytest.mark.parametrize("policy, platform, nsfw_channel, outcome", [
    ("block", "discord", True, "withhold"),
    ("spoiler", "discord", False, "spoiler"),
    ("nsfw_channels", "discord", False, "withhold"),
    ("nsfw_channels", "discord", True, "post"),
    ("nsfw_channels", "telegram", False, "spoiler"),
])
async def test_the_safety_policy_decides_what_a_flagged_image_becomes(core, settings, policy, platform,
                                                                     nsfw_channel, outcome):
    settings.moderation.nsfw_policy = policy
    member = await core.member(MemberRef(platform, "5"))
    ref = {"nsfw_channel": True} if nsfw_channel else {}
    await core.store.record_job(JobRecord("job-x", member.id, "generate", platform, ref, "a fox"))
    core.queue = FlaggingQueue(core.queue)
    port = Port()
    delivered = await core.deliver("job-x", port)
    if outcome == "withhold":
        assert not delivered and not port.images
        assert "withheld" in port.statuses[-1]
        assert (await core.store.job("job-x")).status == "failed" and await core.store.result("job-x") is None
    else:
        assert delivered and port.images[0].spoiler == (outcome == "spoiler")
    assert isinstance(ViperError(messages.WITHHELD_REASON), ViperError)


async def test_refusals_go_with_the_member(core, settings):
    from viper import metrics

    settings.moderation.blocked_terms = ["gore"]
    before = metrics.REFUSALS.labels(rule="term")._value.get()
    with pytest.raises(InvalidArgument):
        await core.submit_imagine(ALICE, "gore", {}, place=GUILD)
    assert metrics.REFUSALS.labels(rule="term")._value.get() == before + 1  # what /metrics shows
    assert await core.forget(ALICE)
    db = sqlite3.connect(settings.storage.database_path)
    assert db.execute("SELECT COUNT(*) FROM refusals").fetchone()[0] == 0
    db.close()

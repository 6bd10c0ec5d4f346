"""Core use cases on a real SQLite file with a fake output port; no Redis, no chat platform.

The queue is replaced only where a use case follows a job (`deliver`): what is tested there is the
core's loop (what it says, when, and what it records), fed with the updates a queue reports. The
real queue, worker and platforms are covered end to end in the adapters' tests.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot import commands, messages
from bot.core import DeliveryRefused, MemberRef, Submitted, ViperBot
from engine.art import ensure_gallery
from storage.store import JobRecord, Store
from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import JobFailed, NotYours
from viper.contracts.states import JobState, OnboardingState

ALICE = MemberRef("telegram", "7", "Alice")


class FakeQueue:
    """Reports scripted updates, then a result or an error."""

    def __init__(self, updates=(), result: dict | None = None, error: Exception | None = None):
        self.updates, self.result, self.error = list(updates), result, error

    async def wait(self, job_id, *, timeout, on_update=None, update_interval=0.0):
        for status, progress, position in self.updates:
            await on_update(status, progress, position)
        if self.error is not None:
            raise self.error
        return self.result


class FakeOutput:
    """Records what the core asks a platform to say; `editable` and `accepts` play its answers."""

    done_line = "DONE"

    def __init__(self, *, editable: bool = True, accepts=True):
        self.editable, self.accepts = editable, accepts
        self.calls: list[tuple] = []

    async def status(self, text, *, final=False):
        self.calls.append(("status", text, final))
        return self.editable

    async def new_status(self, text):
        self.calls.append(("new_status", text))
        return True

    async def text(self, text):
        self.calls.append(("text", text))

    async def image(self, delivery):
        self.calls.append(("image", delivery.caption))
        if isinstance(self.accepts, Exception):
            raise self.accepts
        return self.accepts


@pytest.fixture
async def core(tmp_path):
    settings = Settings()
    settings.storage.data_dir = tmp_path
    settings.bot.min_comments = 2
    store = await Store.open(tmp_path / "viper.sqlite3")
    gallery = ensure_gallery(tmp_path / "gallery", count=6)
    yield ViperBot(settings, store, None, gallery)
    await store.close()


def result_dict(**extra) -> dict:
    strengths = {"liked_strength": 0.85, "disliked_strength": 0.85} if extra.get("liked_used") else {}
    return jobs.to_dict(jobs.GenerateResult(png=b"png", seed=5, width=64, height=64, steps=4, model="tiny",
                                            **strengths, **extra))


async def record(core, prompt="a fox") -> str:
    member = await core.member(ALICE)
    await core.store.record_job(JobRecord("job-1", member.id, "generate", "telegram", {}, prompt))
    return "job-1"


async def test_extraction_is_claimed_once_in_one_statement(core):
    member = await core.member(ALICE)
    claims = await asyncio.gather(*[core.store.claim_extraction(member.id, 900) for _ in range(5)])
    assert claims.count(True) == 1
    assert (await core.store.onboarding(member.id)).state is OnboardingState.EXTRACTING
    # A claim older than the job timeout no longer holds (the bot that made it died).
    assert await core.store.claim_extraction(member.id, 0)


async def test_a_failed_write_in_a_use_case_keeps_nothing(core):
    member = await core.member(ALICE)
    with pytest.raises(sqlite3.IntegrityError):
        async with core.store.transaction():
            await core.store.add_comment(member.id, core.gallery.images[0].id, "lovely teal")
            await core.store.record_job(JobRecord("x", 999_999, "generate", "telegram"))  # no such member
    assert await core.comment_count(ALICE) == 0


async def test_forget_deletes_the_member_and_their_private_chat_records(core):
    image = core.gallery.images[0]
    await core.add_comment(ALICE, image.id, "lovely teal")
    await core.store.remember_posted_image("telegram", ALICE.user_id, 11, image.id)
    await core.store.remember_posted_image("telegram", "-100", 12, image.id)  # a group: not Alice's
    stored = await core.stored_about(ALICE)
    assert "your 1 comment on images I showed you" in stored and "your name (Alice)" in stored
    assert await core.forget(ALICE)
    assert await core.stored_about(ALICE) is None
    assert await core.store.posted_image("telegram", ALICE.user_id, 11) is None
    assert await core.store.posted_image("telegram", "-100", 12) == image.id
    assert not await core.forget(ALICE)


async def test_pause_and_resume_answers(core):
    assert "no onboarding to pause" in await core.pause(ALICE)
    await core.add_comment(ALICE, core.gallery.images[0].id, "lovely teal")
    assert await core.pause(ALICE) == "Paused. Your 1 comment is kept; /start to continue where you left off."
    assert "already paused" in await core.pause(ALICE)
    assert "paused with 1 comment;" in await core.unplaced_text(ALICE)


async def test_pager_skips_what_was_commented_and_saves_its_place(core):
    images = core.gallery.images
    await core.add_comment(ALICE, images[1].id, "soft light")
    shown = await core.pager(ALICE, skip_from=1)
    assert shown.number == 3 and await core.position(ALICE) == 2
    shown = await core.comment_and_move_on(ALICE, images[2].id, "busy but warm")
    assert shown.number == 4 and shown.comments == 2 and shown.can_finish
    assert shown.caption.startswith("Noted! 2 of 2 comments: that's enough. Send /done")


async def test_owner_checks_refuse_other_members(core):
    core.check_owner(ALICE, "7")
    with pytest.raises(NotYours) as refused:
        core.check_owner(ALICE, "8")
    assert messages.friendly(refused.value) == messages.NOT_YOURS


async def test_deliver_edits_only_what_changed_then_posts_once(core):
    job_id = await record(core)
    core.queue = FakeQueue(
        updates=[("queued", None, 2), ("queued", None, 2), ("in_progress", type("P", (), {"step": 1, "total": 4}), 1)],
        result=result_dict(liked_used=["teal"]),
    )
    out = FakeOutput()
    submitted = Submitted(job_id, 2, True, False, None, "🎨 Queued: position 2 in the queue.\nTip")
    assert await core.deliver(job_id, out, submitted)
    painting = messages.progress(1, 4, None) + "\nTip"
    assert out.calls == [
        ("status", painting, False),
        ("image", "“a fox” (personalised with your taste profile, seed 5, 64×64, 4 steps)"),
        ("status", "DONE", True),
    ]
    assert (await core.store.job(job_id)).status is JobState.DELIVERED


async def test_deliver_says_why_a_job_failed_where_the_status_cannot(core):
    job_id = await record(core)
    core.queue = FakeQueue(error=JobFailed("boom"))
    out = FakeOutput(editable=False)
    assert not await core.deliver(job_id, out)
    assert out.calls[-1] == ("text", messages.friendly(JobFailed("boom")))
    assert (await core.store.job(job_id)).status is JobState.FAILED


@pytest.mark.parametrize("accepts, status", [(False, JobState.DONE), (DeliveryRefused("blocked"), JobState.FAILED)])
async def test_an_image_the_platform_did_not_take(core, accepts, status):
    """A passing failure stays `done` (the next start retries); a refusal for good is `failed`."""
    job_id = await record(core)
    core.queue = FakeQueue(result=result_dict())
    out = FakeOutput(accepts=accepts)
    assert not await core.deliver(job_id, out)
    assert (await core.store.job(job_id)).status is status
    assert ("status", "DONE", True) not in out.calls


def test_a_command_added_to_the_catalogue_shows_in_both_helps(monkeypatch):
    extra = commands.Command("gallery", "Browse the gallery without commenting")
    monkeypatch.setattr(commands, "CATALOGUE", commands.CATALOGUE + (extra,))
    for platform in (commands.TELEGRAM, commands.DISCORD):
        text = messages.help_text(platform, 8)
        assert "/gallery: Browse the gallery without commenting" in text
        assert all(f"/{c.name}" in text for c in commands.for_platform(platform))
    assert "/onboard" not in messages.help_text(commands.TELEGRAM, 8)
    assert "/start" not in messages.help_text(commands.DISCORD, 8).split("\n")[1]

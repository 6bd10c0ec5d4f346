"""The creative loop in the core: what the buttons under an image do, comments on results, Undo and
/settings, on a real SQLite file, a real Redis and the real worker with the tiny model. The chat
platforms are a fake port here; both adapters' end-to-end tests press the same buttons for real.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot import messages
from bot.core import MemberRef
from bot.core.types import Posted
from viper.contracts.errors import InvalidArgument, NotYours

ALICE = MemberRef("telegram", "7", "Alice")
BOB = MemberRef("telegram", "8", "Bob")
CAROL = MemberRef("telegram", "9", "Carol")


class Port:
    """A fake output port: records what the core posts and says."""

    done_line = "DONE"

    def __init__(self):
        self.images, self.texts, self.statuses = [], [], []

    async def status(self, text, *, final=False):
        self.statuses.append(text)
        return True

    async def new_status(self, text):
        return True

    async def text(self, text):
        self.texts.append(text)
        self.statuses.append(text)

    async def image(self, delivery):
        self.images.append(delivery)
        return Posted("chat-1", str(100 + len(self.images)))

    async def profile_ready(self, profile):
        pass


async def imagine(core, who, text, chat_ref=None):
    submitted = await core.submit_imagine(who, text, chat_ref or {"chat_id": 1})
    port = Port()
    assert await core.deliver(submitted.job_id, port, submitted)
    return submitted, port.images[0]


async def give_profile(core, who, liked, disliked):
    member = await core.member(who)
    await core.store.save_profile(member.id, liked, disliked, "member")


@pytest.fixture
async def core(runtime, worker):
    return runtime.core


async def test_an_image_keeps_its_recipe_and_gets_the_eight_actions(core):
    await give_profile(core, ALICE, ["teal", "soft light"], ["neon"])
    submitted, delivery = await imagine(core, ALICE, "a lighthouse --seed 7 --strength 1.5 --no text, watermark")
    labels = [b.label for row in delivery.rows for b in row]
    assert labels == ["🔄 Reroll", "🎲 Vary", "⚖ Compare", "ℹ Info", "👍", "👎", "💬 Why", "✨ Mine"]
    assert all(len(b.data.encode()) <= 64 for row in delivery.rows for b in row)
    record = await core.store.result(submitted.job_id)
    assert record.job.request["seed"] == 7 and record.job.request["strength"] == 1.5
    assert record.job.request["negative_prompt"] == "text, watermark" and record.job.request["action"] == "imagine"
    assert Path(record.png_path).read_bytes() == delivery.result.png
    # The message showing it is remembered: a reply to it is a comment on it.
    assert await core.store.result_message("telegram", "chat-1", "101") == submitted.job_id


async def test_reroll_and_mine_use_the_stored_recipe_even_after_the_profile_changed(core):
    await give_profile(core, ALICE, ["teal"], ["neon"])
    submitted, _ = await imagine(core, ALICE, "a fox --seed 11")
    await give_profile(core, ALICE, ["orange"], [])
    reroll = await core.press(ALICE, "act", ["reroll", submitted.job_id], {"chat_id": 1})
    assert reroll.submitted.request.liked == ["teal"] and reroll.submitted.request.prompt == "a fox"
    assert reroll.submitted.request.seed != 11
    # Anyone may press ✨ Mine: the same prompt and seed, in the presser's taste (or plain).
    await give_profile(core, BOB, ["ink wash"], ["gloss"])
    mine = await core.press(BOB, "act", ["mine", submitted.job_id], {"chat_id": 2})
    job = await core.store.job(mine.submitted.job_id)
    assert job.request["liked"] == ["ink wash"] and job.request["seed"] == 11 and job.request["action"] == "mine"
    assert job.chat_ref["chat_id"] == 2
    plain = await core.press(CAROL, "act", ["mine", submitted.job_id], {"chat_id": 3})
    assert plain.submitted.request.liked == [] and "Tip" in plain.submitted.text


async def test_other_members_are_refused_every_action_but_mine(core):
    await give_profile(core, ALICE, ["teal"], [])
    submitted, _ = await imagine(core, ALICE, "a fox")
    before = await core.store.undelivered_jobs("telegram")
    for verb in ("reroll", "vary", "compare", "info", "up", "down", "why"):
        with pytest.raises(NotYours):
            await core.press(BOB, "act", [verb, submitted.job_id], {"chat_id": 1})
    assert await core.store.undelivered_jobs("telegram") == before
    assert messages.friendly(NotYours("x", argument="owner")) == messages.NOT_YOURS


async def test_compare_and_vary_requests(core):
    await give_profile(core, ALICE, ["teal"], ["neon"])
    submitted, delivery = await imagine(core, ALICE, "a fox --seed 5")
    compare = (await core.press(ALICE, "act", ["compare", submitted.job_id], {})).submitted.request
    assert compare.strength == 0 and compare.seed == 5 and compare.compare_with == delivery.result.png
    assert (compare.width, compare.height) == (delivery.result.width, delivery.result.height)
    vary = (await core.press(ALICE, "act", ["vary", submitted.job_id], {})).submitted.request
    assert vary.init_image == delivery.result.png and vary.liked == ["teal"]
    # A plain image has nothing to compare with.
    plain, _ = await imagine(core, CAROL, "a fox")
    with pytest.raises(InvalidArgument, match="isn't personalised"):
        await core.press(CAROL, "act", ["compare", plain.job_id], {})


async def test_info_and_verdicts(core):
    await give_profile(core, ALICE, ["teal", "soft light"], ["neon"])
    submitted, delivery = await imagine(core, ALICE, "a fox --seed 3")
    info = (await core.press(ALICE, "act", ["info", submitted.job_id], {})).text
    assert "“a fox”" in info and "Seed 3" in info and "model tiny" in info
    assert "in the order used: " + ", ".join(delivery.result.liked_used) in info
    await core.press(ALICE, "act", ["up", submitted.job_id], {})
    assert (await core.profile(ALICE)).liked_images == 1
    await core.press(ALICE, "act", ["down", submitted.job_id], {})
    profile = await core.profile(ALICE)
    assert (profile.liked_images, profile.disliked_images, profile.personalised_images) == (0, 1, 1)
    assert "You liked 0 of your 1 personalised image (and disliked 1)" in messages.format_profile(profile, "/start")


async def test_comments_on_results_build_a_profile_and_undo_restores_it_exactly(core, settings):
    # Carol never onboarded: comments on her results count toward [bot] min_comments (3 here).
    jobs = [(await imagine(core, CAROL, f"a fox {i}"))[0].job_id for i in range(3)]
    first = await core.comment_on_result(CAROL, jobs[0], "love the teal and the soft light")
    assert "1 of the 3 comments" in first.text and not first.rows
    await core.comment_on_result(CAROL, jobs[1], "the neon glow feels harsh")
    built = await core.comment_on_result(CAROL, jobs[2], "moody fog is lovely")
    assert built.text.startswith("💬 Thanks! I built your taste profile")
    profile = await core.profile(CAROL)
    assert profile is not None and profile.liked
    undo = built.rows[0][0]
    assert undo.label == messages.UNDO_LABEL
    again = await core.press(CAROL, "undo", list(undo.args))
    assert await core.profile(CAROL) is None and again.edit
    with pytest.raises(InvalidArgument, match="already undone"):
        await core.press(CAROL, "undo", list(undo.args))

    # With a profile: the change is listed, and Undo gives back every field as it was.
    await give_profile(core, CAROL, ["ink wash", "gold"], ["gloss"])
    before = await core.profile(CAROL)
    changed = await core.comment_on_result(CAROL, jobs[0], "I adore the teal, the gold is too much")
    assert "Your profile changed" in changed.text or "stays as it was" in changed.text
    with pytest.raises(NotYours):
        await core.press(ALICE, "undo", list(changed.rows[0][0].args))
    await core.press(CAROL, "undo", list(changed.rows[0][0].args))
    after = await core.profile(CAROL)
    assert (after.liked, after.disliked, after.backend, after.backend_version) == (
        before.liked, before.disliked, before.backend, before.backend_version)


async def test_settings_fill_what_an_imagine_leaves_out(core):
    screen = await core.settings_screen(ALICE)
    assert "Aspect ratio: auto" in screen.text
    assert [b.label for b in screen.rows[0]][:2] == ["✓ auto", "1:1"]
    changed = await core.press(ALICE, "set", ["ar", "16x9", ALICE.user_id])
    assert changed.edit and "Aspect ratio: 16:9" in changed.text
    await core.press(ALICE, "set", ["strength", "0.5", ALICE.user_id])
    with pytest.raises(NotYours):
        await core.press(BOB, "set", ["ar", "1x1", ALICE.user_id])
    with pytest.raises(InvalidArgument, match="steps"):
        await core.update_settings(ALICE, steps="500")
    submitted = await core.submit_imagine(ALICE, "a fox", {})
    assert (submitted.request.aspect, submitted.request.strength) == ("16:9", 0.5)
    flagged = await core.submit_imagine(ALICE, "a fox --ar 1:1 --strength 2", {})
    assert (flagged.request.aspect, flagged.request.strength) == ("1:1", 2.0)
    await core.update_settings(ALICE, delivery="private")
    private = await core.submit_imagine(ALICE, "a fox", {"chat_id": 5})
    assert private.private and (await core.store.job(private.job_id)).chat_ref["private"] is True


async def test_a_bad_flag_queues_nothing(core):
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_imagine(ALICE, "a fox --ar 5:4", {})
    assert caught.value.argument == "ar" and "16:9" in messages.friendly(caught.value)
    member = await core.member(ALICE)
    assert await core.store.job_ids(member.id) == []


async def test_forget_deletes_the_images_kept_for_the_buttons(core):
    submitted, _ = await imagine(core, ALICE, "a fox")
    path = Path((await core.store.result(submitted.job_id)).png_path)
    assert path.is_file()
    assert await core.forget(ALICE)
    assert not path.exists() and await core.store.result(submitted.job_id) is None
    with pytest.raises(InvalidArgument, match="no longer stored"):
        await core.press(BOB, "act", ["mine", submitted.job_id], {})
    assert (await core.store.job(submitted.job_id)) is None


async def test_images_older_than_keep_results_days_are_swept(core, settings):
    submitted, _ = await imagine(core, ALICE, "a fox")
    kept, _ = await imagine(core, ALICE, "a cat")
    path = Path((await core.store.result(submitted.job_id)).png_path)
    db = sqlite3.connect(settings.storage.database_path)
    db.execute("UPDATE results SET created_at = datetime('now', '-31 days') WHERE job_id = ?", (submitted.job_id,))
    db.commit()
    db.close()
    settings.storage.keep_results_days = 0
    assert await core.sweep_results() == 0 and path.exists()  # 0 keeps them forever
    settings.storage.keep_results_days = 30
    assert await core.sweep_results() == 1
    assert not path.exists() and await core.store.result(kept.job_id) is not None
    with pytest.raises(InvalidArgument, match="no longer stored"):
        await core.press(ALICE, "act", ["reroll", submitted.job_id], {})

"""Onboarding on Discord, end to end: the pager, a restart halfway, the profile review and /forget.

Same stack as `test_discord_e2e.py` (whose helpers this file reuses): the real discord.py bot started
through `run_discord`, the core, the SQLite file, Redis, and the real arq worker where a job must run;
only Discord is emulated (`tests/emulators/discord_api.py`), playing the member's client too: button
presses, select menu choices and modal submissions arrive as the INTERACTION_CREATE JSON Discord sends.
"""

from __future__ import annotations

import re

from bot import messages
from bot.messages import NOT_YOURS
from bot.core import MemberRef
from tests.bot.harness import running_bot
from tests.bot.test_discord_e2e import (
    ALICE,
    BOB,
    COMMENTS,
    comment_button,
    db_rows,
    image_number,
    interact,
    open_modal,
)
from tests.emulators.discord_api import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    UPDATE_MESSAGE,
    DiscordEmulator,
)
from tests.workers import running_worker
from viper.app import open_runtime


def who(user: dict) -> MemberRef:
    return MemberRef("discord", user["id"])


async def comment(emu: DiscordEmulator, message: dict, user: dict, text: str) -> dict:
    """Press Comment, type `text` in the modal and send it; returns the pager message as updated."""
    modal = await open_modal(emu, message, user)
    _, response = await interact(emu, emu.modal_submit(modal, {"comment": text}, user, message["id"]))
    assert response.json["type"] == UPDATE_MESSAGE, response.json
    return emu.messages[message["id"]]


async def press(emu: DiscordEmulator, message: dict, custom_id: str, user: dict, expect: int = UPDATE_MESSAGE):
    sent, response = await interact(emu, emu.button_click(message, custom_id, user))
    assert response.json["type"] == expect, response.json
    return sent, response


def private_text(response) -> str:
    """The content of an ephemeral message the bot answered with."""
    assert response.json["type"] == CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL, response.json
    return response.json["data"]["content"]


async def test_pager_skip_next_previous_and_saved_position(runtime, settings, discord_api):
    emu, core, total, needed = discord_api, runtime.core, len(runtime.gallery), settings.bot.min_comments
    images = runtime.gallery.images
    async with running_bot(runtime, emu):
        sent, response = await interact(emu, emu.slash_command("onboard", ALICE))
        message = emu.messages[sent.original_id]
        assert message["flags"] & EPHEMERAL and image_number(message) == 1
        assert f"0 of {needed} comments" in message["content"] and "Skip" in message["content"]
        buttons = emu.buttons(message)
        assert [b["label"] for b in buttons.values()] == ["Comment", "Skip", "Previous", "Next", "Done"]
        assert set(buttons) == {f"viper:comment:{images[0].id}", "viper:skip:1", f"viper:nav:{total}", "viper:nav:2", "viper:done"}
        assert await core.position(who(ALICE)) == 0

        # Next, then a comment on image 2: the pager moves on to image 3 and saves every move.
        await press(emu, message, "viper:nav:2", ALICE)
        message = emu.messages[message["id"]]
        assert image_number(message) == 2 and await core.position(who(ALICE)) == 1
        message = await comment(emu, message, ALICE, COMMENTS[0])
        assert image_number(message) == 3 and f"Noted! 1 of {needed} comments" in message["content"]
        assert await core.position(who(ALICE)) == 2

        # Back on image 2, the pager shows the comment; editing it replaces it (the count stays 1).
        await press(emu, message, "viper:nav:2", ALICE)
        message = emu.messages[message["id"]]
        assert f"✔ You commented: “{COMMENTS[0]}”" in message["content"]
        assert emu.buttons(message)[f"viper:comment:{images[1].id}"]["label"] == "Edit comment"
        modal = await open_modal(emu, message, ALICE)
        [field] = [c for row in modal["components"] for c in row["components"]]
        assert field["value"] == COMMENTS[0]  # the modal opens with the earlier comment, ready to edit
        _, response = await interact(emu, emu.modal_submit(modal, {"comment": COMMENTS[1]}, ALICE, message["id"]))
        message = emu.messages[message["id"]]
        assert f"Noted! 1 of {needed} comments" in message["content"] and image_number(message) == 3
        assert db_rows(settings, "SELECT image_id, text FROM comments") == [(images[1].id, COMMENTS[1])]

        # From image 1, Next shows image 2 but Skip passes over it (already commented) to image 3.
        await press(emu, message, "viper:nav:2", ALICE)
        await press(emu, emu.messages[message["id"]], "viper:nav:1", ALICE)
        message = emu.messages[message["id"]]
        assert image_number(message) == 1 and emu.buttons(message)["viper:nav:2"]["label"] == "Next"
        await press(emu, message, "viper:skip:1", ALICE)
        message = emu.messages[message["id"]]
        assert image_number(message) == 3 and f"1 of {needed} comments" in message["content"]
        assert "✔" not in message["content"] and await core.position(who(ALICE)) == 2
        # Skip saves nothing but the position: no comment, no mark on the skipped image.
        assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == 1

        # A comment longer than the limit gets a friendly answer and leaves the pager as it was.
        modal = await open_modal(emu, message, ALICE)
        too_long = "teal " * (settings.bot.max_comment_chars // 5 + 1)
        _, response = await interact(emu, emu.modal_submit(modal, {"comment": too_long}, ALICE, message["id"], enforce_limits=False))
        text = private_text(response)
        assert text.startswith("Sorry, the comment is") and f"under {settings.bot.max_comment_chars}" in text
        assert image_number(emu.messages[message["id"]]) == 3 and await core.comment_count(who(ALICE)) == 1
    assert not emu.unexpected


async def test_restart_in_the_middle_of_onboarding_loses_nothing(settings, discord_api):
    emu, needed = discord_api, settings.bot.min_comments
    first = await open_runtime(settings)
    try:
        async with running_bot(first, emu):
            sent, _ = await interact(emu, emu.slash_command("onboard", BOB))
            message = emu.messages[sent.original_id]
            message = await comment(emu, message, BOB, COMMENTS[0])  # image 1
            message = await comment(emu, message, BOB, COMMENTS[1])  # image 2
            await press(emu, message, "viper:skip:3", BOB)
            await press(emu, emu.messages[message["id"]], "viper:nav:5", BOB)
            old = emu.messages[message["id"]]
            assert image_number(old) == 5 and f"2 of {needed} comments" in old["content"]
    finally:
        await first.close()

    # A new process: a new Runtime on the same SQLite file, a new bot instance.
    second = await open_runtime(settings)
    try:
        async with running_bot(second, emu):
            sent, response = await interact(emu, emu.slash_command("onboard", BOB))
            reopened = emu.messages[sent.original_id]
            assert response.json["data"]["flags"] & EPHEMERAL
            assert f"Welcome back! You have 2 of {needed} comments" in reopened["content"]
            assert image_number(reopened) == 5 and f"2 of {needed} comments" in reopened["content"]

            # The message the first instance sent still works: Skip, then a comment that completes the set.
            await press(emu, old, "viper:skip:5", BOB)
            old = emu.messages[old["id"]]
            assert image_number(old) == 6 and await second.core.position(who(BOB)) == 5
            assert emu.buttons(old)["viper:done"]["disabled"]
            old = await comment(emu, old, BOB, COMMENTS[2])
            assert f"Noted! 3 of {needed} comments" in old["content"] and not emu.buttons(old)["viper:done"].get("disabled")
            assert image_number(old) == 7
    finally:
        await second.close()
    assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == 3
    assert not emu.unexpected


async def test_done_review_remove_feature_and_redo(runtime, settings, redis_url, tiny_models, discord_api):
    emu, core, needed = discord_api, runtime.core, settings.bot.min_comments
    owner = ALICE["id"]
    async with running_bot(runtime, emu):
        sent, _ = await interact(emu, emu.slash_command("onboard", ALICE))
        pager = emu.messages[sent.original_id]
        for text in COMMENTS[:needed]:
            pager = await comment(emu, pager, ALICE, text)

        # Done with no worker running yet: the profile is being built and stays so for now.
        done, _ = await press(emu, pager, "viper:done", ALICE, expect=DEFERRED_CHANNEL_MESSAGE)
        await emu.wait_until(lambda: db_rows(settings, "SELECT state FROM onboarding") == [("extracting",)],
                             what="the extraction to start")

        # One onboarding at a time: /onboard and Comment answer kindly and change nothing.
        _, response = await interact(emu, emu.slash_command("onboard", ALICE))
        assert private_text(response) == "Sorry, your taste profile is being built right now; it will arrive in a moment."
        _, response = await interact(emu, emu.button_click(pager, comment_button(pager), ALICE))
        assert "being built" in private_text(response)
        assert db_rows(settings, "SELECT state FROM onboarding") == [("extracting",)]

        # The worker builds it; Done's "thinking" message becomes the review.
        async with running_worker(settings, redis_url, tiny_models):
            review = await emu.wait_until(
                lambda: (m := emu.messages[done.original_id])["content"] and m, timeout=30, what="the profile review"
            )
        profile = await core.profile(who(ALICE))
        assert profile.liked and profile.disliked
        assert messages.format_profile(profile, "/onboard") in review["content"] and review["flags"] == EPHEMERAL
        menu = emu.selects(review)[f"viper:profile:remove:{owner}"]
        assert [o["value"] for o in menu["options"]] == profile.liked + profile.disliked
        assert set(emu.buttons(review)) == {f"viper:profile:ok:{owner}", f"viper:profile:redo:{owner}"}

        # Another member cannot edit Alice's profile through her message.
        gone = profile.disliked[0]
        _, response = await interact(emu, emu.select_choice(review, menu["custom_id"], [gone], BOB))
        assert private_text(response) == NOT_YOURS
        assert gone in (await core.profile(who(ALICE))).disliked

        # Alice removes a feature: the review is redrawn without it, and /profile agrees.
        _, response = await interact(emu, emu.select_choice(review, menu["custom_id"], [gone], ALICE))
        assert response.json["type"] == UPDATE_MESSAGE
        review = emu.messages[review["id"]]
        assert review["content"].startswith(f"Removed “{gone}”.")
        assert gone not in [o["value"] for o in emu.selects(review)[menu["custom_id"]]["options"]]
        assert gone not in (await core.profile(who(ALICE))).disliked
        sent, response = await interact(emu, emu.slash_command("profile", ALICE))
        text = private_text(response)
        assert "👍 Liked:" in text and gone not in text.split("👎 Disliked:")[1]
        assert emu.selects(emu.messages[sent.original_id])  # /profile offers the same review

        # Redo asks first; "Keep my comments" goes back to the review with nothing deleted.
        await press(emu, review, f"viper:profile:redo:{owner}", ALICE)
        review = emu.messages[review["id"]]
        assert f"deletes your {needed} comments" in review["content"]
        assert set(emu.buttons(review)) == {f"viper:redo:yes:{owner}", f"viper:redo:no:{owner}"}
        _, response = await interact(emu, emu.button_click(review, f"viper:redo:yes:{owner}", BOB))
        assert private_text(response) == NOT_YOURS
        await press(emu, review, f"viper:redo:no:{owner}", ALICE)
        review = emu.messages[review["id"]]
        assert "Nothing changed" in review["content"] and await core.comment_count(who(ALICE)) == needed

        # Redo, confirmed: the comments are gone and the same message becomes the pager at image 1.
        await press(emu, review, f"viper:profile:redo:{owner}", ALICE)
        _, response = await press(emu, emu.messages[review["id"]], f"viper:redo:yes:{owner}", ALICE)
        pager = emu.messages[review["id"]]
        assert image_number(pager) == 1 and f"0 of {needed} comments" in pager["content"]
        assert response.files and pager["attachments"] and "viper:skip:1" in emu.buttons(pager)
        assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == 0
        assert db_rows(settings, "SELECT state, position FROM onboarding") == [("active", 0)]
        assert (await core.profile(who(ALICE))).liked == profile.liked  # kept until a new one is built

        # "Looks good" closes the review.
        sent, _ = await interact(emu, emu.slash_command("profile", ALICE))
        await press(emu, emu.messages[sent.original_id], f"viper:profile:ok:{owner}", ALICE)
        closed = emu.messages[sent.original_id]
        assert "✅ Saved" in closed["content"] and not closed["components"]
    assert not emu.unexpected


async def test_forget_after_confirmation_even_across_a_restart(runtime, settings, discord_api):
    emu, core = discord_api, runtime.core
    async with running_bot(runtime, emu):
        for user, texts in ((ALICE, COMMENTS[:2]), (BOB, COMMENTS[2:3])):
            sent, _ = await interact(emu, emu.slash_command("onboard", user))
            message = emu.messages[sent.original_id]
            for text in texts:
                message = await comment(emu, message, user, text)
        alice = await core.member(who(ALICE))
        await runtime.store.save_profile(alice.id, ["teal", "soft light"], ["neon"], "lexicon")

        # The confirmation is private and its buttons belong to Alice alone.
        sent, response = await interact(emu, emu.slash_command("forget", ALICE))
        ask = emu.messages[sent.original_id]
        assert "Delete everything I store about you?" in private_text(response)
        yes, no = f"viper:forget:yes:{ALICE['id']}", f"viper:forget:no:{ALICE['id']}"
        assert {k: b["label"] for k, b in emu.buttons(ask).items()} == {yes: "Yes, delete everything", no: "Keep my data"}
        _, response = await interact(emu, emu.button_click(ask, yes, BOB))
        assert private_text(response) == NOT_YOURS
        assert await core.comment_count(who(ALICE)) == 2 and await core.profile(who(ALICE)) is not None

        # "Keep my data" deletes nothing.
        await press(emu, ask, no, ALICE)
        assert "nothing was deleted" in emu.messages[ask["id"]]["content"] and not emu.messages[ask["id"]]["components"]
        assert await core.comment_count(who(ALICE)) == 2

        sent, _ = await interact(emu, emu.slash_command("forget", ALICE))

    # Confirmed on the message the previous bot instance sent: everything about Alice is gone, and
    # the answer says what that was.
    async with running_bot(runtime, emu):
        await press(emu, emu.messages[sent.original_id], yes, ALICE)
        done = emu.messages[sent.original_id]
        assert re.match(r"🗑️ Deleted your taste profile \(2 liked and 1 disliked features\), your 2 comments on images I showed you,",
                        done["content"])
        assert not done["components"]
        _, response = await interact(emu, emu.slash_command("profile", ALICE))
        text = private_text(response)
        assert "no taste profile yet" in text and "comments so far" not in text
        assert db_rows(settings, "SELECT platform_user_id FROM members") == [(BOB["id"],)]
        assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == 1 and await core.comment_count(who(BOB)) == 1

        # Asking again finds nothing to delete, and says so without asking.
        _, response = await interact(emu, emu.slash_command("forget", ALICE))
        assert private_text(response) == messages.NOTHING_STORED
    assert not emu.unexpected


async def test_forged_component_ids_get_a_private_answer_not_an_error(runtime, discord_api, caplog):
    """A message whose buttons carry odd ids (`²` and `①` are digits to `str.isdigit`, not to `int`)
    gets a private answer; discord.py only routes ids the message shows, so the message shows them."""
    emu = discord_api
    async with running_bot(runtime, emu):
        sent, _ = await interact(emu, emu.slash_command("onboard", ALICE))
        message = emu.messages[sent.original_id]
        for custom_id in ("viper:nav:²", "viper:skip:①", "viper:nav:x"):
            odd = dict(message, components=[{"type": 1, "components": [
                {"type": 2, "style": 2, "label": "odd", "custom_id": custom_id}]}])
            forged = emu._interaction(3, ALICE, {"custom_id": custom_id, "component_type": 2}, odd)
            _, response = await interact(emu, forged)
            assert "no longer does anything" in private_text(response), custom_id
    assert "Traceback" not in caplog.text and "failed" not in caplog.text


async def test_a_profile_built_across_a_restart_still_reaches_the_member(runtime, settings, redis_url, tiny_models,
                                                                        discord_api):
    emu, core, needed = discord_api, runtime.core, settings.bot.min_comments
    async with running_bot(runtime, emu):
        sent, _ = await interact(emu, emu.slash_command("onboard", ALICE))
        pager = emu.messages[sent.original_id]
        for text in COMMENTS[:needed]:
            pager = await comment(emu, pager, ALICE, text)
        await press(emu, pager, "viper:done", ALICE, expect=DEFERRED_CHANNEL_MESSAGE)
        await emu.wait_until(lambda: db_rows(settings, "SELECT kind, status FROM jobs") == [("extract", "queued")],
                             what="the extraction to be queued")
    # The bot stopped while it waited; the next one finds the job, and the worker builds the profile.
    async with running_worker(settings, redis_url, tiny_models), running_bot(runtime, emu):
        review = await emu.wait_until(
            lambda: next((m for m in emu.messages.values() if messages.LEARNED in (m.get("content") or "")), None),
            timeout=30, what="the profile review after the restart",
        )
        profile = await core.profile(who(ALICE))
        assert messages.format_profile(profile, "/onboard") in review["content"]
        assert review["flags"] & EPHEMERAL and emu.selects(review)
    assert db_rows(settings, "SELECT state FROM onboarding") == [("done",)]

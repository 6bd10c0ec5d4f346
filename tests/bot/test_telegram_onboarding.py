"""Telegram onboarding end to end: number keyboards, pause and resume, a restart, review, /redo, /forget.

The real PTB Application talks to the Bot API emulator; SQLite and Redis are real, and the arq
worker (the lexicon extractor) runs only where a profile must be built. The tests press inline
buttons with `push_callback`, as a member's Telegram client would, and every press must be
answered. The gallery has 12 images shown 10 at a time and 3 comments are enough (conftest).
"""

from __future__ import annotations

import pytest

from bot.core import MemberRef
from tests.bot.harness import telegram_bot
from tests.bot.test_telegram_e2e import COMMENTS, jobs_table, say, sent
from tests.emulators.telegram_api import ApiCall, TelegramAPIEmulator
from tests.workers import running_worker
from viper.app import open_runtime

pytestmark = pytest.mark.slow


def member(user_id: int) -> MemberRef:
    return MemberRef("telegram", str(user_id))


async def tap(
    api: TelegramAPIEmulator, chat_id: int, message_id: int, data: str, user: int | dict | None = None
) -> int:
    """A member presses the button with `data` under message `message_id`; returns the mark to wait from."""
    mark = api.mark()
    await api.push_callback(chat_id, chat_id if user is None else user, message_id, data)
    return mark


def answered(call: ApiCall) -> bool:
    return call.ok and call.method == "answerCallbackQuery"


def edited(chat_id: int, message_id: int, method: str = "editMessageText"):
    def predicate(call: ApiCall) -> bool:
        return call.ok and call.method == method and call.chat_id == chat_id and call.params["message_id"] == message_id

    return predicate


def button(call: ApiCall, text: str) -> str:
    """The callback data of the button labelled `text` in the call's keyboard."""
    found = [b["callback_data"] for b in call.buttons if b["text"] == text]
    assert found, f"no button {text!r} in {[b['text'] for b in call.buttons]}"
    return found[0]


async def start(api: TelegramAPIEmulator, chat_id: int, text: str = "/start") -> tuple[ApiCall, list[dict], ApiCall]:
    """Send /start; returns the intro, the album's photos and the number keyboard."""
    mark = await say(api, chat_id, text)
    intro = await api.wait_for(sent(chat_id), since=mark)
    album = await api.wait_for(sent(chat_id, method="sendMediaGroup"), since=mark)
    numbers = await api.wait_for(sent(chat_id, "Page "), since=mark)
    return intro, album.result, numbers


async def reply_comment(api: TelegramAPIEmulator, chat_id: int, photo: dict, text: str) -> ApiCall:
    mark = await say(api, chat_id, text, reply_to=photo["message_id"])
    return await api.wait_for(sent(chat_id, "Noted!"), since=mark)


async def comments_of(core, user_id: int) -> list[tuple[int | None, str]]:
    """(gallery number, text) of each comment the member has, oldest first."""
    found = await core.store.find_member("telegram", str(user_id))
    stored = await core.store.comments(found.id) if found else []
    return [(core.image_number(c.image_id) if c.image_id else None, c.text) for c in stored]


async def test_tap_a_number_then_type_page_pause_and_resume(runtime, tg_settings, api):
    settings, chat, need = tg_settings, 501, tg_settings.bot.min_comments
    limit = settings.bot.max_comment_chars
    async with telegram_bot(runtime.core, settings, api):
        intro, photos, numbers = await start(api, chat)
        assert len(intro.text.splitlines()) == 2 and f"at least {need} images" in intro.text
        assert numbers.at > intro.at and "Page 1 of 2" in numbers.text
        assert [b["text"] for b in numbers.buttons] == [str(n) for n in range(1, 11)]
        assert [b["callback_data"] for b in numbers.buttons] == [f"viper:pick:{n}" for n in range(1, 11)]
        keyboard = numbers.result["message_id"]

        mark = await tap(api, chat, keyboard, "viper:pick:7")
        assert "#7" in (await api.wait_for(answered, since=mark)).text
        await api.wait_for(sent(chat, "Now type your comment on #7"), since=mark)
        ticked = await api.wait_for(edited(chat, keyboard, "editMessageReplyMarkup"), since=mark)
        assert "✍ 7" in [b["text"] for b in ticked.buttons]
        mark = await say(api, chat, "love the teal and the flowing lines")
        assert f"Noted! 1 of {need}" in (await api.wait_for(sent(chat), since=mark)).text
        ticked = await api.wait_for(edited(chat, keyboard, "editMessageReplyMarkup"), since=mark)
        assert [b["text"] for b in ticked.buttons][6] == "7 ✓"

        mark = await say(api, chat, "and what about this one?")  # no tap, no reply: which image?
        assert "Which image" in (await api.wait_for(sent(chat), since=mark)).text

        mark = await say(api, chat, "/more")
        more = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        assert [p["caption"] for p in more.result] == ["#11", "#12"]
        page2 = await api.wait_for(sent(chat, "Page 2 of 2"), since=mark)
        assert [b["text"] for b in page2.buttons] == ["11", "12"]

        mark = await tap(api, chat, page2.result["message_id"], "viper:pick:12")
        await api.wait_for(sent(chat, "Now type your comment on #12"), since=mark)
        mark = await say(api, chat, "x" * (limit + 1))
        refused = await api.wait_for(sent(chat), since=mark)
        assert f"keep it under {limit}" in refused.text and "#12 is still waiting" in refused.text
        mark = await say(api, chat, "the stripes feel calm")
        assert f"2 of {need}" in (await api.wait_for(sent(chat, "Noted!"), since=mark)).text

        mark = await say(api, chat, "/cancel")
        paused = await api.wait_for(sent(chat), since=mark)
        assert "Paused" in paused.text and "2 comments are kept" in paused.text and "/start" in paused.text
        mark = await say(api, chat, "hello?")
        assert "paused with 2 comments" in (await api.wait_for(sent(chat), since=mark)).text

        intro, photos, numbers = await start(api, chat)  # back where they paused: page 2, count kept
        assert intro.text.startswith(f"Welcome back! You have 2 of {need} comments")
        assert [p["caption"] for p in photos] == ["#11", "#12"]
        assert [b["text"] for b in numbers.buttons] == ["11", "12 ✓"]

        mark = await tap(api, chat, numbers.result["message_id"], "viper:pick:11")
        typing = await api.wait_for(sent(chat, "Now type your comment on #11"), since=mark)
        mark = await say(api, chat, "too busy, the yellow is harsh", reply_to=typing.result["message_id"])
        done = await api.wait_for(sent(chat, "Noted!"), since=mark)
        assert f"{need} of {need} comments: that's enough" in done.text
    assert await comments_of(runtime.core, chat) == [
        (7, "love the teal and the flowing lines"),
        (12, "the stripes feel calm"),
        (11, "too busy, the yellow is harsh"),
    ]


async def test_a_restart_in_the_middle_of_onboarding_loses_nothing(tg_settings, api):
    settings, chat, need = tg_settings, 502, tg_settings.bot.min_comments
    rt = await open_runtime(settings)
    try:
        async with telegram_bot(rt.core, settings, api):
            _, photos, numbers = await start(api, chat)
            assert f"1 of {need}" in (await reply_comment(api, chat, photos[0], COMMENTS[0])).text
            mark = await tap(api, chat, numbers.result["message_id"], "viper:pick:3")
            await api.wait_for(sent(chat, "Now type your comment on #3"), since=mark)
    finally:
        await rt.close()

    rt = await open_runtime(settings)  # a new process: new Application, new Runtime, the same SQLite file
    try:
        async with telegram_bot(rt.core, settings, api):
            mark = await say(api, chat, COMMENTS[2])  # typed after the restart: the tap survived it
            assert f"2 of {need}" in (await api.wait_for(sent(chat, "Noted!"), since=mark)).text
            ack = await reply_comment(api, chat, photos[1], COMMENTS[1])  # a photo posted before the restart
            assert f"{need} of {need} comments" in ack.text
        assert await comments_of(rt.core, chat) == [(1, COMMENTS[0]), (3, COMMENTS[2]), (2, COMMENTS[1])]
    finally:
        await rt.close()


async def test_done_reviews_the_lists_then_redo_asks_first(runtime, tg_settings, redis_url, tiny_models, api):
    settings, chat, need = tg_settings, 503, tg_settings.bot.min_comments
    core = runtime.core
    async with telegram_bot(core, settings, api):
        _, photos, _ = await start(api, chat)
        for photo, comment in zip(photos, COMMENTS[:need]):
            await reply_comment(api, chat, photo, comment)

        mark = await say(api, chat, "/done")  # no worker yet: the profile is being built for a while
        await api.wait_for(sent(chat, f"Analysing your {need} comments"), since=mark)
        mark = await say(api, chat, "/start")
        assert "being built" in (await api.wait_for(sent(chat), since=mark)).text
        mark = await say(api, chat, "and the grain is lovely", reply_to=photos[need]["message_id"])
        assert "building your profile" in (await api.wait_for(sent(chat), since=mark)).text
        async with running_worker(settings, redis_url, tiny_models):
            review = await api.wait_for(sent(chat, "Liked:"), 30, since=mark)

        profile = await core.profile(member(chat))
        assert profile.liked and profile.disliked
        labels = [b["text"] for b in review.buttons]
        features = [f"✖ {f}" for f in profile.liked + profile.disliked]
        assert labels == features + ["✅ Looks good", "🔁 Redo onboarding"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in review.buttons)

        gone = profile.disliked[0]
        review_id = review.result["message_id"]
        mark = await tap(api, chat, review_id, button(review, f"✖ {gone}"))
        assert gone in (await api.wait_for(answered, since=mark)).text
        redrawn = await api.wait_for(edited(chat, review_id), since=mark)
        assert f"✖ {gone}" not in [b["text"] for b in redrawn.buttons] and len(redrawn.buttons) == len(labels) - 1
        mark = await say(api, chat, "/profile")
        shown = await api.wait_for(sent(chat, "Liked:"), since=mark)
        disliked_line = next(line for line in shown.text.splitlines() if "Disliked:" in line)
        assert gone not in disliked_line.split(": ", 1)[1].split(", ")
        assert gone not in (await core.profile(member(chat))).disliked

        mark = await tap(api, chat, review_id, button(redrawn, "✅ Looks good"))
        accepted = await api.wait_for(edited(chat, review_id), since=mark)
        assert "Saved" in accepted.text and accepted.buttons == []

        mark = await say(api, chat, "/redo")
        ask = await api.wait_for(sent(chat), since=mark)
        assert f"deletes your {need} comments" in ask.text
        assert [b["text"] for b in ask.buttons] == ["Yes, start over", "No, keep them"]
        mark = await tap(api, chat, ask.result["message_id"], button(ask, "No, keep them"))
        assert "Nothing changed" in (await api.wait_for(edited(chat, ask.result["message_id"]), since=mark)).text
        assert await core.comment_count(member(chat)) == need

        mark = await tap(api, chat, shown.result["message_id"], button(shown, "🔁 Redo onboarding"))
        ask = await api.wait_for(sent(chat, "Start onboarding over?"), since=mark)
        mark = await tap(api, chat, ask.result["message_id"], button(ask, "Yes, start over"))
        await api.wait_for(edited(chat, ask.result["message_id"]), since=mark)
        album = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        assert album.result[0]["caption"] == "#1"
        await api.wait_for(sent(chat, f"you have 0 of {need} comments"), since=mark)
    assert await core.comment_count(member(chat)) == 0
    assert (await core.profile(member(chat))).liked == profile.liked  # kept until a new /done


async def test_forget_asks_then_deletes_only_that_member(runtime, tg_settings, api):
    settings, alice, bob = tg_settings, 504, 505
    core, store = runtime.core, runtime.store
    async with telegram_bot(core, settings, api):
        mark = await say(api, 506, "/forget")
        assert "don't store anything" in (await api.wait_for(sent(506), since=mark)).text

        _, alice_photos, _ = await start(api, alice)
        _, bob_photos, _ = await start(api, bob)
        for photo, comment in zip(alice_photos, COMMENTS[:2]):
            await reply_comment(api, alice, photo, comment)
        await reply_comment(api, bob, bob_photos[0], COMMENTS[0])

        mark = await say(api, alice, "/forget")
        ask = await api.wait_for(sent(alice), since=mark)
        assert "2 comments on images I showed you" in ask.text
        assert [b["text"] for b in ask.buttons] == ["Yes, delete everything", "Keep my data"]
        # Only Alice may answer (her private chat is the only place it shows; the check is there anyway).
        mark = await tap(api, alice, ask.result["message_id"], button(ask, "Yes, delete everything"), user=bob)
        refused = await api.wait_for(answered, since=mark)
        assert "someone else" in refused.text and refused.params.get("show_alert")
        mark = await tap(api, alice, ask.result["message_id"], button(ask, "Keep my data"))
        assert "nothing was deleted" in (await api.wait_for(edited(alice, ask.result["message_id"]), since=mark)).text
        assert await core.comment_count(member(alice)) == 2

        mark = await say(api, alice, "/forget")
        ask = await api.wait_for(sent(alice), since=mark)
        mark = await tap(api, alice, ask.result["message_id"], button(ask, "Yes, delete everything"))
        deleted = await api.wait_for(edited(alice, ask.result["message_id"]), since=mark)
        assert deleted.text.startswith("Deleted") and "2 comments on images I showed you" in deleted.text
        assert deleted.buttons == []

        mark = await say(api, alice, "/profile")
        assert "no taste profile yet" in (await api.wait_for(sent(alice), since=mark)).text

        settings.bot.require_profile = True  # [bot] require_profile: no /imagine without a profile
        mark = await say(api, bob, "/imagine a quiet harbour")
        refused = await api.wait_for(sent(bob), since=mark)
        assert "no taste profile yet" in refused.text and "/start" in refused.text
    assert jobs_table(settings) == []  # the refused /imagine was never queued
    assert await store.find_member("telegram", str(alice)) is None
    assert await core.comment_count(member(alice)) == 0
    assert await store.posted_image("telegram", alice, alice_photos[0]["message_id"]) is None
    assert await comments_of(core, bob) == [(1, COMMENTS[0])]
    assert await store.posted_image("telegram", bob, bob_photos[0]["message_id"]) is not None


async def test_in_a_group_onboarding_moves_to_the_private_chat(runtime, tg_settings, api):
    settings, group = tg_settings, -100200
    carol = api.user(21, "Carol")
    async with telegram_bot(runtime.core, settings, api):
        for command, payload in (("start", "onboard"), ("more", "onboard"), ("done", "done"), ("redo", "redo"),
                                 ("forget", "forget")):
            mark = api.mark()
            await api.push_message(group, carol, f"/{command}@viper_test_bot")
            redirect = await api.wait_for(sent(group), since=mark)
            assert [b["url"] for b in redirect.buttons] == [f"https://t.me/viper_test_bot?start={payload}"], command

        # Carol never opened the private chat: Telegram refuses, and the group is told how to fix that.
        mark = api.mark()
        await api.push_message(group, carol, "/profile@viper_test_bot")
        told = await api.wait_for(sent(group), since=mark)
        assert "open our chat" in told.text
        assert [b["url"] for b in told.buttons] == ["https://t.me/viper_test_bot?start=profile"]
        refusals = [c for c in api.errors if c.chat_id == 21]
        assert [c.error for c in refusals] == ["Forbidden: bot can't initiate conversation with a user"]
        api.errors.remove(refusals[0])  # expected: that is the refusal the bot handled

        mark = api.mark()
        await api.push_message(21, carol, "/start profile")  # the button's deep link
        assert "no taste profile yet" in (await api.wait_for(sent(21), since=mark)).text
        mark = api.mark()
        await api.push_message(group, carol, "/profile@viper_test_bot")
        assert "private chat" in (await api.wait_for(sent(group), since=mark)).text
        await api.wait_for(sent(21, "no taste profile yet"), since=mark)

        settings.bot.require_profile = True
        mark = api.mark()
        await api.push_message(group, carol, "/imagine@viper_test_bot a quiet harbour")
        refused = await api.wait_for(sent(group), since=mark)
        assert "no taste profile yet" in refused.text and "private chat" in refused.text
        assert [b["url"] for b in refused.buttons] == ["https://t.me/viper_test_bot?start=onboard"]

        mark = api.mark()
        await api.push_message(21, carol, "/start onboard")
        await api.wait_for(sent(21, "visual taste"), since=mark)
        await api.wait_for(sent(21, method="sendMediaGroup"), since=mark)
        await api.wait_for(sent(21, "Page 1 of"), since=mark)
    assert api.calls_to("sendMediaGroup", chat_id=group) == []

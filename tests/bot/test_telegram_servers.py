"""Telegram, ready for a busy community group (#13) end to end: daily limits and cooldowns, group
admins and /admin, blocked terms and patterns, pause and resume, /usage, `[telegram] allowed_chats`,
forum topics, and images the worker's safety check flagged (a spoiler, or withheld).

The real PTB Application talks to the Bot API emulator; SQLite and Redis are real, and the arq
worker (the tiny random-weight SDXL) runs only where an image is made. Group admins are who the
emulator's getChatMember says they are (`set_member_status`). Every press must be answered once and
the bot must make no call Telegram would refuse.
"""

from __future__ import annotations

import asyncio
import copy
import re

import pytest

from bot import messages
from bot.commands import TELEGRAM, for_platform
from bot.core import MemberRef
from tests.bot.harness import Viper, bounded_by
from tests.bot.test_telegram_e2e import STEPS, jobs_table, say, sent
from tests.bot.test_telegram_onboarding import answered, button, edited, tap
from tests.emulators.telegram_api import ApiCall, TelegramAPIEmulator

pytestmark = pytest.mark.slow

TEST_LIMIT_S = 120  # no test here may run longer, however slow the machine
bounded = bounded_by(TEST_LIMIT_S)  # the fixtures' bound covers their set-up; this bounds the test
PHOTO_WAIT_S = 60
TINY_DEFAULTS = {"steps": STEPS}  # few steps on one thread (conftest's tiny_models)
DONE_LINE = messages.DONE_LINE[TELEGRAM]
GROUP, OTHER_GROUP, FORUM = -100500, -100600, -100700
ALICE, BOB, CAROL, DAVE = 51, 52, 53, 54  # Alice and Bob are members, Carol an administrator, Dave the creator
ADMIN_REFUSED = "Sorry, only the admins here can do that."
NAMES = {ALICE: "Alice", BOB: "Bob", CAROL: "Carol", DAVE: "Dave"}


@pytest.fixture
def api(api):
    """The shared emulator, where Carol administers every group and Dave created them."""
    for group in (GROUP, OTHER_GROUP, FORUM):
        api.set_member_status(group, CAROL, "administrator")
        api.set_member_status(group, DAVE, "creator")
    return api


# -- helpers -------------------------------------------------------------------------------------------


async def ask(viper: Viper, group: int, user_id: int, text: str, *, topic: int | None = None,
              reply_to: int | None = None) -> ApiCall:
    """`user_id` writes `text` in `group`; returns the bot's first message there in answer."""
    mark = viper.api.mark()
    await viper.api.push_message(group, viper.user(user_id), text, reply_to, topic=topic)
    return await viper.api.wait_for(sent(group), since=mark)


async def quiet(api: TelegramAPIEmulator, chat: int, mark: int, wait_s: float = 1.0) -> None:
    """Nothing is sent in `chat` from `mark` on (waiting `wait_s` for anything late)."""
    await asyncio.sleep(wait_s)
    assert [c for c in api.calls[mark:] if c.chat_id == chat and c.method.startswith("send")] == []


def generate_jobs(settings) -> int:
    return len([row for row in jobs_table(settings) if row[0] == "generate"])


async def delivered(api: TelegramAPIEmulator, chat: int, mark: int) -> ApiCall:
    """The photo sent in `chat` since `mark`, once its status message says it is done."""
    photo = await api.wait_for(sent(chat, method="sendPhoto"), PHOTO_WAIT_S, since=mark)
    await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE, 10, since=mark)
    return photo


def member_checks(api: TelegramAPIEmulator, user_id: int, since: int = 0) -> int:
    return len([c for c in api.calls_to("getChatMember", since=since) if c.params["user_id"] == user_id])


def flagging(models: dict) -> dict:
    """The tiny models, with a safety checker on the generator that flags every image."""
    from engine.safety import FLAG_ALL, build_tiny_safety_checker

    generator = copy.copy(models["generator"])  # shares the pipeline; the test's copy alone is checked
    generator.safety = build_tiny_safety_checker(FLAG_ALL)
    return {**models, "generator": generator}


# -- the tests -----------------------------------------------------------------------------------------


@bounded
async def test_daily_limit_cooldown_and_what_group_admins_change(viper):
    api, settings = viper.api, viper.settings
    settings.limits.images_per_day = 2
    for prompt in ("a red fox", "a grey wolf"):
        assert (await ask(viper, GROUP, ALICE, f"/imagine {prompt}")).text.startswith("🎨 Queued")
    jobs = generate_jobs(settings)

    # Over the daily limit: the refusal names the limit and when it resets; nothing is queued.
    refused = await ask(viper, GROUP, ALICE, "/imagine a brown bear")
    assert refused.text.startswith("Sorry, you have used today's 2 images (the daily limit)")
    assert re.search(r"resets at midnight UTC, in (\d+ hours? )?\d+ minutes?\.$", refused.text), refused.text
    assert generate_jobs(settings) == jobs
    # Telegram was asked once whether Alice administers the group, not at every message.
    assert member_checks(api, ALICE) == 1

    usage = await ask(viper, GROUP, ALICE, "/usage")
    assert usage.text.startswith("📊 Today: 2 images of 2; 0 left, resets at midnight UTC")
    assert "Queued: 2 images" in usage.text

    # A member may not change the limits; the group's administrator may, and Alice can go on.
    assert (await ask(viper, GROUP, BOB, "/admin limits 5 0")).text == ADMIN_REFUSED
    changed = await ask(viper, GROUP, CAROL, "/admin limits 5 0")
    assert changed.text.startswith("Limits here: 5 images per member per day, no cooldown (set here by the admins)")
    assert (await ask(viper, GROUP, ALICE, "/imagine a brown bear")).text.startswith("🎨 Queued")
    assert generate_jobs(settings) == jobs + 1

    # A cooldown: her last image was asked for seconds ago.
    assert "a 60 seconds cooldown" in (await ask(viper, GROUP, CAROL, "/admin limits 5 60")).text
    refused = await ask(viper, GROUP, ALICE, "/imagine a lynx")
    assert re.fullmatch(r"Sorry, there is a cooldown between images here; try again in \d+ seconds?\.", refused.text)
    assert generate_jobs(settings) == jobs + 1
    assert "Cooldown between images: 60 seconds" in (await ask(viper, GROUP, ALICE, "/usage")).text

    # Stats: the images asked for here and the refusals by rule (a refused /admin is no refusal of an image).
    stats = await ask(viper, GROUP, CAROL, "/admin stats")
    assert "3 images for 1 member" in stats.text
    assert "Refusals in the last 24 h by rule: cooldown 1, images_per_day 1." in stats.text
    assert (await ask(viper, GROUP, BOB, "/admin stats")).text == ADMIN_REFUSED
    # /admin asks Telegram afresh each time; the creator counts as an admin.
    assert member_checks(api, CAROL) == 3
    assert "the bot's defaults" in (await ask(viper, GROUP, DAVE, "/admin limits reset")).text
    shown = await ask(viper, GROUP, DAVE, "/admin limits")
    assert shown.text.startswith("Limits here: 2 images per member per day, no cooldown (the bot's defaults)")


@bounded
async def test_blocked_terms_patterns_and_limits_on_buttons(viper):
    api, core, settings = viper.api, viper.core, viper.settings
    assert (await ask(viper, GROUP, CAROL, "/admin block add Lighthouse")).text.startswith("Blocked:")
    assert "lighthouse" in (await ask(viper, GROUP, CAROL, "/admin block list")).text
    assert (await ask(viper, GROUP, BOB, "/admin block list")).text == ADMIN_REFUSED

    # Refused without repeating the term, for a prompt and for a feature; nothing queued or saved.
    refused = await ask(viper, GROUP, ALICE, "/imagine a lighthouse at dusk")
    assert refused.text.startswith("Sorry, that prompt contains something the rules here don't allow")
    assert "nothing was queued" in refused.text and "lighthouse" not in refused.text.lower()
    refused = await ask(viper, GROUP, ALICE, "/like teal, Lighthouse")
    assert refused.text.startswith("Sorry, that feature contains") and "lighthouse" not in refused.text.lower()
    assert generate_jobs(settings) == 0 and await core.profile(MemberRef(TELEGRAM, str(ALICE))) is None
    # Another group's terms are its own.
    assert "Added to your liked features: lighthouse" in (await ask(viper, OTHER_GROUP, ALICE, "/like lighthouse")).text

    # `[moderation] blocked_patterns` on a comment: a reply to Alice's image.
    settings.moderation.blocked_patterns = [r"(?i)\bk\dx\b"]
    async with viper.worker():
        mark = api.mark()
        await api.push_message(GROUP, viper.user(ALICE), "/imagine a harbour at noon")
        photo = await delivered(api, GROUP, mark)
    assert "has_spoiler" not in photo.params  # not flagged: no spoiler
    refused = await ask(viper, GROUP, ALICE, "love the K9X vibe", reply_to=photo.result["message_id"])
    assert refused.text.startswith("Sorry, that comment contains") and "k9x" not in refused.text.lower()
    assert await core.comment_count(MemberRef(TELEGRAM, str(ALICE))) == 0

    # Buttons that make an image count against the group's limits too: an alert, nothing queued.
    settings.limits.images_per_day = 1
    jobs = generate_jobs(settings)
    mark = await tap(api, GROUP, photo.result["message_id"], button(photo, "🔄 Reroll"), user=viper.user(ALICE))
    alert = await api.wait_for(answered, since=mark)
    assert alert.params["show_alert"] is True and alert.text.startswith("Sorry, you have used today's 1 image")
    assert generate_jobs(settings) == jobs

    stats = await ask(viper, GROUP, CAROL, "/admin stats")
    assert "Refusals in the last 24 h by rule: images_per_day 1, pattern 1, term 2." in stats.text
    assert (await ask(viper, GROUP, CAROL, "/admin block remove lighthouse")).text == "Unblocked."
    settings.limits.images_per_day = 0
    assert (await ask(viper, GROUP, ALICE, "/imagine a lighthouse at dusk")).text.startswith("🎨 Queued")


@bounded
async def test_pause_keeps_the_queued_image_until_resume(viper):
    api, settings = viper.api, viper.settings
    queued = await ask(viper, GROUP, ALICE, "/imagine a quiet bay")
    assert queued.text.startswith("🎨 Queued")
    paused = await ask(viper, GROUP, CAROL, "/admin pause")
    assert paused.text == "⏸ Generation paused here; 1 queued image wait until /admin resume."
    assert (await ask(viper, GROUP, CAROL, "/admin pause")).text == "Generation is already paused here."
    refused = await ask(viper, GROUP, BOB, "/imagine a stormy sea")
    assert refused.text == f"Sorry, {messages.PAUSED_HERE}."
    assert (await ask(viper, GROUP, BOB, "/admin resume")).text == ADMIN_REFUSED
    [(kind, prompt, status, _)] = jobs_table(settings)
    assert (kind, prompt, status) == ("generate", "a quiet bay", "queued")

    async with viper.worker():
        mark = api.mark()
        await asyncio.sleep(2.0)  # a worker is running, and leaves the held image alone
        assert api.calls_to("sendPhoto", since=mark) == []
        assert jobs_table(settings)[0][2] == "queued"
        resumed = await ask(viper, GROUP, CAROL, "/admin resume")
        assert resumed.text == "▶ Generation resumed; queued images are back in line."
        photo = await delivered(api, GROUP, mark)
    assert "a quiet bay" in photo.text
    assert photo.params["reply_parameters"]["message_id"] == queued.params["reply_parameters"]["message_id"]
    assert (await ask(viper, GROUP, BOB, "/imagine a stormy sea")).text.startswith("🎨 Queued")

    # In a private chat, even for an admin the bot trusts everywhere, admin commands say where they work.
    settings.telegram.admin_ids = [CAROL]
    mark = await say(api, CAROL, "/admin pause")
    assert (await api.wait_for(sent(CAROL), since=mark)).text == f"Sorry, {messages.ADMIN_ONLY_IN_SERVERS}."
    # ...and in any group they may, without being its administrator.
    api.set_member_status(GROUP, CAROL, "member")
    assert (await ask(viper, GROUP, CAROL, "/admin stats")).text.startswith("📈 Today here:")


@bounded
async def test_allowed_chats_leave_other_groups_unserved(viper):
    api, settings = viper.api, viper.settings
    screen = await ask(viper, OTHER_GROUP, ALICE, "/settings")  # shown before the operator narrowed the list
    settings.telegram.allowed_chats = [GROUP]

    # A command of ours gets one sentence; another bot's command, a reply or a press, nothing.
    assert (await ask(viper, OTHER_GROUP, ALICE, "/imagine a fox")).text == messages.NOT_SERVED_HERE
    assert (await ask(viper, OTHER_GROUP, BOB, "/usage@viper_test_bot")).text == messages.NOT_SERVED_HERE
    mark = api.mark()
    await api.push_message(OTHER_GROUP, viper.user(ALICE), "/imagine@another_bot a fox")
    await api.push_message(OTHER_GROUP, viper.user(BOB), "/weather")
    await api.push_message(OTHER_GROUP, viper.user(BOB), "nice", screen.result["message_id"])
    await tap(api, OTHER_GROUP, screen.result["message_id"], button(screen, "16:9"), user=viper.user(ALICE))
    press = await api.wait_for(answered, since=mark)
    assert "text" not in press.params and "show_alert" not in press.params
    await quiet(api, OTHER_GROUP, mark)
    assert [c for c in api.calls[mark:] if c.method.startswith("edit")] == []
    assert member_checks(api, ALICE, mark) == 0 and generate_jobs(settings) == 0

    # The allowed group and private chats are served.
    assert (await ask(viper, GROUP, ALICE, "/usage")).text.startswith("📊 Today: 0 images")
    mark = await say(api, BOB, "/usage")
    assert (await api.wait_for(sent(BOB), since=mark)).text.startswith("📊 Today: 0 images")


@bounded
async def test_admin_words_the_menu_and_forum_topics(viper):
    api = viper.api
    # The menu: /admin in group administrators' menu only; everyone else's is the rest.
    names = [c.name for c in for_platform(TELEGRAM)]
    assert api.commands_for("all_chat_administrators") == names
    assert api.commands_for() == [n for n in names if n != "admin"] and "usage" in api.commands_for()

    # /admin alone and mistyped forms answer what is accepted (without asking Telegram anything).
    mark = api.mark()
    assert (await ask(viper, GROUP, BOB, "/admin")).text == messages.ADMIN_USAGE[""]
    assert (await ask(viper, GROUP, CAROL, "/admin frobnicate")).text == messages.ADMIN_USAGE[""]
    assert (await ask(viper, GROUP, CAROL, "/admin limits five")).text == messages.ADMIN_USAGE["limits"]
    assert (await ask(viper, GROUP, CAROL, "/admin limits 5 0 9")).text == messages.ADMIN_USAGE["limits"]
    assert (await ask(viper, GROUP, CAROL, "/admin block add")).text == messages.ADMIN_USAGE["block"]
    assert (await ask(viper, GROUP, CAROL, "/admin channels there")).text == messages.ADMIN_USAGE["channels"]
    assert api.calls_to("getChatMember", since=mark) == []
    # A value out of range is the core's to name.
    assert "must be from 0 to 86400 seconds" in (await ask(viper, GROUP, CAROL, "/admin limits 5 90000")).text

    # A forum: /imagine kept to one topic; the refusal links it; admins may paint anywhere.
    api.make_forum(FORUM)
    here = await ask(viper, FORUM, CAROL, "/admin channels here", topic=7)
    assert here.text == "/imagine works only in the topic https://t.me/c/700/7."
    assert here.result.get("message_thread_id") == 7  # the answer is in the topic
    refused = await ask(viper, FORUM, ALICE, "/imagine a fox", topic=9)
    assert refused.text == "Sorry, /imagine works only in the topic https://t.me/c/700/7 here."
    assert (await ask(viper, FORUM, ALICE, "/imagine a fox")).text.startswith("Sorry, /imagine works only")  # General
    assert (await ask(viper, FORUM, ALICE, "/imagine a fox", topic=7)).text.startswith("🎨 Queued")
    assert (await ask(viper, FORUM, CAROL, "/imagine a fox", topic=9)).text.startswith("🎨 Queued")
    assert (await ask(viper, FORUM, DAVE, "/admin channels")).text == here.text
    everywhere = await ask(viper, FORUM, DAVE, "/admin channels all")
    assert everywhere.text == "/imagine works everywhere here."
    assert (await ask(viper, FORUM, ALICE, "/imagine a fox", topic=9)).text.startswith("🎨 Queued")

    # An anonymous admin writes as the group itself: an admin, without asking Telegram.
    mark = api.mark()
    await api.push_message(GROUP, api.user(1087968824, "Group", "GroupAnonymousBot"), "/admin stats", as_chat=True)
    assert (await api.wait_for(sent(GROUP), since=mark)).text.startswith("📈 Today here:")
    assert api.calls_to("getChatMember", since=mark) == []


@bounded
async def test_flagged_images_go_behind_a_spoiler_or_are_withheld(viper):
    api, settings = viper.api, viper.settings
    settings.moderation.nsfw_policy = "spoiler"
    async with viper.worker(flagging(viper.models)):
        mark = api.mark()
        await api.push_message(GROUP, viper.user(ALICE), "/imagine a fox in the snow")
        photo = await delivered(api, GROUP, mark)
        assert photo.params["has_spoiler"] is True and photo.result["has_media_spoiler"] is True
        assert [b["text"] for b in photo.buttons][:2] == ["🔄 Reroll", "🎲 Vary"]

        settings.moderation.nsfw_policy = "block"
        mark = api.mark()
        await api.push_message(GROUP, viper.user(ALICE), "/imagine a fox in the rain")
        status = await api.wait_for(sent(GROUP, "🎨 Queued"), since=mark)
        withheld = f"Sorry: {messages.WITHHELD_REASON}."
        final = await api.wait_for(lambda c: edited(GROUP, status.result["message_id"])(c) and c.text == withheld,
                                   PHOTO_WAIT_S, since=mark)
        assert final.buttons == []  # no ✖ Cancel left under it
    assert api.calls_to("sendPhoto", since=mark) == []
    assert [row[2] for row in jobs_table(settings)] == ["delivered", "failed"]

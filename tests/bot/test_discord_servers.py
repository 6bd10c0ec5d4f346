"""A busy community server on Discord, end to end (#13): limits and their refusals, blocked terms,
where /imagine works, pause and resume, /usage, the /admin group (shown to members with Manage
Server, checked again by the core), and what a flagged image becomes under each `nsfw_policy`.

Same stack as `test_discord_e2e.py`: the real discord.py bot started through `run_discord`, the core,
the SQLite file and Redis; only Discord is emulated (`tests/emulators/discord_api.py`), members'
clients included: Bob has the emulated guild's Moderators role (Manage Server), Alice does not,
and the guild has an age-restricted channel. A real arq worker paints only where a test needs an
image; elsewhere jobs stay queued. Each test is bounded by `LIMIT_S`.
"""

from __future__ import annotations

import asyncio

import pytest

from bot import messages
from bot.commands import command as catalogue
from bot.core import MemberRef
from engine.generation import ViperGenerator
from engine.safety import FLAG_ALL, build_tiny_safety_checker, set_thresholds
from tests.bot.harness import bounded_by, private_answer
from tests.bot.test_discord_actions import act, image_from, send_why, why
from tests.bot.test_discord_e2e import ALICE, BOB, db_rows
from tests.emulators.discord_api import EPHEMERAL, MANAGE_GUILD, SPOILER, DiscordEmulator, SentInteraction
from tests.workers import running_worker

LIMIT_S = 150  # each test, on a slow shared CPU (the ones that paint make at most four tiny images)
bounded = bounded_by(LIMIT_S)
PROMPT = "a lighthouse at dusk"


@pytest.fixture
def discord_api(discord_api):
    """The shared emulator, where Bob administers the server (Manage Server) and Alice is a member.
    The `emu` fixture connects the bot to it; no worker runs: jobs wait in the queue unless a test
    starts one."""
    discord_api.grant_manage_guild(BOB)
    return discord_api


async def answer(emu: DiscordEmulator, sent: SentInteraction) -> dict:
    """The private message that answered an interaction, whether at once or after "thinking"."""
    await emu.response(sent)
    return await private_answer(emu, sent, "answers and refusals reach the member privately")


async def use(emu: DiscordEmulator, name: str, user: dict, channel_id: str | None = None, **options
              ) -> tuple[SentInteraction, str]:
    """A member's slash command (`"admin limits"` for a subcommand); the interaction and what the
    member privately read in answer."""
    sent = await emu.send_interaction(emu.slash_command(name, user, channel_id=channel_id, **options))
    return sent, (await answer(emu, sent))["content"]


async def says(emu: DiscordEmulator, name: str, user: dict, channel_id: str | None = None, **options) -> str:
    return (await use(emu, name, user, channel_id, **options))[1]


def jobs_count(settings) -> int:
    return db_rows(settings, "SELECT COUNT(*) FROM jobs")[0][0]


def queued(text: str) -> bool:
    """Whether an /imagine was answered with its status (queued), not a refusal."""
    return text.startswith("🎨 Queued: ")


async def final_status(emu: DiscordEmulator, sent: SentInteraction, timeout: float = 90) -> str:
    """What an /imagine's status says once its job has ended (the ✖ Cancel button gone with it)."""
    message = await emu.wait_until(
        lambda: (m := emu.messages.get(sent.original_id or "")) and m["content"] and not emu.buttons(m) and m,
        timeout=timeout, what=f"the final status of interaction {sent.id}",
    )
    return message["content"]


@bounded
async def test_admin_is_a_group_for_manage_server_and_usage_is_synced(emu):
    synced = {c["name"]: c for c in emu.commands["global"]}
    admin = synced["admin"]
    assert admin["default_member_permissions"] == str(MANAGE_GUILD) and admin["dm_permission"] is False
    assert [(o["name"], o["type"]) for o in admin["options"]] == [
        (sub.name, 1) for sub in catalogue("admin").subcommands]
    assert [o["name"] for o in admin["options"]] == ["channels", "limits", "block", "pause", "resume", "stats"]
    options = {sub["name"]: {o["name"]: o for o in sub["options"]} for sub in admin["options"]}
    assert [c["value"] for c in options["channels"]["action"]["choices"]] == ["add", "remove", "clear", "list"]
    assert options["channels"]["channel"]["type"] == 7 and 0 in options["channels"]["channel"]["channel_types"]
    assert (options["limits"]["images_per_day"]["min_value"], options["limits"]["images_per_day"]["max_value"]) == (0, 100000)
    assert (options["limits"]["cooldown_s"]["min_value"], options["limits"]["cooldown_s"]["max_value"]) == (0, 86400)
    assert options["limits"]["reset"]["type"] == 5
    assert [c["value"] for c in options["block"]["action"]["choices"]] == ["add", "remove", "list"]
    assert options["block"]["term"]["max_length"] == 60
    assert synced["usage"]["default_member_permissions"] is None and not synced["usage"]["options"]


@bounded
async def test_daily_quota_and_cooldown_and_an_admin_raising_the_quota(runtime, settings, emu):
    settings.limits.images_per_day = 2
    for _ in range(2):
        assert queued(await says(emu, "imagine", ALICE, prompt=PROMPT))
    text = await says(emu, "imagine", ALICE, prompt=PROMPT)
    assert text.startswith("Sorry, you have used today's 2 images (the daily limit); it resets at midnight UTC, in ")
    assert jobs_count(settings) == 2  # nothing queued

    # Bob (Manage Server) raises this server's quota: Alice goes on.
    limits = await says(emu, "admin limits", BOB, images_per_day=5)
    assert limits == ("Limits here: 5 images per member per day, no cooldown (set here by the admins). "
                      "Admins are exempt.")
    assert queued(await says(emu, "imagine", ALICE, prompt=PROMPT))
    assert jobs_count(settings) == 3

    # A cooldown: the next image waits, and the refusal says how long.
    await says(emu, "admin limits", BOB, cooldown_s=60)
    text = await says(emu, "imagine", ALICE, prompt=PROMPT)
    assert text.startswith("Sorry, there is a cooldown between images here; try again in ") and text.endswith("seconds.")
    assert jobs_count(settings) == 3

    usage = await says(emu, "usage", ALICE)
    assert usage.startswith("📊 Today: 3 images of 5; 2 left, resets at midnight UTC")
    assert "Cooldown between images: 60 seconds." in usage and "Queued: 3 images" in usage
    stats = await says(emu, "admin stats", BOB)
    assert stats.startswith("📈 Today here: 3 images for 1 member.")
    assert "Refusals in the last 24 h by rule: cooldown 1, images_per_day 1." in stats
    # reset: back to the bot's defaults (2 a day): Alice is over them again.
    assert "(the bot's defaults)" in await says(emu, "admin limits", BOB, reset=True)
    assert "today's 2 images" in await says(emu, "imagine", ALICE, prompt="a fox")


@bounded
async def test_a_blocked_term_is_refused_in_prompts_and_features_without_repeating_it(runtime, settings, emu):
    assert await says(emu, "admin block", BOB, action="add", term="Lighthouse") == messages.term_added(True)
    assert "lighthouse" in await says(emu, "admin block", BOB, action="list")
    for text in (await says(emu, "imagine", ALICE, prompt="a lighthouse"),
                 await says(emu, "imagine", ALICE, prompt="a quiet harbour", no="lighthouse")):
        assert "lighthouse" not in text.lower() and "nothing was queued" in text
    text = await says(emu, "like", ALICE, features="lighthouse")
    assert text == "Sorry, " + messages.moderated("feature") + "."
    assert jobs_count(settings) == 0 and await runtime.core.profile(MemberRef("discord", ALICE["id"])) is None
    stats = await says(emu, "admin stats", BOB)
    assert "term 3" in stats and "lighthouse" not in stats  # admins see the rule, not the term
    assert await says(emu, "admin block", BOB, action="remove", term="lighthouse") == messages.term_removed(True)
    assert queued(await says(emu, "imagine", ALICE, prompt="a lighthouse"))


@bounded
async def test_imagine_works_only_in_the_channels_admins_chose(settings, emu):
    general = emu.general_channel_id
    assert await says(emu, "admin channels", BOB) == "/imagine works everywhere here."
    chosen = await says(emu, "admin channels", BOB, action="add", channel=general)
    assert chosen == f"/imagine works only in <#{general}>."
    text = await says(emu, "imagine", ALICE, prompt=PROMPT)  # in #art
    assert text == f"Sorry, /imagine works only in <#{general}> here."
    assert jobs_count(settings) == 0
    assert queued(await says(emu, "imagine", ALICE, general, prompt=PROMPT))
    both = await says(emu, "admin channels", BOB, action="add", channel=emu.channel_id)
    assert both == f"/imagine works only in <#{general}> and <#{emu.channel_id}>."
    assert await says(emu, "admin channels", BOB, action="remove", channel=general) == f"/imagine works only in <#{emu.channel_id}>."
    assert "Sorry, choose the channel" in await says(emu, "admin channels", BOB, action="add")
    assert await says(emu, "admin channels", BOB, action="clear") == "/imagine works everywhere here."
    assert queued(await says(emu, "imagine", ALICE, prompt=PROMPT))


@bounded
async def test_pause_keeps_queued_images_until_resume_then_they_are_delivered(runtime, settings, redis_url,
                                                                           tiny_models, emu):
    sent, status = await use(emu, "imagine", ALICE, prompt=PROMPT)
    assert queued(status)
    [(job_id,)] = db_rows(settings, "SELECT id FROM jobs")
    assert await says(emu, "admin pause", BOB) == messages.paused_now(True, 1)
    assert await says(emu, "admin pause", BOB) == messages.already_paused(True)
    assert await says(emu, "imagine", BOB, prompt="a fox") == f"Sorry, {messages.PAUSED_HERE}."
    assert await says(emu, "imagine", ALICE, prompt="a fox") == f"Sorry, {messages.PAUSED_HERE}."
    async with running_worker(settings, redis_url, tiny_models):
        await asyncio.sleep(2)  # a worker polls every 0.05 s: a job it could take would be running now
        assert db_rows(settings, f"SELECT status FROM jobs WHERE id = '{job_id}'") == [("queued",)]
        assert not any(emu.messages.get(i, {}).get("attachments") for i in sent.message_ids)
        assert await says(emu, "admin resume", BOB) == messages.paused_now(False, 0)
        image = await image_from(emu, sent)
        assert not image["flags"] & EPHEMERAL and image["channel_id"] == emu.channel_id
        assert (await final_status(emu, sent)).startswith("✅")
    assert db_rows(settings, f"SELECT status FROM jobs WHERE id = '{job_id}'") == [("delivered",)]

    # The buttons under the image obey the server's rules too: 🔄 Reroll while paused, a 💬 Why
    # comment with a blocked term; both refused privately, nothing queued or stored.
    assert await says(emu, "admin pause", BOB) == messages.paused_now(True, 0)
    pressed, _ = await act(emu, image, "reroll", ALICE)
    assert (await answer(emu, pressed))["content"] == f"Sorry, {messages.PAUSED_HERE}."
    await says(emu, "admin block", BOB, action="add", term="gore")
    form = await why(emu, image, ALICE)
    refused = await send_why(emu, form, "needs more GORE on the rocks", ALICE, image)
    assert refused["content"] == "Sorry, " + messages.moderated("comment") + "."
    assert jobs_count(settings) == 1 and await runtime.core.comment_count(MemberRef("discord", ALICE["id"])) == 0


@bounded
async def test_a_member_without_manage_server_is_refused_on_admin(runtime, settings, emu):
    with pytest.raises(AssertionError, match="does not offer /admin"):
        emu.slash_command("admin stats", ALICE)  # Discord does not even show it to her
    emu.open_to_everyone("admin")  # ...until the server's admins open it in its Integrations settings
    refused = "Sorry, only the admins here can do that."
    assert await says(emu, "admin stats", ALICE) == refused
    assert await says(emu, "admin pause", ALICE) == refused
    assert await says(emu, "admin block", ALICE, action="add", term="fox") == refused
    assert await says(emu, "admin limits", ALICE, images_per_day=1) == refused
    assert await says(emu, "admin channels", ALICE, action="add", channel=emu.general_channel_id) == refused
    settings_row = db_rows(settings, "SELECT COUNT(*) FROM scope_settings")[0][0]
    assert settings_row == 0 and db_rows(settings, "SELECT COUNT(*) FROM scope_terms")[0][0] == 0
    assert queued(await says(emu, "imagine", ALICE, prompt="a fox"))  # nothing was paused or blocked


@pytest.fixture
def flagging_models(tiny_models):
    """The session's tiny model with a safety checker that flags every image (the shared one stays unchecked)."""
    tiny = tiny_models["generator"]
    checker = build_tiny_safety_checker()
    set_thresholds(checker, FLAG_ALL)
    generator = ViperGenerator(tiny.pipe, model_name=tiny.model_name, is_tiny=tiny.is_tiny, defaults=tiny.defaults,
                               safety=checker)
    return {"generator": generator, "extractor": tiny_models["extractor"]}


@bounded
async def test_what_a_flagged_image_becomes_under_each_policy(runtime, settings, redis_url, flagging_models, emu):
    withheld = "Sorry: " + messages.WITHHELD_REASON + "."
    async with running_worker(settings, redis_url, flagging_models):
        # spoiler: posted, behind a spoiler.
        settings.moderation.nsfw_policy = "spoiler"
        sent, _ = await use(emu, "imagine", ALICE, prompt=PROMPT)
        [attachment] = (await image_from(emu, sent))["attachments"]
        assert attachment["flags"] & SPOILER and attachment["filename"].startswith("SPOILER_")

        # nsfw_channels: posted (no spoiler) in an age-restricted channel, withheld anywhere else.
        settings.moderation.nsfw_policy = "nsfw_channels"
        sent, _ = await use(emu, "imagine", ALICE, emu.nsfw_channel_id, prompt=PROMPT)
        image = await image_from(emu, sent)
        [attachment] = image["attachments"]
        assert image["channel_id"] == emu.nsfw_channel_id and not attachment["flags"] & SPOILER
        assert not attachment["filename"].startswith("SPOILER_")
        sent, _ = await use(emu, "imagine", ALICE, prompt=PROMPT)
        assert await final_status(emu, sent) == withheld
        assert not any(emu.messages.get(i, {}).get("attachments") for i in sent.message_ids)

        # block: withheld, even in an age-restricted channel.
        settings.moderation.nsfw_policy = "block"
        sent, _ = await use(emu, "imagine", ALICE, emu.nsfw_channel_id, prompt=PROMPT)
        assert await final_status(emu, sent) == withheld
        assert not any(emu.messages.get(i, {}).get("attachments") for i in sent.message_ids)
    statuses = [s for (s,) in db_rows(settings, "SELECT status FROM jobs ORDER BY created_at")]
    assert statuses == ["delivered", "delivered", "failed", "failed"]

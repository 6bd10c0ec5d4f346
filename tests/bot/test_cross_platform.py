"""One person on Telegram and Discord (#12), end to end through both real chat stacks at once.

The real PTB Application polls the Telegram Bot API emulator and the real discord.py bot talks to
the Discord emulator, both around ONE core: one SQLite file, one Redis, one arq worker (the tiny
random-weight SDXL and the lexicon extractor), as `viper up` runs them. A member builds a profile on
Telegram, links their Discord account with the code Telegram shows, paints on Discord with the
Telegram-built profile, and then `/forget` on Telegram deletes every row of both accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from bot import messages
from bot.core import MemberRef
from tests.bot.harness import running_bot, telegram_bot
from tests.bot.test_discord_e2e import ALICE
from tests.bot.test_discord_people import answer, command, job_in
from tests.bot.test_telegram_e2e import sent
from tests.bot.test_telegram_onboarding import answered, button, edited
from tests.emulators.discord_api import DEFERRED_UPDATE_MESSAGE, DiscordEmulator

pytestmark = pytest.mark.slow

LIMIT_S = 240  # the whole test, on a slow shared CPU
CHAT = 5150  # Alice's private chat with the bot on Telegram (a private chat's id is the member's id)
COMMENTS = [
    "love the warm orange tones and the soft light",
    "hate the harsh contrast and the neon",
    "the soft watercolour texture is lovely",
]


def tables_of_people(database: Path) -> dict[str, int]:
    """Rows per table that holds a member's or a person's data (a member_id, person_id, account_id or
    job_id column, and the members and persons themselves), and the gallery images posted in private chats."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {}
        for table in tables:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if columns & {"member_id", "person_id", "account_id", "job_id"} or table in ("members", "persons", "posted_images"):
                found[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return found


async def test_link_on_telegram_paint_on_discord_forget_on_telegram(runtime, settings, worker, api, discord_api):
    core, emu = runtime.core, discord_api
    settings.telegram.api_base_url, settings.telegram.api_base_file_url = api.base_url, api.base_file_url
    alice_tg = api.user(CHAT, "Alice")
    need = settings.bot.min_comments
    assert len(COMMENTS) >= need

    async def say(text: str, reply_to: int | None = None) -> int:
        mark = api.mark()
        await api.push_message(CHAT, alice_tg, text, reply_to_message_id=reply_to)
        return mark

    async with asyncio.timeout(LIMIT_S):
        async with telegram_bot(core, settings, api), running_bot(runtime, emu):
            # Telegram: Alice comments on gallery images and /done builds her profile (the worker extracts it).
            mark = await say("/start")
            photos = (await api.wait_for(sent(CHAT, method="sendMediaGroup"), since=mark)).result
            for i, comment in enumerate(COMMENTS[:need], start=1):
                mark = await say(comment, reply_to=photos[i - 1]["message_id"])
                await api.wait_for(sent(CHAT, f"{i} of {need}"), since=mark)
            mark = await say("/done")
            await api.wait_for(sent(CHAT, "Liked:"), 60, since=mark)
            built = await core.profile(MemberRef("telegram", str(CHAT)))
            assert built is not None and built.liked and built.disliked

            # Discord: Alice has a profile of her own there too, for now.
            await command(emu, "like", ALICE, features="gold, chrome")

            # /link on Telegram: the code arrives in her Telegram chat.
            mark = await say("/link")
            shown = await api.wait_for(sent(CHAT, "Your link code: "), since=mark)
            code = shown.text.split("Your link code: ")[1].split()[0]
            assert f"/link code: {code}" in shown.text

            # /link code: on Discord asks what to do with the two profiles; she keeps the Telegram one.
            question = await command(emu, "link", ALICE, code=code)
            assert question["content"].startswith("🔗 Link this Discord account with Telegram (Alice)?")
            assert f"({need} there, 0 here)" in question["content"]
            keep_telegram = f"viper:link:{code}:home:{ALICE['id']}"
            assert DiscordEmulator.buttons(question)[keep_telegram]["label"] == "Keep the Telegram profile"
            sent_press = await emu.send_interaction(emu.button_click(question, keep_telegram, ALICE))
            assert (await emu.response(sent_press)).json["type"] == DEFERRED_UPDATE_MESSAGE
            await emu.wait_until(lambda: emu.messages[question["id"]]["content"].startswith("🔗 Linked"),
                                 what="the link question answered in place")
            assert "Telegram (Alice) and Discord (Alice)" in emu.messages[question["id"]]["content"]

            # /imagine on Discord paints with the Telegram-built profile (and her comments came along).
            status = await command(emu, "imagine", ALICE, prompt="a lighthouse at dusk")
            job = await core.store.job(job_in(status))
            assert (job.request["liked"], job.request["disliked"]) == (built.liked, built.disliked)
            assert job.request["profiles"] == []
            await emu.wait_until(lambda: emu.messages[status["id"]]["content"].startswith("✅"), 90,
                                 what="the image delivered on Discord")
            result = await core.store.result(job.id)
            assert result is not None and result.made["personalised"] and Path(result.png_path).exists()
            assert await core.comment_count(MemberRef("discord", ALICE["id"])) == need
            image = next(m for m in emu.messages.values() if f"viper:act:up:{job.id}" in DiscordEmulator.buttons(m))
            up = await emu.send_interaction(emu.button_click(image, f"viper:act:up:{job.id}", ALICE))
            assert (await answer(emu, up))["content"] == messages.verdict_noted(1)
            await command(emu, "profile", ALICE, action="share")  # a share code of the person, to be deleted too

            # /profile on Discord: the one profile, with both accounts.
            profile = await command(emu, "profile", ALICE)
            assert messages.format_profile(await core.profile(MemberRef("discord", ALICE["id"])), "/onboard") \
                in profile["content"]
            assert "🔗 One profile for your accounts: Telegram (Alice) and Discord (Alice)" in profile["content"]
            before = tables_of_people(settings.storage.database_path)
            for table in ("persons", "members", "profiles", "comments", "posted_images", "jobs", "results",
                          "result_messages", "feedback", "share_codes"):
                assert before[table], f"nothing in {table} before /forget: the test would prove nothing"

            # /forget on Telegram: the question lists both accounts; yes deletes the whole person.
            mark = await say("/forget")
            ask = await api.wait_for(sent(CHAT, "Delete everything"), since=mark)
            assert "your linked accounts Telegram (Alice) and Discord (Alice), all of them" in ask.text
            mark = api.mark()
            await api.push_callback(CHAT, alice_tg, ask.result["message_id"], button(ask, messages.FORGET_YES))
            deleted = await api.wait_for(edited(CHAT, ask.result["message_id"]), since=mark)
            await api.wait_for(answered, since=mark)
            assert deleted.text.startswith("Deleted your linked accounts Telegram (Alice) and Discord (Alice)")

            # Every row of both accounts is gone, and the image made on Discord with it.
            left = {table: n for table, n in tables_of_people(settings.storage.database_path).items() if n}
            assert left == {}, f"rows left after /forget: {left}"
            assert not Path(result.png_path).exists()
            assert await core.store.find_member("discord", ALICE["id"]) is None
            profile = await command(emu, "profile", ALICE)
            assert profile["content"].startswith("You have no taste profile yet")
    assert not emu.unexpected

"""Telegram: a restart while a profile is being built, and hostile input that must not crash a handler."""

from __future__ import annotations

import asyncio
import itertools
import time

from tests.bot.harness import telegram_bot
from tests.bot.test_telegram_e2e import COMMENTS, STEPS, jobs_table, say, sent, tg_settings  # noqa: F401  (a fixture)
from tests.bot.test_telegram_onboarding import answered, start
from tests.workers import running_worker
import pytest

from bot import messages
from bot.adapters.telegram import run_telegram
from bot.core import MemberRef
from storage.store import Store
from viper.contracts.errors import TokenRefused

TINY_DEFAULTS = {"steps": STEPS}  # few steps on one thread (conftest's tiny_models)
_forged = itertools.count(1)


async def forge(api, chat: int, message_id: int, data: str) -> int:
    """A press carrying callback data no button of ours ever had (a modified client)."""
    mark = api.mark()
    query = {"id": f"forged-{next(_forged)}", "from": api.user(chat), "message": dict(api.messages[(chat, message_id)]),
             "chat_instance": f"instance{chat}", "data": data}
    api._open_callbacks[query["id"]] = query
    await api.push_update({"callback_query": query})
    return mark


async def onboarding_state(settings) -> str | None:
    store = await Store.open(settings.storage.database_path)
    try:
        async with store._db.execute("SELECT state FROM onboarding") as cur:
            row = await cur.fetchone()
        return row[0] if row else None
    finally:
        await store.close()


async def test_a_profile_being_built_arrives_after_the_bot_restarts(runtime, tg_settings, redis_url, tiny_models, api):
    settings, chat, need = tg_settings, 611, tg_settings.bot.min_comments
    async with telegram_bot(runtime.core, settings, api):
        _, photos, _ = await start(api, chat)
        for photo, comment in zip(photos, COMMENTS[:need]):
            mark = await say(api, chat, comment, reply_to=photo["message_id"])
            await api.wait_for(sent(chat, "Noted!"), since=mark)
        mark = await say(api, chat, "/done")  # no worker yet: the bot stops while it waits
        await api.wait_for(sent(chat, "Analysing"), since=mark)
        for _ in range(100):  # until the job is recorded and queued
            if [row for row in jobs_table(settings) if row[0] == "extract"]:
                break
            await asyncio.sleep(0.05)
    assert await onboarding_state(settings) == "extracting"

    mark, restarted = api.mark(), time.monotonic()
    async with running_worker(settings, redis_url, tiny_models), telegram_bot(runtime.core, settings, api):
        profile = await api.wait_for(sent(chat, "Liked:"), 30, since=mark)
        print(f"\nthe profile arrived {time.monotonic() - restarted:.1f} s after the bot and a worker started again")
        assert [b["text"] for b in profile.buttons][-2:] == ["✅ Looks good", "🔁 Redo onboarding"]
        mark = await say(api, chat, "/start")
        assert "being built" not in (await api.wait_for(sent(chat), since=mark)).text
    assert await onboarding_state(settings) != "extracting"
    assert await runtime.core.profile(_who(chat)) is not None


def _who(chat: int) -> MemberRef:
    return MemberRef("telegram", str(chat))


async def test_forged_buttons_and_invisible_text_get_answers_not_errors(runtime, tg_settings, api, caplog):
    settings, chat = tg_settings, 612
    async with telegram_bot(runtime.core, settings, api):
        _, _, numbers = await start(api, chat)
        for data in ("viper:pick:²", "viper:pick:①", f"viper:rm:{chat}:l²:00000000", f"viper:ok:{chat}²", "viper:"):
            mark = await forge(api, chat, numbers.result["message_id"], data)
            answer = await api.wait_for(answered, since=mark)
            assert answer.text == messages.STALE_BUTTON, data

        mark = await say(api, chat, "/like \u200d\u200b\u2060")
        assert "name at least one feature" in (await api.wait_for(sent(chat), since=mark)).text
        mark = await say(api, chat, "/imagine \u200b\u200d")
        assert "the prompt is empty" in (await api.wait_for(sent(chat), since=mark)).text
    assert await runtime.core.profile(_who(chat)) is None
    assert "error while handling an update" not in caplog.text
    assert not api.unanswered_callbacks


async def test_a_slow_photo_answer_sends_one_photo(runtime, worker, tg_settings, api):
    """Telegram answers sendPhoto after 6 s (more than PTB's default 5 s read timeout): one photo,
    delivered, and a restart sends nothing again."""
    settings, chat = tg_settings, 613
    api.answer_delays["sendphoto"] = 6.0
    async with telegram_bot(runtime.core, settings, api):
        mark = await say(api, chat, "/imagine a slow harbour")
        await api.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == chat, 40, since=mark)
        asked = time.monotonic()
        await api.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == chat and "Done" in c.text, 40, since=mark)
        print(f"\nthe slow photo counted as delivered {time.monotonic() - asked:.1f} s after it was sent")
    api.answer_delays.clear()
    async with telegram_bot(runtime.core, settings, api):
        await asyncio.sleep(1.0)  # a restart resumes nothing: the image was delivered
    photos = [c for c in api.calls_to("sendPhoto", since=mark) if c.chat_id == chat]
    assert len(photos) == 1
    assert [status for kind, _, status, _ in jobs_table(settings) if kind == "generate"] == ["delivered"]


async def test_a_refused_token_says_which_variable(runtime, tg_settings, api):
    """Telegram answers getMe with 401 for a token it does not know: one clear error, no hang."""
    with pytest.raises(TokenRefused) as refused:
        await asyncio.wait_for(run_telegram(runtime.core, tg_settings, "123:not-the-token", asyncio.Event()), 15)
    assert refused.value.argument == "TELEGRAM_TOKEN"
    assert "TELEGRAM_TOKEN was refused by Telegram" in refused.value.message and "BotFather" in refused.value.message


@pytest.mark.parametrize("command", ["bot", "up"])
async def test_viper_stops_with_one_line_when_its_only_token_is_refused(tmp_path, api, command):
    """`viper bot` hung forever and `viper up` ran with nothing connected; both now exit 1 and
    name the variable."""
    import os
    import sys

    env = dict(os.environ, TELEGRAM_TOKEN="123:not-the-token", VIPER_TELEGRAM__API_BASE_URL=api.base_url,
               VIPER_STORAGE__DATA_DIR=str(tmp_path / "data"), VIPER_ENGINE__MODEL="tiny", HF_HUB_OFFLINE="1")
    env.pop("DISCORD_TOKEN", None)
    env.pop("VIPER_REDIS__URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "viper.cli", command, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
    lines = stderr.decode().splitlines()
    assert proc.returncode == 1
    assert any(line.startswith("error (TELEGRAM_TOKEN): TELEGRAM_TOKEN was refused by Telegram") for line in lines)
    assert "Traceback" not in stderr.decode()

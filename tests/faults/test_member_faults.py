"""Issue 14, items 1 and 3 as a member lives them: a Telegram member's image while its worker is killed.

A real `viper worker` process paints on a real redis-server; the bot runs in this process against
the Telegram emulator (as in tests/bot). The worker is killed (SIGKILL) mid-painting and a fresh one
is started: the member must get exactly one photo, and the status message must not stay frozen.
"""

from __future__ import annotations

import signal
import time

from bot.messages import DONE_LINE
from tests.bot.test_telegram_e2e import say, sent, telegram_bot
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.faults.procs import until
from viper.app import open_runtime
from viper.contracts.config import Settings

READY = r"worker ready"


async def test_a_member_gets_one_image_when_the_painting_worker_is_killed(processes, data_dir):
    server = processes.embedded_redis(data_dir, persist=False)
    settings = Settings()
    settings.storage.data_dir, settings.redis.url = data_dir, server.url
    settings.engine.model, settings.gallery.count = "tiny", 12
    chat = 901
    first = processes.worker("worker-a", server.url, data_dir, VIPER_ENGINE__STEPS="100")
    await first.wait_for(READY, 120)
    runtime = await open_runtime(settings)
    try:
        async with TelegramAPIEmulator() as api:
            settings.telegram.api_base_url, settings.telegram.api_base_file_url = api.base_url, api.base_file_url
            async with telegram_bot(runtime.core, settings, api):
                mark = await say(api, chat, "/imagine a lighthouse in a storm")
                queued = await api.wait_for(sent(chat, "Queued"), 30, since=mark)
                job_id = queued.buttons[0]["callback_data"].rsplit(":", 1)[1]

                async def painting() -> bool:
                    progress = await runtime.queue.progress(job_id)
                    return progress is not None and progress.step >= 1

                await until(painting, 60, "the first worker painting")
                first.send(signal.SIGKILL)
                killed = time.monotonic()
                second = processes.worker("worker-b", server.url, data_dir, VIPER_ENGINE__STEPS="100")
                photo = await api.wait_for(sent(chat, method="sendPhoto"), 90, since=mark)
                print(f"\nthe member's image arrived {time.monotonic() - killed:.1f} s after its worker was killed")
                await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE["telegram"], 15,
                                   since=mark)
                assert "a lighthouse in a storm" in photo.text
            assert len([c for c in api.calls_to("sendPhoto", since=mark) if c.chat_id == chat]) == 1
            assert second.alive
    finally:
        await runtime.close()

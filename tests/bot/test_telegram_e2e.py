"""Telegram end to end: the real PTB Application against a local Bot API emulator.

Everything else is real too: SQLite, Redis (embedded), the arq worker in this event loop with the
tiny random-weight SDXL and the lexicon extractor. The tests play members by pushing the updates
Telegram would send, and check what the bot sends back through the Bot API.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from bot.commands import TELEGRAM, for_platform
from bot.messages import DONE_LINE as DONE_LINES
from bot.messages import RESUMED_LINE
from bot.core import MemberRef
from tests.bot.harness import telegram_bot
from tests.emulators.telegram_api import ApiCall, TelegramAPIEmulator
from tests.workers import GatedGenerator, running_worker
from viper.app import open_runtime
from viper.redis_server import EmbeddedRedis

pytestmark = pytest.mark.slow

DONE_LINE = DONE_LINES[TELEGRAM]
COMMANDS = [(c.name, c.description) for c in for_platform(TELEGRAM)]

STEPS = 8
TINY_DEFAULTS = {"steps": STEPS}  # few steps on one thread (conftest's tiny_models)

COMMENTS = [
    "love the warm orange tones",
    "hate the harsh contrast",
    "the soft watercolour texture is lovely",
]


@pytest.fixture
def tg_settings(tg_settings):
    """The shared `tg_settings`, checked to leave enough COMMENTS to build a profile."""
    assert len(COMMENTS) >= tg_settings.bot.min_comments
    return tg_settings


def sent(chat_id: int, contains: str = "", method: str = "sendMessage"):
    def predicate(call: ApiCall) -> bool:
        return call.ok and call.method == method and call.chat_id == chat_id and contains in call.text

    return predicate


async def say(api: TelegramAPIEmulator, chat_id: int, text: str, reply_to: int | None = None) -> int:
    """A member (in their private chat) sends `text`; returns the mark to wait from."""
    mark = api.mark()
    await api.push_message(chat_id, chat_id, text, reply_to_message_id=reply_to)
    return mark


async def onboard(api: TelegramAPIEmulator, chat_id: int, need: int) -> list[dict]:
    """/start, comment on `need` images by replying to them, /done; returns the album's messages."""
    mark = await say(api, chat_id, "/start")
    await api.wait_for(sent(chat_id, "taste"), since=mark)
    album = await api.wait_for(sent(chat_id, method="sendMediaGroup"), since=mark)
    photos = album.result
    for i, comment in enumerate(COMMENTS[:need], start=1):
        mark = await say(api, chat_id, comment, reply_to=photos[i - 1]["message_id"])
        await api.wait_for(sent(chat_id, f"{i} of {need}"), since=mark)
    mark = await say(api, chat_id, "/done")
    await api.wait_for(sent(chat_id, "Analysing"), since=mark)
    await api.wait_for(sent(chat_id, "Liked:"), 30, since=mark)
    return photos


def jobs_table(settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.storage.database_path)) as db:
        return db.execute("SELECT kind, prompt, status, chat_ref FROM jobs ORDER BY created_at").fetchall()


def check_png(call: ApiCall, width: int = 64, height: int = 64) -> None:
    assert f"{width}×{height}, {STEPS} steps" in call.text
    data = call.files["photo"]
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size == (width, height)


async def test_onboarding_then_a_personalised_image(runtime, tg_settings, redis_url, tiny_models, api):
    # The worker is started and stopped here (not the `worker` fixture): the /imagine must wait in
    # line first, then run held at step 1 until its progress edit has been seen.
    settings, chat, need = tg_settings, 4242, tg_settings.bot.min_comments
    async with telegram_bot(runtime.core, settings, api), contextlib.AsyncExitStack() as stack:
        # Everyone's menu; group administrators' adds /admin (tests/bot/test_telegram_servers.py).
        assert [c["command"] for c in api.commands] == [name for name, _ in COMMANDS if name != "admin"]

        mark = await say(api, chat, "/start")
        intro = await api.wait_for(sent(chat, "visual taste"), since=mark)
        assert f"at least {need} images" in intro.text
        album = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        photos = album.result
        assert 8 <= len(photos) <= min(10, settings.bot.gallery_page_size)
        assert [p["caption"] for p in photos] == [f"#{n}" for n in range(1, len(photos) + 1)]
        assert len(album.files) == len(photos)  # each image uploaded, attach:// style
        for data in album.files.values():
            Image.open(io.BytesIO(data)).verify()
        await api.wait_for(sent(chat, "/more"), since=mark)

        for i, comment in enumerate(COMMENTS[:need], start=1):
            mark = await say(api, chat, comment, reply_to=photos[i - 1]["message_id"])
            ack = await api.wait_for(sent(chat, "Noted!"), since=mark)
            assert f"{i} of {need}" in ack.text
        assert await runtime.core.store.posted_image("telegram", chat, photos[0]["message_id"]) is not None

        async with running_worker(settings, redis_url, tiny_models):
            mark = await say(api, chat, "/done")
            await api.wait_for(sent(chat, f"Analysing your {need} comments"), since=mark)
            shown = await api.wait_for(sent(chat, "Liked:"), 30, since=mark)
        liked_line, disliked_line = (line for line in shown.text.splitlines() if "iked:" in line)
        assert "orange" in liked_line and "contrast" in disliked_line
        profile = await runtime.core.profile(_member(chat))
        assert profile is not None and any("orange" in f for f in profile.liked)

        # No worker for a moment: the job waits in line; then one starts and the status shows progress.
        mark = await say(api, chat, "/imagine a lighthouse at dusk")
        queued = await api.wait_for(sent(chat, "Queued"), since=mark)
        assert "position 1 in the queue" in queued.text and "Tip" not in queued.text
        status_id = queued.result["message_id"]
        gated = GatedGenerator(tiny_models["generator"])
        await stack.enter_async_context(running_worker(settings, redis_url, {**tiny_models, "generator": gated}))
        stack.callback(gated.gate.set)  # never leave the worker's thread waiting, even when an assert fails
        painting = await api.wait_for(
            lambda c: c.method == "editMessageText" and c.params["message_id"] == status_id and "Painting" in c.text,
            15, since=mark,
        )
        assert f"step 1/{STEPS}" in painting.text
        gated.gate.set()

        photo = await api.wait_for(sent(chat, method="sendPhoto"), 60, since=mark)
        assert "a lighthouse at dusk" in photo.text and "personalised with your taste profile" in photo.text
        assert "tiny test model" in photo.text
        check_png(photo)
        answered = api.messages[(chat, photo.params["reply_parameters"]["message_id"])]
        assert answered["text"] == "/imagine a lighthouse at dusk"
        await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE, 10, since=mark)

    edits = [c for c in api.calls_to("editMessageText", since=mark) if c.params["message_id"] == status_id]
    progress = [c for c in edits if c.at < photo.at]
    assert progress and all(c.text.startswith("🎨") for c in progress)
    texts = [queued.text] + [c.text for c in edits]
    assert all(a != b for a, b in zip(texts, texts[1:]))  # never the same text twice in a row
    gaps = [b.at - a.at for a, b in zip(progress, progress[1:])]
    assert all(gap >= settings.bot.progress_interval_s - 0.2 for gap in gaps)

    generated = [row for row in jobs_table(settings) if row[0] == "generate"]
    assert [(kind, prompt, status) for kind, prompt, status, _ in generated] == [
        ("generate", "a lighthouse at dusk", "delivered")
    ]


def _member(chat_id: int) -> MemberRef:
    return MemberRef("telegram", str(chat_id))


async def test_guard_rails_and_an_image_without_a_profile(runtime, worker, tg_settings, api):
    settings, chat, need = tg_settings, 777, tg_settings.bot.min_comments
    async with telegram_bot(runtime.core, settings, api):
        mark = await say(api, chat, "/help")
        helped = await api.wait_for(sent(chat), since=mark)
        assert all(f"/{name}" in helped.text for name, _ in COMMANDS)

        mark = await say(api, chat, "/done")
        early = await api.wait_for(sent(chat), since=mark)
        assert f"0 of {need}" in early.text

        mark = await say(api, chat, "/start")
        album = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        footer = await api.wait_for(sent(chat, "Page 1 of"), since=mark)

        mark = await say(api, chat, "this one is nice")  # not a reply: which image?
        assert "reply to an image" in (await api.wait_for(sent(chat), since=mark)).text
        mark = await say(api, chat, "nice colours", reply_to=footer.result["message_id"])
        assert "isn't one of the gallery images" in (await api.wait_for(sent(chat), since=mark)).text

        mark = await say(api, chat, COMMENTS[0], reply_to=album.result[2]["message_id"])
        assert f"1 of {need}" in (await api.wait_for(sent(chat, "Noted!"), since=mark)).text
        mark = await say(api, chat, "/done")
        assert f"1 of {need} comments so far" in (await api.wait_for(sent(chat), since=mark)).text

        mark = await say(api, chat, "/more")  # the 12-image gallery's second page: #11 and #12
        more = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        assert [p["caption"] for p in more.result] == ["#11", "#12"]
        assert len(more.files) == 2
        await api.wait_for(sent(chat, "Page 2 of 2"), since=mark)
        mark = await say(api, chat, "/more")  # back to the first page: Telegram's file ids, no re-upload
        again = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
        assert [p["caption"] for p in again.result] == [p["caption"] for p in album.result] and again.files == {}
        assert [p["photo"] for p in again.result] == [p["photo"] for p in album.result]
        await api.wait_for(sent(chat, "Page 1 of 2"), since=mark)

        mark = await say(api, chat, "/imagine")
        assert "Usage: /imagine <prompt>" in (await api.wait_for(sent(chat), since=mark)).text
        mark = await say(api, chat, "/imagine    ")
        assert "Usage" in (await api.wait_for(sent(chat), since=mark)).text

        mark = await say(api, chat, "/imagine a quiet harbour at noon")
        queued = await api.wait_for(sent(chat, "Queued"), since=mark)
        assert "Tip: this one isn't personalised" in queued.text and "/start" in queued.text
        photo = await api.wait_for(sent(chat, method="sendPhoto"), 60, since=mark)
        assert "not personalised" in photo.text and "tiny test model" in photo.text
        check_png(photo)
        await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE, 10, since=mark)
    assert [row[2] for row in jobs_table(settings) if row[0] == "generate"] == ["delivered"]


async def test_in_a_group_each_member_onboards_in_their_private_chat(runtime, tg_settings, api):
    settings, group = tg_settings, -100123
    alice, bob = api.user(11, "Alice"), api.user(12, "Bob")
    async with telegram_bot(runtime.core, settings, api):
        mark = api.mark()
        await api.push_message(group, alice, "/start@viper_test_bot")
        redirect = await api.wait_for(sent(group), since=mark)
        assert [b["url"] for b in redirect.buttons] == ["https://t.me/viper_test_bot?start=onboard"]
        assert redirect.params["reply_parameters"]["message_id"]  # answers the member who asked

        albums = {}
        for member in (alice, bob):  # the button opens the private chat with "/start onboard"
            mark = api.mark()
            await api.push_message(member["id"], member, "/start onboard")
            albums[member["id"]] = (await api.wait_for(sent(member["id"], method="sendMediaGroup"), since=mark)).result
            await api.wait_for(sent(member["id"], "Page 1 of"), since=mark)
        assert api.calls_to("sendMediaGroup", chat_id=group) == []  # the gallery never floods the group

        mark = api.mark()
        await api.push_message(12, bob, "hate the harsh contrast", reply_to_message_id=albums[12][1]["message_id"])
        assert "1 of" in (await api.wait_for(sent(12, "Noted!"), since=mark)).text
        chatter = await api.push_message(group, alice, "anyone up for lunch?")
        mark = api.mark()
        await api.push_message(group, bob, "sure", reply_to_message_id=chatter["message_id"])
        await api.push_message(group, alice, "/profile@viper_test_bot")
        answer = await api.wait_for(sent(group), since=mark)
        assert "private chat" in answer.text  # the reply between people got no hint
        assert "no taste profile yet" in (await api.wait_for(sent(11), since=mark)).text
    assert await runtime.core.comment_count(MemberRef("telegram", "12")) == 1
    assert await runtime.core.comment_count(MemberRef("telegram", "11")) == 0


async def test_redis_down_is_friendly_and_loses_nothing(tg_settings, tiny_models, api):
    # A Redis of our own that we can stop and start again on the same socket.
    redis_dir = Path(tempfile.mkdtemp(prefix="viper-tg-"))
    server = EmbeddedRedis(redis_dir, persist=False).start()
    settings = tg_settings.model_copy(deep=True)
    settings.redis.url = server.url
    chat, need = 5150, settings.bot.min_comments
    rt = await open_runtime(settings)
    try:
        async with telegram_bot(rt.core, settings, api):
            mark = await say(api, chat, "/start")
            album = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
            for i, comment in enumerate(COMMENTS[:need]):
                mark = await say(api, chat, comment, reply_to=album.result[i]["message_id"])
                await api.wait_for(sent(chat, "Noted!"), since=mark)

            server.stop()
            mark = await say(api, chat, "/imagine a red fox in the snow")
            answer = await api.wait_for(sent(chat), 20, since=mark)
            assert "unreachable" in answer.text and "Nothing was lost" in answer.text
            mark = await say(api, chat, "/done")
            await api.wait_for(sent(chat, "Analysing"), since=mark)
            assert "unreachable" in (await api.wait_for(sent(chat, "unreachable"), 20, since=mark)).text
            mark = await say(api, chat, "/profile")  # the bot still answers
            assert "no taste profile yet" in (await api.wait_for(sent(chat), since=mark)).text
            assert await rt.core.comment_count(_member(chat)) == need
            assert [row[2] for row in jobs_table(settings)] == ["failed", "failed"]  # recorded, not dropped

            server = EmbeddedRedis(redis_dir, persist=False).start()  # Redis is back
            async with running_worker(settings, server.url, tiny_models):
                mark = await say(api, chat, "/done")
                shown = await api.wait_for(sent(chat, "Liked:"), 30, since=mark)
            assert "orange" in shown.text
    finally:
        await rt.close()
        server.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


async def test_restart_keeps_the_profile_and_resumes_delivery(tg_settings, redis_url, tiny_models, api):
    settings, chat, need = tg_settings, 9001, tg_settings.bot.min_comments
    rt = await open_runtime(settings)
    try:
        async with telegram_bot(rt.core, settings, api):
            async with running_worker(settings, redis_url, tiny_models):
                await onboard(api, chat, need)
            before = await rt.core.profile(_member(chat))
            mark = await say(api, chat, "/imagine a red fox in the snow")
            queued = await api.wait_for(sent(chat, "Queued"), since=mark)
            # No worker: the image waits, and the bot keeps answering meanwhile.
            mark = await say(api, chat, "/profile")
            await api.wait_for(sent(chat, "Liked:"), since=mark)
    finally:
        await rt.close()
    assert [row[2] for row in jobs_table(settings) if row[0] == "generate"] == ["queued"]

    rt = await open_runtime(settings)  # a new process, as far as the bot can tell
    try:
        mark = api.mark()
        async with telegram_bot(rt.core, settings, api):
            resumed = await api.wait_for(lambda c: c.method == "editMessageText" and c.text == RESUMED_LINE, since=mark)
            assert resumed.params["message_id"] == queued.result["message_id"]

            mark = await say(api, chat, "/profile")
            shown = await api.wait_for(sent(chat, "Liked:"), since=mark)
            assert ", ".join(before.liked) in shown.text and ", ".join(before.disliked) in shown.text

            async with running_worker(settings, redis_url, tiny_models):
                photo = await api.wait_for(sent(chat, method="sendPhoto"), 60, since=mark)
                await api.wait_for(
                    lambda c: c.method == "editMessageText" and c.text == DONE_LINE
                    and c.params["message_id"] == queued.result["message_id"],
                    10, since=mark,
                )
        assert "a red fox in the snow" in photo.text and "personalised with your taste profile" in photo.text
        check_png(photo)
        assert [row[2] for row in jobs_table(settings) if row[0] == "generate"] == ["delivered"]
    finally:
        await rt.close()


async def test_a_queued_image_is_cancelled_with_its_button(runtime, tg_settings, api):
    """No worker: the image waits in line, and ✖ Cancel under its status message ends it."""
    settings, chat = tg_settings, 4242
    async with telegram_bot(runtime.core, settings, api):
        mark = await say(api, chat, "/imagine a lighthouse in fog")
        queued = await api.wait_for(sent(chat, "Queued"), since=mark)
        [button] = queued.buttons
        assert button["text"] == "✖ Cancel"
        status_id = queued.result["message_id"]

        mark = api.mark()  # somebody else cannot cancel it
        await api.push_callback(chat, 5151, status_id, button["callback_data"])
        refused = await api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)
        assert "someone else" in refused.text

        mark = api.mark()
        await api.push_callback(chat, chat, status_id, button["callback_data"])
        answer = await api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)
        assert answer.text == "Cancelling…"
        ended = await api.wait_for(
            lambda c: c.method == "editMessageText" and c.params["message_id"] == status_id and "Cancelled" in c.text,
            10, since=mark,
        )
        assert ended.buttons == []  # the button goes with the job
        assert api.unanswered_callbacks == []
    assert [row[2] for row in jobs_table(settings) if row[0] == "generate"] == ["cancelled"]


async def test_a_restarted_bot_sends_the_gallery_by_file_id(tg_settings, api):
    """Telegram's file ids of the uploaded gallery are kept in SQLite: no re-upload after a restart."""
    settings, photos = tg_settings, {}
    for chat, restart in ((6001, False), (6002, True)):
        rt = await open_runtime(settings)
        try:
            async with telegram_bot(rt.core, settings, api):
                mark = await say(api, chat, "/start")
                album = await api.wait_for(sent(chat, method="sendMediaGroup"), since=mark)
                await api.wait_for(sent(chat, "Page 1 of"), since=mark)
        finally:
            await rt.close()
        photos[restart] = [p["photo"] for p in album.result]
        if restart:
            assert album.files == {}  # every photo sent as a file id remembered by the first run
            assert photos[True] == photos[False]
        else:
            assert len(album.files) == len(album.result)  # the first run uploads
    with contextlib.closing(sqlite3.connect(settings.storage.database_path)) as db:
        assert db.execute("SELECT count(*) FROM uploaded_files WHERE platform = 'telegram'").fetchone()[0] == len(album.result)


async def test_like_and_dislike_edit_the_profile(runtime, tg_settings, api):
    chat = 3131
    async with telegram_bot(runtime.core, tg_settings, api):
        mark = await say(api, chat, "/like")
        assert "Usage: /like <features>" in (await api.wait_for(sent(chat), since=mark)).text
        mark = await say(api, chat, "/like teal, Flowing lines")
        added = await api.wait_for(sent(chat, "Added"), since=mark)
        assert "liked features: teal, flowing lines" in added.text and "👍 Liked: teal, flowing lines" in added.text
        mark = await say(api, chat, "/dislike teal")
        moved = await api.wait_for(sent(chat, "Added"), since=mark)
        assert "👍 Liked: flowing lines" in moved.text and "👎 Disliked: teal" in moved.text
        mark = await say(api, chat, "/dislike " + "x" * 50)
        assert "too long for one feature" in (await api.wait_for(sent(chat), since=mark)).text


async def test_a_photo_gets_told_what_the_bot_reads(runtime, tg_settings, api):
    chat = 2727
    async with telegram_bot(runtime.core, tg_settings, api):
        mark = api.mark()
        sender = api.user(chat)
        await api.push_update({"message": {  # a photo, as a member's client sends it (no text)
            "message_id": api._new_message_id(chat), "date": 0, "chat": api._chat(chat, sender), "from": sender,
            "photo": [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}],
        }})
        answer = await api.wait_for(sent(chat), since=mark)
        assert "I only read text" in answer.text and "/imagine" in answer.text


async def test_file_ids_telegram_no_longer_knows_are_uploaded_again(tg_settings, api):
    """A remembered file id that Telegram refuses (a new bot token, a purged file): the album goes
    again as bytes, once, and the new ids replace the old."""
    settings = tg_settings
    rt = await open_runtime(settings)
    try:
        async with telegram_bot(rt.core, settings, api):
            mark = await say(api, 6101, "/start")
            await api.wait_for(sent(6101, "Page 1 of"), since=mark)
        with contextlib.closing(sqlite3.connect(settings.storage.database_path)) as db:
            db.execute("UPDATE uploaded_files SET file_id = 'gone-' || file_id")
            db.commit()
        async with telegram_bot(rt.core, settings, api):
            mark = await say(api, 6102, "/start")
            album = await api.wait_for(sent(6102, method="sendMediaGroup"), since=mark)
            await api.wait_for(sent(6102, "Page 1 of"), since=mark)
    finally:
        await rt.close()
    assert len(album.files) == len(album.result)  # the bytes went again
    refused = [c for c in api.errors if c.method == "sendMediaGroup"]
    assert len(refused) == 1
    api.errors.clear()  # the one refusal this test provoked on purpose
    with contextlib.closing(sqlite3.connect(settings.storage.database_path)) as db:
        assert not db.execute("SELECT count(*) FROM uploaded_files WHERE file_id LIKE 'gone-%'").fetchone()[0]

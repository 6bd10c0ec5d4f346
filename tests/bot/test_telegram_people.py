"""Telegram, profiles that travel (#12) end to end: share codes and blends, /link with a Discord
account, /unlink and /forget of the one person, export as a file and import by sending it back.

The real PTB Application talks to the Bot API emulator; SQLite and Redis are real, and the arq worker
(the tiny random-weight SDXL and the lexicon extractor) runs only where an image or a profile is
made. The Discord half of a link is played through the core, as the Discord adapter calls it.
Members send files with `push_document`, as their Telegram client would; every press must be
answered once and the bot must make no call Telegram would refuse.
"""

from __future__ import annotations

import json
import re

import pytest

from bot import messages
from bot.core import MemberRef
from bot.core.people import MAX_FAILED_LOOKUPS
from tests.bot.harness import bounded_by
from tests.bot.test_telegram_e2e import STEPS, jobs_table, say, sent
from tests.bot.test_telegram_onboarding import answered, button, edited, tap
from tests.emulators.telegram_api import ApiCall, TelegramAPIEmulator
from viper.contracts.errors import InvalidArgument

pytestmark = pytest.mark.slow

TEST_LIMIT_S = 120  # no test here may run longer, however slow the machine
bounded = bounded_by(TEST_LIMIT_S)  # the fixtures' bound covers their set-up; this bounds the test
PHOTO_WAIT_S = 60
BOT = "viper_test_bot"  # the username the Bot API emulator gives the bot
SHARE_CODE = re.compile(r"vp-[0-9A-Z]{8}")
LINK_CODE = re.compile(r"Your link code: ([0-9A-Z]{8})")
TINY_DEFAULTS = {"steps": STEPS}  # few steps on one thread (conftest's tiny_models)
MIN_COMMENTS = 2


# -- helpers -------------------------------------------------------------------------------------------


def tg(user_id: int) -> MemberRef:
    return MemberRef("telegram", str(user_id))


DONE_LINE = messages.DONE_LINE["telegram"]


async def answer_to(api: TelegramAPIEmulator, chat: int, text: str, contains: str = "") -> ApiCall:
    """A member sends `text` in their private chat; returns the bot's first message there that
    contains `contains`."""
    mark = await say(api, chat, text)
    return await api.wait_for(sent(chat, contains), since=mark)


async def in_group(api: TelegramAPIEmulator, group: int, user: dict, text: str) -> tuple[int, ApiCall]:
    """`user` sends `text` in `group`; returns the mark and the bot's answer in the group."""
    mark = api.mark()
    await api.push_message(group, user, text)
    return mark, await api.wait_for(sent(group), since=mark)


async def imagine(api: TelegramAPIEmulator, chat: int, text: str) -> ApiCall:
    """`/imagine <text>` in a private chat; returns the delivered photo."""
    mark = await say(api, chat, f"/imagine {text}")
    photo = await api.wait_for(sent(chat, method="sendPhoto"), PHOTO_WAIT_S, since=mark)
    await api.wait_for(lambda c: c.method == "editMessageText" and c.text == DONE_LINE, 10, since=mark)
    return photo


def job_of(photo: ApiCall) -> str:
    return photo.buttons[0]["callback_data"].split(":")[3]


def generate_jobs(settings) -> int:
    return len([row for row in jobs_table(settings) if row[0] == "generate"])


async def send_file(api: TelegramAPIEmulator, chat: int, data: bytes, name: str = "viper-profile.json",
                    caption: str | None = "/profile import") -> tuple[int, dict]:
    """A member sends a file (📎) in their private chat; returns the mark and the message."""
    mark = api.mark()
    return mark, await api.push_document(chat, chat, data, name, caption)


def without_date(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "exported_at"}


# -- share codes and blends --------------------------------------------------------------------------------


@bounded
async def test_a_share_code_paints_in_its_owners_taste_and_blends_until_revoked(painting):
    api, core, settings = painting.api, painting.core, painting.settings
    alice, bob, group = 5101, 5102, -100510
    for text in ("/like teal, soft light", "/dislike neon"):
        await answer_to(api, alice, text, "Added")

    # Asked in a group, the code is personal: it goes to Alice's private chat.
    mark, told = await in_group(api, group, api.user(alice, "Alice"), f"/profile@{BOT} share")
    assert told.text == messages.ANSWERED_PRIVATELY
    shared = await api.wait_for(sent(alice, "share code"), since=mark)
    code = SHARE_CODE.search(shared.text).group()
    assert not [c for c in api.calls_to("sendMessage", chat_id=group) if SHARE_CODE.search(c.text)]

    # Bob paints in Alice's taste (a code is read in any case).
    photo = await imagine(api, bob, f"a fox --p {code.lower()}")
    request = (await core.store.job(job_of(photo))).request
    assert (request["liked"], request["disliked"], request["profiles"]) == (["teal", "soft light"], ["neon"], [code])
    assert "personalised with your taste profile" in photo.text

    # Blended with Bob's own taste: neon (Bob likes it, Alice dislikes it) is dropped from both sides.
    for text in ("/like neon, fog", "/dislike clutter"):
        await answer_to(api, bob, text, "Added")
    photo = await imagine(api, bob, f"a fox --p me {code}")
    request = (await core.store.job(job_of(photo))).request
    assert (request["liked"], request["disliked"]) == (["teal", "fog", "soft light"], ["clutter"])

    # Revoked: refused, and nothing is queued.
    assert "Revoked 1 share code" in (await answer_to(api, alice, "/profile unshare")).text
    jobs_before = generate_jobs(settings)
    refused = await answer_to(api, bob, f"/imagine a fox --p {code}")
    assert refused.text.startswith("Sorry, I don't know the share code") and "nothing was queued" in refused.text
    assert generate_jobs(settings) == jobs_before


@bounded
async def test_unknown_codes_are_rate_limited_and_nothing_is_queued(viper):
    api, settings, carol = viper.api, viper.settings, 5201
    refused = await answer_to(api, carol, "/imagine a fox --p me")
    assert refused.text.startswith("Sorry, ") and "“me” has nothing to add" in refused.text
    for i in range(MAX_FAILED_LOOKUPS):
        refused = await answer_to(api, carol, f"/imagine a fox --p vp-{i:08d}")
        assert f"I don't know the share code vp-{i:08d}" in refused.text
    limited = await answer_to(api, carol, "/imagine a fox --p vp-ZZZZZZZZ")
    assert limited.text.startswith("Sorry, too many unknown codes were tried from your account; try again in ")
    assert "minute" in limited.text
    assert jobs_table(settings) == []


# -- one person on Telegram and Discord ----------------------------------------------------------------------


@bounded
async def test_link_codes_stay_out_of_groups(viper):
    api, core, group = viper.api, viper.core, -100520
    dana, dana_dc = api.user(5301, "Dana"), MemberRef("discord", "930", "dana")

    # /link in a group: the private-chat button, and no code.
    _, told = await in_group(api, group, dana, f"/link@{BOT}")
    assert told.text == messages.TO_PRIVATE["link"]
    assert [b["url"] for b in told.buttons] == [f"https://t.me/{BOT}?start=link"]
    # A code typed in a group has been seen there: it is cancelled.
    code = LINK_CODE.search(await core.start_link(dana_dc)).group(1)
    _, told = await in_group(api, group, dana, f"/link@{BOT} {code}")
    assert told.text == messages.LINK_CODE_IN_GROUP
    assert [b["url"] for b in told.buttons] == [f"https://t.me/{BOT}?start=link"]
    with pytest.raises(InvalidArgument, match="unknown or has expired"):
        await core.ask_link(tg(5301), code)
    # Dana never opened the private chat: share and unlink are not done, only pointed there; the
    # deep link of a revoking or splitting command does nothing by itself.
    for command, what, payload in ((f"/profile@{BOT} share", "share", "share"),
                                   (f"/profile@{BOT} unshare", "unshare", "profile"),
                                   (f"/unlink@{BOT}", "unlink", "profile"),
                                   (f"/profile@{BOT} export", "export", "export")):
        _, told = await in_group(api, group, dana, command)
        assert told.text == messages.TO_PRIVATE[what], command
        assert [b["url"] for b in told.buttons] == [f"https://t.me/{BOT}?start={payload}"], command
    assert await core.store.share_codes((await core.member(tg(5301))).id) == []
    refusals = [c for c in api.errors if c.chat_id == 5301]
    assert {c.method for c in refusals} == {"sendChatAction"}
    for call in refusals:
        api.errors.remove(call)  # expected: the refusals the bot handled

    # The button's deep link: /start link in private shows a code, which Discord can use.
    shown = await answer_to(api, 5301, "/start link", "link code")
    code = LINK_CODE.search(shown.text).group(1)
    assert "On Discord, type /link code: " + code in shown.text
    ask = await core.ask_link(dana_dc, code)
    assert "Link this Discord account with Telegram (" in ask.text
    # /start share: a code, privately.
    assert SHARE_CODE.search((await answer_to(api, 5301, "/start share")).text) is None  # no profile yet
    await answer_to(api, 5301, "/like teal", "Added")
    assert SHARE_CODE.search((await answer_to(api, 5301, "/start share", "share code")).text)
    # Cancel leaves both accounts as they were.
    code = LINK_CODE.search(await core.start_link(dana_dc)).group(1)
    question = await answer_to(api, 5301, f"/link {code}", "🔗 Link this Telegram account")
    assert [b["text"] for b in question.buttons] == ["🔗 Link them", "Cancel"]
    mark = await tap(api, 5301, question.result["message_id"], button(question, "Cancel"))
    cancelled = await api.wait_for(edited(5301, question.result["message_id"]), since=mark)
    assert cancelled.text == messages.LINK_CANCELLED and cancelled.buttons == []
    assert (await core.member(tg(5301))).id != (await core.member(dana_dc)).id


@bounded
async def test_link_with_discord_merge_unlink_and_forget_the_person(painting):
    api, core, chat = painting.api, painting.core, 5401
    dana_tg, dana_dc = tg(chat), MemberRef("discord", "940", "dana")
    await answer_to(api, chat, "/like teal", "Added")
    images = core.gallery.images
    await core.add_comment(dana_tg, images[0].id, "love the teal waves")
    await core.add_taste(dana_dc, "gold", liked=True)
    await core.add_comment(dana_dc, images[1].id, "the gold light is lovely")

    code = LINK_CODE.search(await core.start_link(dana_dc)).group(1)
    question = await answer_to(api, chat, f"/link {code.lower()}", "🔗 Link this Telegram account")
    assert "Discord (dana)" in question.text and "keep one, or merge" in question.text
    assert [b["text"] for b in question.buttons] == [
        "Keep the Discord profile", "Keep this Telegram one", "Merge both", "Cancel"]
    assert all(b["callback_data"].endswith(f":{chat}") for b in question.buttons)

    # Merge both: all comments are read again (on the worker) and the question becomes the answer.
    mark = await tap(api, chat, question.result["message_id"], button(question, "Merge both"))
    await api.wait_for(answered, since=mark)
    linked = await api.wait_for(edited(chat, question.result["message_id"]), 30, since=mark)
    assert linked.text.startswith("🔗 Linked: ") and "Your taste profile" in linked.text and linked.buttons == []
    assert (await core.member(dana_tg)).id == (await core.member(dana_dc)).id
    assert await core.comment_count(dana_tg) == 2

    profile = await answer_to(api, chat, "/profile", "Your taste profile")
    assert "🔗 One profile for your accounts: " in profile.text
    assert "Discord (dana)" in profile.text and "Telegram (" in profile.text

    unlinked = await answer_to(api, chat, "/unlink")
    assert unlinked.text.startswith("Unlinked ") and "each keeps a copy" in unlinked.text
    assert (await core.member(dana_tg)).id != (await core.member(dana_dc)).id
    assert "🔗" not in (await answer_to(api, chat, "/profile", "Your taste profile")).text
    assert (await answer_to(api, chat, "/unlink")).text == messages.NOTHING_TO_UNLINK

    # Linked again the other way (the code shown here, used on Discord), then /forget: one person,
    # every account of it goes.
    code = LINK_CODE.search((await answer_to(api, chat, "/link", "link code")).text).group(1)
    await core.ask_link(dana_dc, code)
    await core.press(dana_dc, "link", [code, "home", dana_dc.user_id])
    ask = await answer_to(api, chat, "/forget", "Delete everything")
    assert "your linked accounts Telegram (" in ask.text and "Discord (dana), all of them" in ask.text
    mark = await tap(api, chat, ask.result["message_id"], button(ask, messages.FORGET_YES))
    gone = await api.wait_for(edited(chat, ask.result["message_id"]), since=mark)
    assert gone.text.startswith("Deleted ")
    assert await core.known_member(dana_tg) is None and await core.known_member(dana_dc) is None


# -- export and import ------------------------------------------------------------------------------------------


@bounded
async def test_export_then_import_by_sending_the_file_back(viper):
    api, core, chat, group = viper.api, viper.core, 5501, -100550
    erin = tg(chat)
    for text in ("/like teal, soft light", "/dislike neon"):
        await answer_to(api, chat, text, "Added")
    await core.add_comment(erin, core.gallery.images[0].id, "love the teal waves — très belle")
    await core.update_settings(erin, ar="3x2", strength="1.5")

    mark = await say(api, chat, "/profile export")
    export = await api.wait_for(sent(chat, method="sendDocument"), since=mark)
    data = export.files["document"]
    assert export.file_names["document"] == "viper-profile.json"
    assert export.result["document"]["file_name"] == "viper-profile.json"
    assert export.text == messages.EXPORT_CAPTION
    assert data.startswith(b'{\n  "format": "viper-profile"') and "très belle".encode() in data  # UTF-8, indented
    exported = json.loads(data.decode("utf-8"))
    assert without_date(exported) == without_date(await core.export_profile(erin))
    assert exported["profile"]["liked"] == ["teal", "soft light"] and exported["settings"]["ar"] == "3:2"

    # From a group, the file goes to the private chat.
    mark, told = await in_group(api, group, api.user(chat, "Erin"), f"/profile@{BOT} export")
    assert told.text == messages.ANSWERED_PRIVATELY
    await api.wait_for(sent(chat, method="sendDocument"), since=mark)
    assert api.calls_to("sendDocument", chat_id=group) == []

    # Typed without a file, /profile import says how; an unknown word names the four.
    assert (await answer_to(api, chat, "/profile import")).text == messages.IMPORT_HOW
    assert (await answer_to(api, chat, "/profile frobnicate")).text == messages.PROFILE_USAGE
    mark, _ = await send_file(api, chat, data, caption=None)  # the file without its caption
    assert (await api.wait_for(sent(chat), since=mark)).text == messages.IMPORT_HOW

    # The profile changes; sending the file back shows what would change, and changes nothing yet.
    await answer_to(api, chat, "/like gold", "Added")
    mark, document = await send_file(api, chat, data, caption=f"/profile@{BOT} import")
    ask = await api.wait_for(sent(chat, "📥"), since=mark)
    assert "− liked: gold" in ask.text and "Comments: 1 now, 1 after." in ask.text
    assert ask.params["reply_parameters"]["message_id"] == document["message_id"]
    assert [b["text"] for b in ask.buttons] == [messages.IMPORT_YES, messages.IMPORT_NO]
    assert (await core.profile(erin)).liked == ["gold", "teal", "soft light"]
    assert [c.params["file_id"] for c in api.calls_to("getFile", since=mark)] == [document["document"]["file_id"]]

    mark = await tap(api, chat, ask.result["message_id"], button(ask, messages.IMPORT_YES))
    assert (await api.wait_for(answered, since=mark)).text == "Imported"
    done = await api.wait_for(edited(chat, ask.result["message_id"]), since=mark)
    assert done.text.startswith("📥 Imported.") and done.buttons == []
    assert without_date(await core.export_profile(erin)) == without_date(exported)

    # Another member's file, kept out: "Keep mine" changes nothing.
    await answer_to(api, chat, "/dislike fog", "Added")
    before = await core.export_profile(erin)
    mark, _ = await send_file(api, chat, data)
    ask = await api.wait_for(sent(chat, "📥"), since=mark)
    mark = await tap(api, chat, ask.result["message_id"], button(ask, messages.IMPORT_NO))
    assert (await api.wait_for(edited(chat, ask.result["message_id"]), since=mark)).text == messages.IMPORT_KEPT
    assert without_date(await core.export_profile(erin)) == without_date(before)


@bounded
async def test_malformed_oversized_and_foreign_files_are_refused(viper):
    api, core, chat = viper.api, viper.core, 5601
    frank = tg(chat)
    await answer_to(api, chat, "/like teal", "Added")
    before = await core.export_profile(frank)
    for data, name, says in (
        (b'{"format": "viper-profile", "version": 1, ', "viper-profile.json", "isn't a JSON document"),
        (b" " * 1_100_000, "viper-profile.json", "that file is 1.1 MB; a profile export is under 1 MB"),
        (json.dumps({"liked": ["teal"], "disliked": []}).encode(), "other.json", "isn't a ViPer profile export"),
        (b"\x89PNG\r\n\x1a\n", "picture.png", "isn't a JSON document"),
    ):
        mark, document = await send_file(api, chat, data, name)
        refused = await api.wait_for(sent(chat), since=mark)
        assert refused.text.startswith("Sorry, ") and says in refused.text, name
        assert refused.params["reply_parameters"]["message_id"] == document["message_id"]
        assert refused.buttons == []
        if len(data) > 1_000_000:  # refused by its size alone: never downloaded
            assert api.calls_to("getFile", since=mark) == []
    assert without_date(await core.export_profile(frank)) == without_date(before)
    assert await core.store.pending_import((await core.member(frank)).id) is None

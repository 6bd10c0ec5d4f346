"""Profiles that travel on Discord, end to end (#12): `/profile action:` share, unshare, export and
import (`file:`), `/imagine profile:` and `/link` / `/unlink`.

Same stack as `test_discord_e2e.py`: the real discord.py bot started through `run_discord`, the core,
the SQLite file and Redis; only Discord is emulated (`tests/emulators/discord_api.py`), members'
clients included (a file picked for an attachment option is uploaded to the emulated CDN, and every
download the bot makes is recorded). Nothing here paints: what an /imagine asks for is read from the
job it recorded, and the worker runs only where linking merges two profiles (an extraction). Each
test is bounded by `LIMIT_S`.
"""

from __future__ import annotations

import json

import pytest

from bot import messages
from bot.core import MemberRef
from bot.messages import NOT_YOURS
from tests.bot.harness import bounded_by, private_answer
from tests.bot.test_discord_e2e import ALICE, BOB, db_rows, interact
from tests.emulators.discord_api import (
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    DiscordEmulator,
    SentInteraction,
)

LIMIT_S = 60  # each test; nothing here waits for an image
bounded = bounded_by(LIMIT_S)
ALICE_TG = MemberRef("telegram", "5150", "Alice")  # Alice's Telegram account, made through the core


def who(user: dict) -> MemberRef:
    return MemberRef("discord", user["id"])


def jobs_count(settings) -> int:
    return db_rows(settings, "SELECT COUNT(*) FROM jobs")[0][0]


async def answer(emu: DiscordEmulator, sent: SentInteraction) -> dict:
    """The private message that answered a command, whether at once or after "thinking"."""
    await emu.response(sent)
    return await private_answer(emu, sent, "a taste is private: every answer here is ephemeral")


async def command(emu: DiscordEmulator, name: str, user: dict, **options) -> dict:
    sent = await emu.send_interaction(emu.slash_command(name, user, **options))
    return await answer(emu, sent)


def code_in(text: str, prefix: str = "vp-") -> str:
    return next(word for word in text.replace("\n", " ").split() if word.startswith(prefix))


def job_in(status: dict) -> str:
    """The job an /imagine status message follows (its ✖ Cancel button carries it)."""
    [cancel] = [k for k in DiscordEmulator.buttons(status) if k.startswith("viper:ic:")]
    return cancel.removeprefix("viper:ic:")


def exported(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "exported_at"}


@bounded
async def test_profile_options_are_synced(emu):
    options = {o["name"]: o for o in next(c for c in emu.commands["global"] if c["name"] == "profile")["options"]}
    assert list(options) == ["action", "file"] and not any(o.get("required") for o in options.values())
    assert [c["value"] for c in options["action"]["choices"]] == ["share", "unshare", "export", "import"]
    assert options["file"]["type"] == 11  # an attachment
    imagine = {o["name"]: o for o in next(c for c in emu.commands["global"] if c["name"] == "imagine")["options"]}
    assert imagine["profile"]["type"] == 3 and not imagine["profile"].get("required")
    link = next(c for c in emu.commands["global"] if c["name"] == "link")
    assert [(o["name"], o.get("required", False)) for o in link["options"]] == [("code", False)]
    assert any(c["name"] == "unlink" for c in emu.commands["global"])


@bounded
async def test_a_share_code_paints_in_its_owners_taste_until_revoked(runtime, settings, emu):
    core = runtime.core
    refused = await command(emu, "profile", ALICE, action="share")
    assert refused["content"] == "Sorry, you have no taste profile to share yet."
    await command(emu, "like", ALICE, features="teal, soft light")
    await command(emu, "dislike", ALICE, features="neon")

    shared = await command(emu, "profile", ALICE, action="share")
    code = code_in(shared["content"])
    assert shared["content"] == messages.shared(code)

    # Bob paints with Alice's code (typed in lower case, as people do): her features, not his.
    await command(emu, "like", BOB, features="crimson")
    status = await command(emu, "imagine", BOB, prompt="a fox", profile=code.lower())
    job = await core.store.job(job_in(status))
    assert job.member_id == (await core.member(who(BOB))).id
    assert (job.request["liked"], job.request["disliked"], job.request["profiles"]) == (
        ["teal", "soft light"], ["neon"], [code])
    # Blended with his own ("me"): interleaved, first features first.
    status = await command(emu, "imagine", BOB, prompt="a fox", profile=f"me {code}")
    assert (await core.store.job(job_in(status))).request["liked"] == ["crimson", "teal", "soft light"]

    # Not a code: refused naming the option, nothing queued.
    before = jobs_count(settings)
    refused = await command(emu, "imagine", BOB, prompt="a fox", profile="alice")
    assert refused["content"].startswith("Sorry, the profile option takes 1 to 4 share codes")
    assert "“alice”" in refused["content"] and not emu.buttons(refused)
    assert jobs_count(settings) == before

    # Revoked: the code paints nothing any more.
    unshared = await command(emu, "profile", ALICE, action="unshare")
    assert unshared["content"] == messages.unshared(1)
    refused = await command(emu, "imagine", BOB, prompt="a fox", profile=code)
    assert refused["content"] == f"Sorry, I don't know the share code {code} (it may have been revoked); nothing was queued."
    assert jobs_count(settings) == before
    assert (await command(emu, "profile", ALICE, action="unshare"))["content"] == messages.unshared(0)


@bounded
async def test_export_then_import_puts_the_profile_back(runtime, settings, emu):
    core = runtime.core
    await command(emu, "like", ALICE, features="teal, soft light")
    await command(emu, "dislike", ALICE, features="neon")
    await core.add_comment(who(ALICE), core.gallery.images[0].id, "love the teal waves")
    await command(emu, "settings", ALICE, ar="3:2")

    # Export: a private JSON file, UTF-8 and indented, that is the core's document.
    message = await command(emu, "profile", ALICE, action="export")
    [attachment] = message["attachments"]
    assert attachment["filename"] == "viper-profile.json"
    data = emu.attachments[attachment["id"]]
    document = json.loads(data.decode("utf-8"))
    assert data.startswith(b'{\n  "format": "viper-profile"')
    assert exported(document) == exported(await core.export_profile(who(ALICE)))
    assert document["profile"]["liked"] == ["teal", "soft light"] and document["settings"]["ar"] == "3:2"

    # The profile changes; importing the file shows what would change, and changes nothing yet.
    await command(emu, "like", ALICE, features="gold")
    await command(emu, "settings", ALICE, ar="16:9")
    changed = exported(await core.export_profile(who(ALICE)))
    upload = emu.attachment("viper-profile.json", data)
    sent = await emu.send_interaction(emu.slash_command("profile", ALICE, action="import", file=upload))
    assert (await emu.response(sent)).json["type"] == DEFERRED_CHANNEL_MESSAGE
    question = await answer(emu, sent)
    assert emu.downloads == [upload["id"]]
    assert question["content"].startswith("📥 This file would replace") and "− liked: gold" in question["content"]
    owner = ALICE["id"]
    assert [(b["custom_id"], b["label"]) for b in emu.buttons(question).values()] == [
        (f"viper:imp:yes:{owner}", messages.IMPORT_YES), (f"viper:imp:no:{owner}", messages.IMPORT_NO)]
    assert exported(await core.export_profile(who(ALICE))) == changed

    # Someone else's press is refused; Alice's replaces the question with the imported profile.
    _, response = await interact(emu, emu.button_click(question, f"viper:imp:yes:{owner}", BOB))
    assert response.json["data"]["content"] == NOT_YOURS and response.json["data"]["flags"] & EPHEMERAL
    _, response = await interact(emu, emu.button_click(question, f"viper:imp:yes:{owner}", ALICE))
    assert response.json["type"] == DEFERRED_UPDATE_MESSAGE
    done = await emu.wait_until(lambda: (m := emu.messages[question["id"]])["content"].startswith("📥 Imported") and m,
                                what="the question replaced by the answer")
    assert not done["components"] and "👍 Liked: teal, soft light" in done["content"]
    assert exported(await core.export_profile(who(ALICE))) == exported(document)

    # A file without an action can only be an import; "Keep mine" keeps the profile as it is.
    await command(emu, "like", ALICE, features="gold")
    kept = exported(await core.export_profile(who(ALICE)))
    question = await command(emu, "profile", ALICE, file=emu.attachment("mine.json", data))
    assert "− liked: gold" in question["content"]
    await interact(emu, emu.button_click(question, f"viper:imp:no:{owner}", ALICE))
    await emu.wait_until(lambda: emu.messages[question["id"]]["content"] == messages.IMPORT_KEPT, what="Kept")
    assert exported(await core.export_profile(who(ALICE))) == kept


@pytest.mark.parametrize("name, data, says", [
    ("notes.json", b"{not json", "isn't a JSON document"),
    ("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "isn't a JSON document"),
    ("other.json", b'{"liked": ["teal"]}', "isn't a ViPer profile export"),
    ("big.json", b" " * 1_000_001, "that file is 1.0 MB; a profile export is under 1 MB"),
])
@bounded
async def test_bad_files_are_refused_and_nothing_changes(runtime, emu, name, data, says):
    core = runtime.core
    await command(emu, "like", ALICE, features="teal")
    before = exported(await core.export_profile(who(ALICE)))
    upload = emu.attachment(name, data, "image/png" if name.endswith(".png") else "application/json")
    refused = await command(emu, "profile", ALICE, action="import", file=upload)
    assert refused["content"].startswith("Sorry, ") and says in refused["content"] and not emu.buttons(refused)
    # A file over the limit is refused from its size: it is never downloaded.
    assert emu.downloads == ([] if len(data) > 1_000_000 else [upload["id"]])
    assert exported(await core.export_profile(who(ALICE))) == before
    assert await core.store.pending_import((await core.member(who(ALICE))).id) is None


@bounded
async def test_import_without_a_file_says_how(runtime, emu):
    refused = await command(emu, "profile", ALICE, action="import")
    assert refused["content"].startswith("Sorry, attach the file /profile export made")
    refused = await command(emu, "profile", ALICE, action="export")  # a stranger has nothing to export
    assert "nothing to export" in refused["content"] and not refused["attachments"]


@bounded
async def test_link_with_telegram_in_two_steps_then_unlink(runtime, settings, emu):
    core = runtime.core
    await core.member(ALICE_TG)
    await core.add_taste(ALICE_TG, "teal, ink wash", liked=True)
    await command(emu, "like", ALICE, features="gold")

    # Step 1, on Telegram: a one-time code.
    code = (await core.start_link(ALICE_TG)).split("Your link code: ")[1].split()[0]
    # A wrong code is refused; a Discord-made code is for Telegram.
    refused = await command(emu, "link", ALICE, code="ZZZZZZZZ")
    assert refused["content"] == f"Sorry, {messages.LINK_UNKNOWN}."
    own = await command(emu, "link", BOB)
    assert own["content"].startswith("🔗 Your link code: ") and "On Telegram, type /link " in own["content"]
    refused = await command(emu, "link", ALICE, code=own["content"].split("Your link code: ")[1].split()[0])
    assert refused["content"] == f"Sorry, {messages.link_same_platform('discord')}."

    # Step 2, on Discord: what joining would do, with Alice's choices (typed in lower case).
    question = await command(emu, "link", ALICE, code=code.lower())
    assert question["content"].startswith("🔗 Link this Discord account with Telegram (Alice)?")
    owner = ALICE["id"]
    assert list(emu.buttons(question)) == [f"viper:link:{code}:{choice}:{owner}" for choice in ("home", "other", "merge", "no")]
    _, response = await interact(emu, emu.button_click(question, f"viper:link:{code}:home:{owner}", BOB))
    assert response.json["data"]["content"] == NOT_YOURS
    _, response = await interact(emu, emu.button_click(question, f"viper:link:{code}:home:{owner}", ALICE))
    assert response.json["type"] == DEFERRED_UPDATE_MESSAGE
    linked = await emu.wait_until(lambda: (m := emu.messages[question["id"]])["content"].startswith("🔗 Linked") and m,
                                  what="the question replaced by the answer")
    assert not linked["components"] and "Telegram (Alice)" in linked["content"]
    assert (await core.member(ALICE_TG)).id == (await core.member(who(ALICE))).id

    # One profile (the Telegram one, kept), used on Discord and listed with both accounts.
    shown = (await command(emu, "profile", ALICE))["content"]
    assert "👍 Liked: teal, ink wash" in shown and "Telegram (Alice)" in shown and "Discord (Alice)" in shown
    status = await command(emu, "imagine", ALICE, prompt="a fox")
    assert (await core.store.job(job_in(status))).request["liked"] == ["teal", "ink wash"]
    # The code worked once.
    refused = await command(emu, "link", ALICE, code=code)
    assert refused["content"] == f"Sorry, {messages.LINK_UNKNOWN}."

    # /unlink: each keeps a copy; a second /unlink has nothing to split.
    split = await command(emu, "unlink", ALICE)
    assert split["content"].startswith("Unlinked ") and "each keeps a copy" in split["content"]
    assert (await core.member(ALICE_TG)).id != (await core.member(who(ALICE))).id
    assert (await core.profile(who(ALICE))).liked == ["teal", "ink wash"]
    assert (await command(emu, "unlink", ALICE))["content"] == messages.NOTHING_TO_UNLINK


@bounded
async def test_merging_on_link_reads_every_comment_again(runtime, worker, emu):
    """Merge rebuilds the profile from the comments of both accounts (an extraction by the worker):
    the press is acknowledged at once and the answer then replaces the question."""
    core = runtime.core
    await core.add_taste(ALICE_TG, "teal", liked=True)
    await core.add_comment(ALICE_TG, core.gallery.images[0].id, "love the teal waves and the soft light")
    await command(emu, "like", ALICE, features="gold")
    await core.add_comment(who(ALICE), core.gallery.images[1].id, "the harsh neon glare is ugly")
    code = (await core.start_link(ALICE_TG)).split("Your link code: ")[1].split()[0]

    question = await command(emu, "link", ALICE, code=code)
    assert "keep one, or merge them" in question["content"]
    labels = {b["custom_id"].split(":")[3]: b["label"] for b in emu.buttons(question).values()}
    assert labels == {"home": "Keep the Telegram profile", "other": "Keep this Discord one", "merge": "Merge both",
                      "no": "Cancel"}
    _, response = await interact(emu, emu.button_click(question, f"viper:link:{code}:merge:{ALICE['id']}", ALICE))
    assert response.json["type"] == DEFERRED_UPDATE_MESSAGE
    merged = await emu.wait_until(lambda: (m := emu.messages[question["id"]])["content"].startswith("🔗 Linked") and m,
                                  timeout=30, what="the merged profile in place of the question")
    profile = await core.profile(who(ALICE))
    assert messages.format_profile(profile, "") in merged["content"] and not merged["components"]
    assert await core.comment_count(ALICE_TG) == 2 and profile == await core.profile(ALICE_TG)

"""Profiles that travel, in the core: share codes and blends, one person on two platforms, export and
import, on a real SQLite file and a real Redis (the worker only where an image or a profile is made).
Both adapters' end-to-end tests drive the same flows through the real chat stacks.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from bot import messages
from bot.core import MemberRef
from bot.core.people import MAX_FAILED_LOOKUPS, blend
from viper.contracts.errors import InvalidArgument, NotYours

ALICE_TG = MemberRef("telegram", "7", "Alice")
ALICE_DC = MemberRef("discord", "700", "alice")
BOB = MemberRef("telegram", "8", "Bob")


@pytest.fixture
def core(runtime):
    return runtime.core


async def give_profile(core, who, liked, disliked):
    member = await core.member(who)
    await core.store.save_profile(member.id, liked, disliked, "member")
    return member


def code_in(text: str) -> str:
    return next(word for word in text.replace("\n", " ").split() if word.startswith("vp-"))


def test_blend_interleaves_and_drops_conflicts():
    liked, disliked = blend([(["teal", "fog", "gold"], ["neon"]), (["ink", "neon", "fog"], ["gold", "clutter"])])
    assert liked == ["teal", "ink", "fog"]  # gold and neon are liked by one and disliked by the other
    assert disliked == ["clutter"]


async def test_a_share_code_paints_in_its_owners_taste_until_revoked(core):
    await give_profile(core, ALICE_TG, ["teal", "soft light"], ["neon"])
    code = code_in(await core.share(ALICE_TG))
    assert len(code) == 11 and code.startswith("vp-")
    submitted = await core.submit_imagine(BOB, f"a fox --p {code.lower()}", {})
    job = await core.store.job(submitted.job_id)
    assert (job.request["liked"], job.request["disliked"], job.request["profiles"]) == (
        ["teal", "soft light"], ["neon"], [code])
    assert code in messages.result_info(job.request, {"seed": 1, "width": 64, "height": 64}, "a fox")
    assert "Alice" not in messages.result_info(job.request, {"seed": 1}, "a fox")
    # It follows the profile as it changes.
    await give_profile(core, ALICE_TG, ["ink wash"], [])
    later = await core.submit_imagine(BOB, f"a fox --p {code}", {})
    assert later.request.liked == ["ink wash"]
    assert "Revoked 1 share code" in await core.unshare(ALICE_TG)
    bob = await core.member(BOB)
    before = await core.store.job_ids(bob.id)
    with pytest.raises(InvalidArgument, match="don't know the share code"):
        await core.submit_imagine(BOB, f"a fox --p {code}", {})
    assert await core.store.job_ids(bob.id) == before


async def test_blending_codes_with_me(core):
    await give_profile(core, ALICE_TG, ["teal", "gold"], ["neon"])
    await give_profile(core, BOB, ["neon", "fog"], ["clutter"])
    code = code_in(await core.share(ALICE_TG))
    submitted = await core.submit_imagine(BOB, f"a fox --p me {code}", {})
    assert submitted.request.liked == ["teal", "fog", "gold"] and submitted.request.disliked == ["clutter"]


async def test_unknown_codes_are_rate_limited_per_account(core):
    await give_profile(core, ALICE_TG, ["teal"], [])
    good = code_in(await core.share(ALICE_TG))
    for i in range(MAX_FAILED_LOOKUPS):
        with pytest.raises(InvalidArgument, match="don't know"):
            await core.submit_imagine(BOB, f"a fox --p vp-{i:08d}", {})
    with pytest.raises(InvalidArgument, match="too many unknown codes") as caught:
        await core.submit_imagine(BOB, f"a fox --p {good}", {})  # even a real one, until the hour passes
    assert "minute" in caught.value.message
    await core.submit_imagine(ALICE_TG, f"a fox --p {good}", {})  # other accounts are not affected


async def test_linking_two_platforms_makes_one_person_and_unlink_splits_it(core, worker):
    await give_profile(core, ALICE_TG, ["teal"], ["neon"])
    await core.add_comment(ALICE_TG, core.gallery.images[0].id, "love the teal waves")
    await give_profile(core, ALICE_DC, ["gold"], [])
    await core.add_comment(ALICE_DC, core.gallery.images[1].id, "the gold light is lovely")
    text = await core.start_link(ALICE_TG)
    code = text.split("Your link code: ")[1].split()[0]
    with pytest.raises(InvalidArgument, match="use it on Discord"):
        await core.ask_link(BOB, code)
    ask = await core.ask_link(ALICE_DC, code.lower())
    assert "Telegram (Alice)" in ask.text and "keep one, or merge" in ask.text
    choices = [b.args[1] for b in ask.rows[0]]
    assert choices == ["home", "other", "merge"] and all(b.args[2] == ALICE_DC.user_id for b in ask.rows[0])
    with pytest.raises(NotYours):
        await core.press(ALICE_TG, "link", list(ask.rows[0][0].args))
    done = await core.press(ALICE_DC, "link", [code, "merge", ALICE_DC.user_id])
    assert "Linked" in done.text and done.edit
    tg, dc = await core.member(ALICE_TG), await core.member(ALICE_DC)
    assert tg.id == dc.id and tg.account_id != dc.account_id
    assert await core.comment_count(ALICE_DC) == 2
    profile = await core.profile(ALICE_DC)
    assert profile.linked == ["Telegram (Alice)", "Discord (alice)"]
    # /imagine on either platform uses the one profile.
    assert (await core.submit_imagine(ALICE_DC, "a fox", {})).request.liked == profile.liked
    assert (await core.submit_imagine(ALICE_TG, "a fox", {})).request.liked == profile.liked
    with pytest.raises(InvalidArgument, match="unknown or has expired"):
        await core.ask_link(ALICE_DC, code)  # one time only
    # /unlink: each keeps a copy.
    assert "each keeps a copy" in await core.unlink(ALICE_DC)
    tg, dc = await core.member(ALICE_TG), await core.member(ALICE_DC)
    assert tg.id != dc.id
    assert (await core.profile(ALICE_DC)).liked == (await core.profile(ALICE_TG)).liked == profile.liked
    assert (await core.profile(ALICE_TG)).linked == []


async def test_keep_one_profile_when_linking(core):
    await give_profile(core, ALICE_TG, ["teal"], ["neon"])
    await give_profile(core, ALICE_DC, ["gold"], [])
    code = (await core.start_link(ALICE_DC)).split("Your link code: ")[1].split()[0]
    await core.ask_link(ALICE_TG, code)
    await core.press(ALICE_TG, "link", [code, "other", ALICE_TG.user_id])  # keep this (Telegram) one
    assert (await core.profile(ALICE_DC)).liked == ["teal"]


async def test_forget_on_a_linked_person_removes_every_row_of_both_accounts(core, settings):
    await give_profile(core, ALICE_TG, ["teal"], [])
    await core.add_comment(ALICE_DC, core.gallery.images[0].id, "lovely teal")
    await core.update_settings(ALICE_DC, ar="16x9")
    await core.share(ALICE_TG)
    code = (await core.start_link(ALICE_TG)).split("Your link code: ")[1].split()[0]
    await core.ask_link(ALICE_DC, code)
    await core.press(ALICE_DC, "link", [code, "home", ALICE_DC.user_id])
    stored = await core.stored_about(ALICE_TG)
    assert "your linked accounts Telegram (Alice) and Discord (alice), all of them" in stored
    assert await core.forget(ALICE_TG)
    db = sqlite3.connect(settings.storage.database_path)
    for table in ("persons", "members", "profiles", "comments", "member_settings", "share_codes", "onboarding"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    db.close()


async def test_export_then_import_round_trips_exactly(core):
    member = await give_profile(core, ALICE_TG, ["teal", "soft light"], ["neon"])
    await core.add_comment(ALICE_TG, core.gallery.images[0].id, "love the teal waves")
    await core.add_comment(ALICE_TG, core.gallery.images[1].id, "too busy")
    await core.update_settings(ALICE_TG, ar="3x2", strength="1.5", delivery="private")
    exported = await core.export_profile(ALICE_TG)
    data = json.dumps(exported).encode()
    # Imported by another account: the same document comes back out.
    ask = await core.ask_import(BOB, data)
    assert "+ liked: teal, soft light" in ask.text and ask.rows[0][0].label == messages.IMPORT_YES
    assert await core.profile(BOB) is None  # nothing changes before the confirmation
    done = await core.press(BOB, "imp", ["yes", BOB.user_id])
    assert done.edit and "Imported" in done.text
    again = await core.export_profile(BOB)
    assert {k: v for k, v in again.items() if k != "exported_at"} == {
        k: v for k, v in exported.items() if k != "exported_at"}
    # And into the same account, after a change: exactly what was exported.
    await core.add_taste(ALICE_TG, "gold", liked=True)
    await core.ask_import(ALICE_TG, data)
    await core.press(ALICE_TG, "imp", ["yes", ALICE_TG.user_id])
    assert (await core.store.profile(member.id)).liked == ["teal", "soft light"]


@pytest.mark.parametrize("data, says", [
    (b"x" * 1_000_001, "under 1 MB"),
    (b"\xff\xfe not json", "isn't a JSON document"),
    (b"{\"liked\": []}", "isn't a ViPer profile export"),
    (json.dumps({"format": "viper-profile", "version": 9}).encode(), "newer than this bot reads"),
    (json.dumps({"format": "viper-profile", "version": 1, "profile": {"liked": "teal", "disliked": []}}).encode(),
     "profile.liked must be a list"),
    (json.dumps({"format": "viper-profile", "version": 1, "comments": [{"text": 5}]}).encode(), "comments[0].text"),
    (json.dumps({"format": "viper-profile", "version": 1, "settings": {"ar": "5:4"}}).encode(), "ar must be one of"),
])
async def test_bad_files_are_refused_and_nothing_changes(core, data, says):
    await give_profile(core, ALICE_TG, ["teal"], [])
    before = await core.export_profile(ALICE_TG)
    with pytest.raises(InvalidArgument, match=says.replace("[", r"\[").replace("]", r"\]")):
        await core.ask_import(ALICE_TG, data)
    with pytest.raises(InvalidArgument, match="no longer waiting"):
        await core.press(ALICE_TG, "imp", ["yes", ALICE_TG.user_id])
    after = await core.export_profile(ALICE_TG)
    assert {k: v for k, v in after.items() if k != "exported_at"} == {
        k: v for k, v in before.items() if k != "exported_at"}

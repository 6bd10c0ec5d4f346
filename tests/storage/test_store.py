"""The SQLite store on a real file: migrations from empty, and what survives a restart."""

from __future__ import annotations

import sqlite3

from storage.store import JobRecord, Store, _migrations


async def test_migrations_from_empty_create_every_table(tmp_path):
    path = tmp_path / "viper.sqlite3"
    store = await Store.open(path)
    assert await store.schema_version() == max(v for v, _, _ in _migrations())
    await store.close()
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"members", "profiles", "comments", "onboarding", "posted_images", "jobs", "schema_migrations"} <= tables


async def test_reopening_applies_nothing_twice_and_keeps_profiles(tmp_path):
    path = tmp_path / "viper.sqlite3"
    store = await Store.open(path)
    alice = await store.member("telegram", 42, "Alice")
    await store.save_profile(alice.id, ["teal", "flowing lines"], ["harsh yellow"], "lexicon", "1")
    await store.close()

    store = await Store.open(path)  # a bot restart
    again = await store.member("telegram", "42")
    assert again.id == alice.id and again.display_name == "Alice"
    profile = await store.profile(alice.id)
    assert (profile.liked, profile.disliked, profile.backend) == (["teal", "flowing lines"], ["harsh yellow"], "lexicon")
    assert await store.schema_version() == max(v for v, _, _ in _migrations())
    await store.close()


async def test_members_are_per_platform(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite3")
    tg = await store.member("telegram", 7)
    dc = await store.member("discord", 7)
    assert tg.id != dc.id
    assert await store.find_member("cli", 7) is None
    await store.close()


async def test_a_second_comment_on_the_same_image_replaces_the_first(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite3")
    m = await store.member("discord", 1)
    assert await store.add_comment(m.id, "g01", "love it") == 1
    assert await store.add_comment(m.id, "g02", "too busy") == 2
    assert await store.add_comment(m.id, "g01", "actually the teal is lovely") == 2
    assert [c.text for c in await store.comments(m.id)] == ["too busy", "actually the teal is lovely"]
    await store.close()


async def test_forget_member_deletes_everything_about_them(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite3")
    m = await store.member("telegram", 5)
    other = await store.member("telegram", 6)
    await store.add_comment(m.id, "g01", "nice")
    await store.add_comment(other.id, "g01", "meh")
    await store.save_profile(m.id, ["a"], ["b"], "lexicon")
    await store.set_onboarding(m.id, "done")
    await store.record_job(JobRecord("j1", m.id, "generate", "telegram", {"chat_id": 1}, "a cat"))
    await store.forget_member(m.id)
    assert await store.find_member("telegram", 5) is None
    assert await store.profile(m.id) is None
    assert await store.comments(m.id) == []
    assert await store.job("j1") is None
    assert await store.comment_count(other.id) == 1
    await store.close()


async def test_jobs_are_recorded_and_listed_until_delivered(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite3")
    m = await store.member("telegram", 9)
    await store.record_job(JobRecord("j1", m.id, "generate", "telegram", {"chat_id": 3}, "a lighthouse"))
    await store.record_job(JobRecord("j2", m.id, "generate", "discord", {}, "a cat"))
    assert [j.id for j in await store.undelivered_jobs("telegram")] == ["j1"]
    await store.update_job("j1", "done", chat_ref={"chat_id": 3, "status_message_id": 77})
    job = await store.job("j1")
    assert job.status == "done" and job.chat_ref["status_message_id"] == 77 and job.prompt == "a lighthouse"
    await store.update_job("j1", "delivered")
    assert await store.undelivered_jobs("telegram") == []
    await store.update_job("j2", "failed", error="worker crashed")
    assert (await store.job("j2")).error == "worker crashed"
    await store.close()


async def test_onboarding_page_and_posted_images(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite3")
    m = await store.member("telegram", 3)
    await store.set_onboarding(m.id, "active", 2)
    await store.set_onboarding(m.id, "extracting")  # page kept when not given
    state = await store.onboarding(m.id)
    assert (state.state, state.page) == ("extracting", 2)
    await store.remember_posted_image("telegram", -100, 555, "g07")
    assert await store.posted_image("telegram", "-100", "555") == "g07"
    assert await store.posted_image("discord", -100, 555) is None
    await store.close()


async def test_migration_0004_keeps_existing_jobs_and_cascades_the_new_rows(tmp_path):
    """A database from before the creative loop opens with its jobs intact; a member's results,
    verdicts, settings and profile snapshots go when the member goes."""
    path = tmp_path / "viper.sqlite3"
    store = await Store.open(path)
    alice = await store.member("telegram", 42, "Alice")
    await store.record_job(JobRecord("job-old", alice.id, "generate", "telegram", {"chat_id": 1}, "a fox"))
    await store.close()
    db = sqlite3.connect(path)  # back to schema 3, as an older bot left it
    for table in ("results", "result_messages", "feedback", "member_settings", "profile_history"):
        db.execute(f"DROP TABLE {table}")
    db.execute("ALTER TABLE jobs DROP COLUMN request")
    db.execute("DELETE FROM schema_migrations WHERE version = 4")
    db.commit()
    db.close()

    store = await Store.open(path)
    old = await store.job("job-old")
    assert (old.prompt, old.chat_ref, old.request) == ("a fox", {"chat_id": 1}, {})
    await store.save_profile(alice.id, ["teal"], [], "lexicon")
    await store.save_result("job-old", alice.id, {"seed": 1, "personalised": True}, str(tmp_path / "x.png"))
    await store.set_feedback("job-old", alice.id, 1)
    await store.set_feedback("job-old", alice.id, -1)  # changeable: still one verdict
    snapshot = await store.snapshot_profile(alice.id)
    profile = await store.profile(alice.id)
    assert (profile.liked_images, profile.disliked_images, profile.personalised_images) == (0, 1, 1)
    assert (await store.profile_snapshot(snapshot)).liked == ["teal"]
    await store.forget_member(alice.id)
    db = sqlite3.connect(path)
    for table in ("results", "feedback", "member_settings", "profile_history", "jobs"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    await store.close()


async def test_undo_reaches_back_a_bounded_number_of_changes(tmp_path):
    from storage.store import KEPT_SNAPSHOTS

    store = await Store.open(tmp_path / "db.sqlite3")
    alice = await store.member("telegram", 1)
    ids = [await store.snapshot_profile(alice.id) for _ in range(KEPT_SNAPSHOTS + 5)]
    assert await store.profile_snapshot(ids[0]) is None
    assert await store.profile_snapshot(ids[-KEPT_SNAPSHOTS]) is not None
    await store.close()

"""`viper profile export` / `import` and `viper imagine --p`, as a user runs them: the real `viper`
command in a subprocess, on its own data directory."""

from __future__ import annotations

import asyncio
import json

from storage.store import MemberSettings, Store
from tests.test_cli import viper


async def _seed(db) -> None:
    store = await Store.open(db)
    alice = await store.member("telegram", 42, "Alice")
    await store.save_profile(alice.id, ["teal", "soft light"], ["neon"], "lexicon", "1")
    await store.add_comment(alice.id, "g01", "love the teal")
    await store.save_member_settings(alice.id, MemberSettings(ar="16:9"))
    await store.close()


def test_export_then_import_into_another_member_round_trips(tmp_path):
    asyncio.run(_seed(tmp_path / "data" / "viper.sqlite3"))
    out = viper(tmp_path, "profile", "export", "--user", "telegram:42", timeout=60)
    assert out.returncode == 0, out.stderr
    exported = json.loads(out.stdout)
    assert exported["format"] == "viper-profile" and exported["profile"]["liked"] == ["teal", "soft light"]
    assert exported["comments"][0]["text"] == "love the teal" and exported["settings"]["ar"] == "16:9"
    (tmp_path / "alice.json").write_text(out.stdout)

    # Without a terminal to confirm on, nothing happens unless --yes says so.
    refused = viper(tmp_path, "profile", "import", "--user", "discord:9", str(tmp_path / "alice.json"), timeout=60)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = viper(tmp_path, "profile", "import", "--user", "discord:9", "alice.json", "--yes", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "+ liked: teal, soft light" in done.stdout and "Imported" in done.stdout
    again = json.loads(viper(tmp_path, "profile", "export", "--user", "discord:9", timeout=60).stdout)
    assert {k: v for k, v in again.items() if k != "exported_at"} == {
        k: v for k, v in exported.items() if k != "exported_at"}


def test_a_foreign_file_is_refused_with_what_is_wrong(tmp_path):
    asyncio.run(_seed(tmp_path / "data" / "viper.sqlite3"))
    (tmp_path / "x.json").write_text('{"liked": ["teal"]}')
    run = viper(tmp_path, "profile", "import", "--user", "telegram:42", "x.json", "--yes", timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == ('error (file): that file isn\'t a ViPer profile export (it has no "format": '
                                  '"viper-profile")')
    bad_code = viper(tmp_path, "imagine", "a fox", "--p", "vp-123", timeout=60)
    assert bad_code.returncode == 2 and "is not a share code" in bad_code.stderr

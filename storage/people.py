"""The store's person-level operations: linking and unlinking accounts, share codes, link codes,
lookups for rate limits, pending imports, and everything a profile export holds.

A mixin of `storage.store.Store` (it uses the store's connection, `_write` and `transaction`); the
model is in migration 0005: a person's data is keyed by their home account's id, which is also the
person's id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Tables whose rows belong to a person and simply move with them when two people become one.
MOVING_TABLES = ("comments", "jobs", "results", "profile_history")
# Tables with one row per person: the home's row wins, the other's moves over only if home has none.
ONE_PER_PERSON = ("onboarding", "member_settings")


@dataclass
class ExportedComment:
    text: str
    image: str | None
    created_at: str


@dataclass
class ExportedVerdict:
    image: str
    verdict: int
    updated_at: str


class PeopleStore:
    _db = None  # set by Store

    # -- linking ---------------------------------------------------------------------------------

    async def merge_persons(self, home: int, other: int, keep_profile: str) -> None:
        """Make `other` part of person `home`: its accounts, comments, jobs, results, verdicts and
        share codes move over; `keep_profile` is "home", "other" or "none" (the caller rebuilds it)."""
        async with self.transaction():
            for table in MOVING_TABLES:
                await self._write(f"UPDATE {table} SET member_id = ? WHERE member_id = ?", (home, other))
            await self._write("UPDATE OR IGNORE feedback SET member_id = ? WHERE member_id = ?", (home, other))
            await self._write("DELETE FROM feedback WHERE member_id = ?", (other,))
            for table in ONE_PER_PERSON:
                await self._write(f"UPDATE OR IGNORE {table} SET member_id = ? WHERE member_id = ?", (home, other))
                await self._write(f"DELETE FROM {table} WHERE member_id = ?", (other,))
            if keep_profile == "other":
                await self._write("DELETE FROM profiles WHERE member_id = ?", (home,))
                await self._write("UPDATE profiles SET member_id = ? WHERE member_id = ?", (home, other))
            await self._write("DELETE FROM profiles WHERE member_id = ?", (other,))
            await self._write("UPDATE share_codes SET person_id = ? WHERE person_id = ?", (home, other))
            await self._write("UPDATE members SET person_id = ? WHERE person_id = ?", (home, other))
            await self._write("DELETE FROM persons WHERE id = ?", (other,))

    async def unlink_accounts(self, person_id: int) -> list[int]:
        """Make every account of the person but the home one a person of its own again, each with a
        copy of the profile and settings; returns their account ids."""
        async with self.transaction():
            async with self._db.execute(
                "SELECT id FROM members WHERE person_id = ? AND id != ?", (person_id, person_id)
            ) as cur:
                others = [row[0] for row in await cur.fetchall()]
            for account in others:
                await self._write("INSERT OR IGNORE INTO persons(id) VALUES (?)", (account,))
                await self._write("UPDATE members SET person_id = id WHERE id = ?", (account,))
                await self._write(
                    "INSERT INTO profiles(member_id, liked, disliked, backend, backend_version, updated_at)"
                    " SELECT ?, liked, disliked, backend, backend_version, updated_at FROM profiles WHERE member_id = ?",
                    (account, person_id),
                )
                await self._write(
                    "INSERT INTO member_settings(member_id, ar, strength, steps, delivery)"
                    " SELECT ?, ar, strength, steps, delivery FROM member_settings WHERE member_id = ?",
                    (account, person_id),
                )
            return others

    async def add_link_code(self, code: str, person_id: int, platform: str, ttl_s: int) -> None:
        async with self.transaction():
            await self._write("DELETE FROM link_codes WHERE person_id = ? OR expires_at <= datetime('now')", (person_id,))
            await self._write(
                "INSERT INTO link_codes(code, person_id, platform, expires_at) VALUES (?, ?, ?, datetime('now', ?))",
                (code, person_id, platform, f"+{int(ttl_s)} seconds"),
            )

    async def link_code(self, code: str) -> tuple[int, str] | None:
        """(person id, platform it was shown on) of a link code that has not expired."""
        async with self._db.execute(
            "SELECT person_id, platform FROM link_codes WHERE code = ? AND expires_at > datetime('now')", (code,)
        ) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def drop_link_code(self, code: str) -> None:
        await self._write("DELETE FROM link_codes WHERE code = ?", (code,))

    # -- share codes -----------------------------------------------------------------------------

    async def add_share_code(self, code: str, person_id: int) -> None:
        await self._write("INSERT INTO share_codes(code, person_id) VALUES (?, ?)", (code, person_id))

    async def share_codes(self, person_id: int) -> list[str]:
        async with self._db.execute(
            "SELECT code FROM share_codes WHERE person_id = ? ORDER BY created_at", (person_id,)
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def revoke_share_codes(self, person_id: int) -> int:
        return await self._write("DELETE FROM share_codes WHERE person_id = ?", (person_id,))

    async def share_code_person(self, code: str) -> int | None:
        async with self._db.execute("SELECT person_id FROM share_codes WHERE code = ?", (code,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def record_lookup(self, account_id: int, found: bool) -> None:
        async with self.transaction():
            await self._write("DELETE FROM code_lookups WHERE at <= datetime('now', '-1 day')")
            await self._write("INSERT INTO code_lookups(account_id, found) VALUES (?, ?)", (account_id, found))

    async def failed_lookups(self, account_id: int, within_s: int) -> tuple[int, str | None]:
        """How many unknown codes the account tried in the last `within_s` seconds, and when the
        oldest of them was (UTC, SQLite's text form)."""
        async with self._db.execute(
            "SELECT COUNT(*), MIN(at) FROM code_lookups WHERE account_id = ? AND NOT found AND at > datetime('now', ?)",
            (account_id, f"-{int(within_s)} seconds"),
        ) as cur:
            row = await cur.fetchone()
        return row[0], row[1]

    # -- export and import ---------------------------------------------------------------------------

    async def exported_comments(self, person_id: int) -> list[ExportedComment]:
        async with self._db.execute(
            "SELECT text, image_id, created_at FROM comments WHERE member_id = ? ORDER BY id", (person_id,)
        ) as cur:
            return [ExportedComment(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def exported_verdicts(self, person_id: int) -> list[ExportedVerdict]:
        async with self._db.execute(
            "SELECT job_id, verdict, updated_at FROM feedback WHERE member_id = ? ORDER BY job_id", (person_id,)
        ) as cur:
            return [ExportedVerdict(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def replace_comments(self, person_id: int, comments: list[ExportedComment]) -> None:
        async with self.transaction():
            await self._write("DELETE FROM comments WHERE member_id = ?", (person_id,))
            for c in comments:
                await self._write(
                    "INSERT INTO comments(member_id, image_id, text, created_at)"
                    " VALUES (?, ?, ?, COALESCE(NULLIF(?, ''), datetime('now')))",
                    (person_id, c.image, c.text, c.created_at),
                )

    async def replace_verdicts(self, person_id: int, verdicts: list[ExportedVerdict]) -> None:
        """The person's verdicts become `verdicts`, for those images they still have."""
        async with self.transaction():
            await self._write("DELETE FROM feedback WHERE member_id = ?", (person_id,))
            for v in verdicts:
                await self._write(
                    "INSERT INTO feedback(job_id, member_id, verdict, updated_at)"
                    " SELECT id, ?, ?, COALESCE(NULLIF(?, ''), datetime('now')) FROM jobs"
                    " WHERE id = ? AND member_id = ?",
                    (person_id, v.verdict, v.updated_at, v.image, person_id),
                )

    async def delete_profile(self, person_id: int) -> None:
        await self._write("DELETE FROM profiles WHERE member_id = ?", (person_id,))

    async def set_profile_dates(self, person_id: int, updated_at: str) -> None:
        await self._write("UPDATE profiles SET updated_at = ? WHERE member_id = ?", (updated_at, person_id))

    async def set_pending_import(self, person_id: int, document: dict) -> None:
        await self._write(
            "INSERT OR REPLACE INTO pending_imports(person_id, document) VALUES (?, ?)", (person_id, json.dumps(document))
        )

    async def pending_import(self, person_id: int) -> dict | None:
        async with self._db.execute("SELECT document FROM pending_imports WHERE person_id = ?", (person_id,)) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def drop_pending_import(self, person_id: int) -> None:
        await self._write("DELETE FROM pending_imports WHERE person_id = ?", (person_id,))

"""The store's server-level operations (migration 0006): per-server settings and blocked terms, the
refusals admins review, and the counts that limits and /admin stats read.

A mixin of `storage.store.Store`. A scope is `platform:id`: a Discord server or a Telegram group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class ScopeSettings:
    scope: str
    images_per_day: int | None = None
    cooldown_s: float | None = None
    channels: list[str] = field(default_factory=list)
    paused: bool = False
    held_jobs: dict[str, float] = field(default_factory=dict)


@dataclass
class Refusal:
    rule: str
    detail: str
    what: str
    at: str
    member_id: int | None
    text: str | None = None


class ServerStore:
    _db = None  # set by Store

    async def scope_settings(self, scope: str) -> ScopeSettings:
        async with self._db.execute("SELECT * FROM scope_settings WHERE scope = ?", (scope,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return ScopeSettings(scope)
        return ScopeSettings(scope, row["images_per_day"], row["cooldown_s"], json.loads(row["channels"]),
                             bool(row["paused"]), json.loads(row["held_jobs"]))

    async def save_scope_settings(self, s: ScopeSettings) -> None:
        await self._write(
            "INSERT INTO scope_settings(scope, images_per_day, cooldown_s, channels, paused, held_jobs)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE SET images_per_day = excluded.images_per_day,"
            " cooldown_s = excluded.cooldown_s, channels = excluded.channels, paused = excluded.paused,"
            " held_jobs = excluded.held_jobs, updated_at = datetime('now')",
            (s.scope, s.images_per_day, s.cooldown_s, json.dumps(s.channels), int(s.paused), json.dumps(s.held_jobs)),
        )

    async def scope_terms(self, scope: str) -> list[str]:
        async with self._db.execute("SELECT term FROM scope_terms WHERE scope = ? ORDER BY term", (scope,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def add_scope_term(self, scope: str, term: str) -> bool:
        return await self._write("INSERT OR IGNORE INTO scope_terms(scope, term) VALUES (?, ?)", (scope, term)) > 0

    async def remove_scope_term(self, scope: str, term: str) -> bool:
        return await self._write("DELETE FROM scope_terms WHERE scope = ? AND term = ?", (scope, term)) > 0

    async def record_refusal(self, scope: str | None, member_id: int | None, rule: str, detail: str = "",
                             what: str = "", text: str | None = None) -> None:
        await self._write(
            "INSERT INTO refusals(scope, member_id, rule, detail, what, text) VALUES (?, ?, ?, ?, ?, ?)",
            (scope, member_id, rule, detail, what, text),
        )

    async def refusals(self, scope: str | None, since_s: int = 86_400) -> list[Refusal]:
        async with self._db.execute(
            "SELECT rule, detail, what, at, member_id, text FROM refusals WHERE scope IS ? AND at > datetime('now', ?)"
            " ORDER BY id", (scope, f"-{int(since_s)} seconds"),
        ) as cur:
            return [Refusal(*row) for row in await cur.fetchall()]

    async def set_job_scope(self, job_id: str, scope: str | None) -> None:
        await self._write("UPDATE jobs SET scope = ? WHERE id = ?", (scope, job_id))

    async def images_today(self, member_id: int) -> tuple[int, str | None]:
        """Generation jobs the member asked for today (UTC), failed and cancelled ones not counted,
        and when their latest one (of any day) was asked for."""
        async with self._db.execute(
            "SELECT COALESCE(SUM(created_at >= date('now') AND status NOT IN ('failed', 'cancelled')), 0),"
            " MAX(created_at) FROM jobs WHERE member_id = ? AND kind = 'generate'", (member_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]), row[1]

    async def scope_stats(self, scope: str) -> tuple[int, int]:
        """(images asked for today, distinct members who asked) in a server or group."""
        async with self._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT member_id) FROM jobs WHERE scope = ? AND kind = 'generate'"
            " AND created_at >= date('now')", (scope,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]), int(row[1])

    async def queued_jobs(self, member_id: int | None = None, scope: str | None = None) -> list[str]:
        """Ids of generation jobs still queued (not yet painted), oldest first, of a member or a scope."""
        where, params = ["kind = 'generate'", "status = 'queued'"], []
        if member_id is not None:
            where.append("member_id = ?")
            params.append(member_id)
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        async with self._db.execute(
            f"SELECT id FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at", params
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

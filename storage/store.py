"""The SQLite store (aiosqlite): one file, numbered SQL migrations applied at open.

Every method is a small transaction of its own, unless it runs inside `Store.transaction()`, which
makes a use case's several writes one transaction (and keeps other coroutines' writes out of it).
JSON columns hold keyword lists and chat references. States are `viper.contracts.states` enums.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.people import PeopleStore
from storage.servers import ServerStore
from viper.contracts.states import UNDELIVERED, JobState, OnboardingState

MIGRATIONS_PACKAGE = "storage.migrations"
KEPT_SNAPSHOTS = 20  # profiles kept per member for Undo


@dataclass
class Member:
    """A platform account, seen through the person it belongs to.

    `id` keys everything stored about the person (their home account's id, which is also the
    person's id: see migration 0005); `account_id` is this account's own row.
    """

    id: int
    platform: str
    platform_user_id: str
    display_name: str = ""
    account_id: int = 0

    @property
    def label(self) -> str:
        """How members read an account: "Telegram (Alice)"."""
        return f"{self.platform.capitalize()} ({self.display_name or self.platform_user_id})"


@dataclass
class Profile:
    member_id: int
    liked: list[str]
    disliked: list[str]
    backend: str
    backend_version: str = ""
    updated_at: str = ""
    # The member's verdicts on their personalised images (👍 / 👎), and how many they were shown.
    liked_images: int = 0
    disliked_images: int = 0
    personalised_images: int = 0
    # The person's platform accounts ("Telegram (Alice)"), when they linked more than one.
    linked: list[str] = field(default_factory=list)


@dataclass
class StoredComment:
    id: int
    image_id: str | None
    text: str


@dataclass
class Onboarding:
    member_id: int
    state: OnboardingState
    page: int
    position: int = 0
    pending_image_id: str | None = None
    updated_at: str = ""


@dataclass
class JobRecord:
    id: str
    member_id: int | None
    kind: str
    platform: str
    chat_ref: dict = field(default_factory=dict)
    prompt: str = ""
    status: JobState = JobState.QUEUED
    error: str | None = None
    request: dict = field(default_factory=dict)  # the GenerateRequest as queued (no bytes), see 0004
    scope: str | None = None  # the server or group it came from ("platform:id"), see 0006


@dataclass
class ResultRecord:
    """A finished image: the job that made it, how (its GenerateResult without the PNG), and where
    its PNG lies."""

    job: JobRecord
    member_id: int
    made: dict
    png_path: str


@dataclass
class MemberSettings:
    """A member's /imagine defaults (None: the operator's) and where their results are posted."""

    ar: str | None = None
    strength: float | None = None
    steps: int | None = None
    delivery: str = "channel"  # channel | private


@dataclass
class ProfileSnapshot:
    """A profile as it was before extraction replaced it (`existed` False: there was none)."""

    id: int
    member_id: int
    existed: bool
    liked: list[str]
    disliked: list[str]
    backend: str
    backend_version: str


def _migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every `NNNN_name.sql` file, in order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Store(PeopleStore, ServerStore):
    """Async access to the SQLite file. Create with `await Store.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: Path):
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()
        self._tx_owner: asyncio.Task | None = None

    @classmethod
    async def open(cls, path: str | Path) -> "Store":
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA busy_timeout = 5000")
        # Deleted rows are overwritten, not left in free pages: /forget must not leave text behind.
        await db.execute("PRAGMA secure_delete = ON")
        store = cls(db, path)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    @contextlib.asynccontextmanager
    async def transaction(self):
        """Run the block's writes as one transaction: all of them are kept, or none."""
        if self._tx_owner is not None and self._tx_owner is asyncio.current_task():
            yield  # already inside this task's transaction
            return
        async with self._lock:
            self._tx_owner = asyncio.current_task()
            try:
                yield
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
            finally:
                self._tx_owner = None

    async def _write(self, sql: str, params: tuple = ()) -> int:
        """Run one writing statement (committed at once, unless inside `transaction`); its row count."""
        if self._tx_owner is not None and self._tx_owner is asyncio.current_task():
            cursor = await self._db.execute(sql, params)
            return cursor.rowcount
        async with self._lock:
            cursor = await self._db.execute(sql, params)
            await self._db.commit()
            return cursor.rowcount

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] for row in await cur.fetchall()}
        for version, name, sql in _migrations():
            if version in applied:
                continue
            # executescript commits first; wrap each file in its own transaction so a failure
            # leaves the previous schema intact.
            await self._db.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO schema_migrations(version, name) VALUES ({version}, '{name}');\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            return (await cur.fetchone())[0]

    # -- members -------------------------------------------------------------------------------

    async def member(self, platform: str, platform_user_id: str | int, display_name: str = "") -> Member:
        """The member for this platform account, created on first sight (a person of their own)."""
        uid = str(platform_user_id)
        async with self.transaction():
            await self._write(
                "INSERT INTO members(platform, platform_user_id, display_name) VALUES (?, ?, ?)"
                " ON CONFLICT(platform, platform_user_id) DO UPDATE SET display_name ="
                " CASE WHEN excluded.display_name != '' THEN excluded.display_name ELSE display_name END",
                (platform, uid, display_name),
            )
            found = await self.find_member(platform, uid)
            if found.id is None:  # new: the account is the home of a new person with its id
                await self._write("INSERT OR IGNORE INTO persons(id) VALUES (?)", (found.account_id,))
                await self._write("UPDATE members SET person_id = id WHERE id = ?", (found.account_id,))
                found.id = found.account_id
        return found

    _MEMBER_COLUMNS = "person_id, id, platform, platform_user_id, display_name"

    @staticmethod
    def _member(row) -> Member:
        return Member(row["person_id"], row["platform"], row["platform_user_id"], row["display_name"], row["id"])

    async def find_member(self, platform: str, platform_user_id: str | int) -> Member | None:
        async with self._db.execute(
            f"SELECT {self._MEMBER_COLUMNS} FROM members WHERE platform = ? AND platform_user_id = ?",
            (platform, str(platform_user_id)),
        ) as cur:
            row = await cur.fetchone()
        return self._member(row) if row else None

    async def members_named(self, display_name: str) -> list[Member]:
        async with self._db.execute(
            f"SELECT {self._MEMBER_COLUMNS} FROM members WHERE display_name = ?", (display_name,)
        ) as cur:
            return [self._member(r) for r in await cur.fetchall()]

    async def accounts(self, person_id: int) -> list[Member]:
        """Every platform account of a person, the home account first."""
        async with self._db.execute(
            f"SELECT {self._MEMBER_COLUMNS} FROM members WHERE person_id = ? ORDER BY id != person_id, id",
            (person_id,),
        ) as cur:
            return [self._member(r) for r in await cur.fetchall()]

    async def forget_member(self, member_id: int, *, private_chat: tuple[str, str] | None = None) -> None:
        """Delete the person and every account of theirs and, by cascade, everything stored about
        them; also which gallery images were posted in their accounts' private chats (`private_chat`,
        (platform, chat id), adds one more). The WAL is checkpointed after, so the deleted text does
        not linger in it while the bot runs."""
        async with self.transaction():
            chats = [(a.platform, a.platform_user_id) for a in await self.accounts(member_id)]
            if private_chat is not None:
                chats.append(private_chat)
            await self._write("DELETE FROM persons WHERE id = ?", (member_id,))
            await self._write("DELETE FROM members WHERE id = ? OR person_id = ?", (member_id, member_id))
            for chat in chats:
                await self._write("DELETE FROM posted_images WHERE platform = ? AND chat_id = ?", chat)
        async with self._lock:
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def job_ids(self, member_id: int) -> list[str]:
        async with self._db.execute("SELECT id FROM jobs WHERE member_id = ?", (member_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    # -- profiles ------------------------------------------------------------------------------

    async def profile(self, member_id: int) -> Profile | None:
        async with self._db.execute(
            "SELECT member_id, liked, disliked, backend, backend_version, updated_at FROM profiles WHERE member_id = ?",
            (member_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        up, down, personalised = await self._verdicts(member_id)
        accounts = await self.accounts(member_id)
        linked = [a.label for a in accounts]
        return Profile(
            row["member_id"], json.loads(row["liked"]), json.loads(row["disliked"]),
            row["backend"], row["backend_version"], row["updated_at"], up, down, personalised,
            linked if len(linked) > 1 else [],
        )

    async def _verdicts(self, member_id: int) -> tuple[int, int, int]:
        """(👍, 👎, personalised images made) for the member's own personalised results."""
        async with self._db.execute(
            "SELECT COALESCE(SUM(f.verdict = 1), 0), COALESCE(SUM(f.verdict = -1), 0), COUNT(*) FROM results r"
            " LEFT JOIN feedback f ON f.job_id = r.job_id AND f.member_id = r.member_id"
            " WHERE r.member_id = ? AND json_extract(r.made, '$.personalised')",
            (member_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    async def snapshot_profile(self, member_id: int) -> int:
        """Keep the member's profile as it is now (or that they have none) for Undo; its id."""
        profile = await self.profile(member_id)
        async with self.transaction():
            await self._write(
                "INSERT INTO profile_history(member_id, existed, liked, disliked, backend, backend_version, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (member_id, profile is not None, json.dumps(profile.liked if profile else []),
                 json.dumps(profile.disliked if profile else []), profile.backend if profile else "",
                 profile.backend_version if profile else "", profile.updated_at if profile else ""),
            )
            async with self._db.execute("SELECT last_insert_rowid()") as cur:
                snapshot_id = (await cur.fetchone())[0]
            await self._write(  # Undo reaches back a few changes, not forever
                "DELETE FROM profile_history WHERE member_id = ? AND id <= ?",
                (member_id, snapshot_id - KEPT_SNAPSHOTS),
            )
            return snapshot_id

    async def profile_snapshot(self, snapshot_id: int) -> ProfileSnapshot | None:
        async with self._db.execute("SELECT * FROM profile_history WHERE id = ?", (snapshot_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ProfileSnapshot(row["id"], row["member_id"], bool(row["existed"]), json.loads(row["liked"]),
                               json.loads(row["disliked"]), row["backend"], row["backend_version"])

    async def restore_profile(self, snapshot: ProfileSnapshot) -> None:
        """Put a snapshot back exactly (deleting the profile if there was none); the snapshot and any
        newer ones are used up."""
        async with self.transaction():
            if snapshot.existed:
                await self.save_profile(snapshot.member_id, snapshot.liked, snapshot.disliked, snapshot.backend,
                                        snapshot.backend_version)
            else:
                await self._write("DELETE FROM profiles WHERE member_id = ?", (snapshot.member_id,))
            await self._write("DELETE FROM profile_history WHERE member_id = ? AND id >= ?",
                              (snapshot.member_id, snapshot.id))

    async def save_profile(
        self, member_id: int, liked: list[str], disliked: list[str], backend: str, backend_version: str = ""
    ) -> None:
        await self._write(
            "INSERT INTO profiles(member_id, liked, disliked, backend, backend_version, updated_at)"
            " VALUES (?, ?, ?, ?, ?, datetime('now')) ON CONFLICT(member_id) DO UPDATE SET liked = excluded.liked,"
            " disliked = excluded.disliked, backend = excluded.backend, backend_version = excluded.backend_version,"
            " updated_at = excluded.updated_at",
            (member_id, json.dumps(liked), json.dumps(disliked), backend, backend_version),
        )

    # -- comments and onboarding ---------------------------------------------------------------

    async def add_comment(self, member_id: int, image_id: str | None, text: str) -> int:
        """Store a comment (replacing an earlier one on the same image); return the member's count."""
        async with self.transaction():
            if image_id is not None:
                await self._write("DELETE FROM comments WHERE member_id = ? AND image_id = ?", (member_id, image_id))
            await self._write(
                "INSERT INTO comments(member_id, image_id, text) VALUES (?, ?, ?)", (member_id, image_id, text)
            )
            return await self.comment_count(member_id)

    async def comment_count(self, member_id: int) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM comments WHERE member_id = ?", (member_id,)) as cur:
            return (await cur.fetchone())[0]

    async def comments(self, member_id: int) -> list[StoredComment]:
        async with self._db.execute(
            "SELECT id, image_id, text FROM comments WHERE member_id = ? ORDER BY id", (member_id,)
        ) as cur:
            return [StoredComment(r["id"], r["image_id"], r["text"]) for r in await cur.fetchall()]

    async def clear_comments(self, member_id: int) -> None:
        await self._write("DELETE FROM comments WHERE member_id = ?", (member_id,))

    async def onboarding(self, member_id: int) -> Onboarding | None:
        async with self._db.execute(
            "SELECT member_id, state, page, position, pending_image_id, updated_at FROM onboarding WHERE member_id = ?",
            (member_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Onboarding(
            row["member_id"], OnboardingState(row["state"]), row["page"], row["position"], row["pending_image_id"], row["updated_at"]
        )

    async def set_onboarding(self, member_id: int, state: OnboardingState, page: int | None = None) -> None:
        await self._write(
            "INSERT INTO onboarding(member_id, state, page, updated_at) VALUES (?, ?, COALESCE(?, 0), datetime('now'))"
            " ON CONFLICT(member_id) DO UPDATE SET state = excluded.state,"
            " page = COALESCE(?, page), updated_at = excluded.updated_at",
            (member_id, state, page, page),
        )

    async def claim_extraction(self, member_id: int, stale_after_s: float) -> bool:
        """Mark the member's onboarding `extracting`, in one statement, unless another extraction
        holds it (one that started less than `stale_after_s` ago); False when one does."""
        rows = await self._write(
            "INSERT INTO onboarding(member_id, state, updated_at) VALUES (?, ?, datetime('now'))"
            " ON CONFLICT(member_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
            " WHERE onboarding.state != excluded.state OR onboarding.updated_at <= datetime('now', ?)",
            (member_id, OnboardingState.EXTRACTING, f"-{max(0, int(stale_after_s))} seconds"),
        )
        return rows > 0

    async def set_onboarding_position(
        self, member_id: int, *, position: int | None = None, pending_image_id: str | None = None,
        clear_pending: bool = False,
    ) -> None:
        """Save the pager position and/or the image a member chose to comment on next."""
        await self._write(
            "UPDATE onboarding SET position = COALESCE(?, position),"
            " pending_image_id = CASE WHEN ? THEN NULL ELSE COALESCE(?, pending_image_id) END,"
            " updated_at = datetime('now') WHERE member_id = ?",
            (position, clear_pending, pending_image_id, member_id),
        )

    async def remember_posted_image(self, platform: str, chat_id: str | int, message_id: str | int, image_id: str) -> None:
        """Remember which gallery image a bot message shows, so a reply to it maps to the image."""
        await self._write(
            "INSERT OR REPLACE INTO posted_images(platform, chat_id, message_id, image_id) VALUES (?, ?, ?, ?)",
            (platform, str(chat_id), str(message_id), image_id),
        )

    async def forget_chat(self, platform: str, chat_id: str | int) -> None:
        """Forget which gallery images were posted in a chat (a member's private chat, on /forget)."""
        await self._write(
            "DELETE FROM posted_images WHERE platform = ? AND chat_id = ?",
            (platform, str(chat_id)),
        )

    async def posted_image(self, platform: str, chat_id: str | int, message_id: str | int) -> str | None:
        async with self._db.execute(
            "SELECT image_id FROM posted_images WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (platform, str(chat_id), str(message_id)),
        ) as cur:
            row = await cur.fetchone()
        return row["image_id"] if row else None

    # -- files already uploaded to a platform --------------------------------------------------

    async def uploaded_files(self, platform: str) -> dict[str, str]:
        """file key -> the platform's id for a file the bot uploaded before (see migration 0003)."""
        async with self._db.execute(
            "SELECT file_key, file_id FROM uploaded_files WHERE platform = ?", (platform,)
        ) as cur:
            return {row["file_key"]: row["file_id"] for row in await cur.fetchall()}

    async def remember_uploads(self, platform: str, file_ids: dict[str, str]) -> None:
        async with self.transaction():
            for key, file_id in file_ids.items():
                await self._write(
                    "INSERT OR REPLACE INTO uploaded_files(platform, file_key, file_id) VALUES (?, ?, ?)",
                    (platform, key, file_id),
                )

    async def forget_uploads(self, platform: str) -> None:
        """Drop every remembered upload (the platform refused one: send the bytes again)."""
        await self._write("DELETE FROM uploaded_files WHERE platform = ?", (platform,))

    # -- jobs ----------------------------------------------------------------------------------

    async def record_job(self, job: JobRecord) -> None:
        await self._write(
            "INSERT INTO jobs(id, member_id, kind, platform, chat_ref, prompt, status, request, scope)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.member_id, job.kind, job.platform, json.dumps(job.chat_ref), job.prompt, job.status,
             json.dumps(job.request), job.scope),
        )

    async def update_job(
        self, job_id: str, status: JobState, *, error: str | None = None, chat_ref: dict | None = None
    ) -> None:
        await self._write(
            "UPDATE jobs SET status = ?, error = COALESCE(?, error), chat_ref = COALESCE(?, chat_ref),"
            " updated_at = datetime('now') WHERE id = ?",
            (status, error, json.dumps(chat_ref) if chat_ref is not None else None, job_id),
        )

    async def job(self, job_id: str) -> JobRecord | None:
        async with self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return self._job(row) if row else None

    async def undelivered_jobs(self, platform: str) -> list[JobRecord]:
        """Jobs started on `platform` whose result has not reached the member yet (for resuming after a restart)."""
        async with self._db.execute(
            "SELECT * FROM jobs WHERE platform = ? AND status IN (?, ?) ORDER BY created_at", (platform, *UNDELIVERED)
        ) as cur:
            return [self._job(r) for r in await cur.fetchall()]

    @staticmethod
    def _job(row) -> JobRecord:
        return JobRecord(
            row["id"], row["member_id"], row["kind"], row["platform"], json.loads(row["chat_ref"]),
            row["prompt"], JobState(row["status"]), row["error"], json.loads(row["request"] or "{}"), row["scope"],
        )

    # -- results: the images jobs made, the messages showing them, verdicts ----------------------

    async def save_result(self, job_id: str, member_id: int, made: dict, png_path: str) -> None:
        await self._write(
            "INSERT OR REPLACE INTO results(job_id, member_id, made, png_path) VALUES (?, ?, ?, ?)",
            (job_id, member_id, json.dumps(made), png_path),
        )

    async def result(self, job_id: str) -> ResultRecord | None:
        async with self._db.execute(
            "SELECT j.*, r.member_id AS owner, r.made, r.png_path FROM results r JOIN jobs j ON j.id = r.job_id"
            " WHERE r.job_id = ?", (job_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ResultRecord(self._job(row), row["owner"], json.loads(row["made"]), row["png_path"])

    async def drop_results_before(self, days: int) -> list[str]:
        """Forget the results older than `days` days; returns their PNG paths (for the caller to delete)."""
        cutoff = f"-{int(days)} days"
        async with self.transaction():
            async with self._db.execute("SELECT png_path FROM results WHERE created_at < datetime('now', ?)", (cutoff,)) as cur:
                paths = [row[0] for row in await cur.fetchall()]
            await self._write("DELETE FROM results WHERE created_at < datetime('now', ?)", (cutoff,))
        return paths

    async def result_paths(self, member_id: int) -> list[str]:
        async with self._db.execute("SELECT png_path FROM results WHERE member_id = ?", (member_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def remember_result_message(self, platform: str, chat_id: str | int, message_id: str | int, job_id: str) -> None:
        """Remember which bot message shows a result, so a reply to it is a comment on that image."""
        await self._write(
            "INSERT OR REPLACE INTO result_messages(platform, chat_id, message_id, job_id) VALUES (?, ?, ?, ?)",
            (platform, str(chat_id), str(message_id), job_id),
        )

    async def result_message(self, platform: str, chat_id: str | int, message_id: str | int) -> str | None:
        async with self._db.execute(
            "SELECT job_id FROM result_messages WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (platform, str(chat_id), str(message_id)),
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_feedback(self, job_id: str, member_id: int, verdict: int) -> None:
        await self._write(
            "INSERT INTO feedback(job_id, member_id, verdict) VALUES (?, ?, ?) ON CONFLICT(job_id, member_id)"
            " DO UPDATE SET verdict = excluded.verdict, updated_at = datetime('now')",
            (job_id, member_id, verdict),
        )

    async def feedback(self, job_id: str, member_id: int) -> int | None:
        async with self._db.execute(
            "SELECT verdict FROM feedback WHERE job_id = ? AND member_id = ?", (job_id, member_id)
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    # -- a member's /imagine defaults --------------------------------------------------------------

    async def member_settings(self, member_id: int) -> MemberSettings:
        async with self._db.execute(
            "SELECT ar, strength, steps, delivery FROM member_settings WHERE member_id = ?", (member_id,)
        ) as cur:
            row = await cur.fetchone()
        return MemberSettings(row["ar"], row["strength"], row["steps"], row["delivery"]) if row else MemberSettings()

    async def save_member_settings(self, member_id: int, settings: MemberSettings) -> None:
        await self._write(
            "INSERT INTO member_settings(member_id, ar, strength, steps, delivery) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(member_id) DO UPDATE SET ar = excluded.ar, strength = excluded.strength,"
            " steps = excluded.steps, delivery = excluded.delivery",
            (member_id, settings.ar, settings.strength, settings.steps, settings.delivery),
        )

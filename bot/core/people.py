"""Profiles that travel: share codes and blends, one person across Discord and Telegram, export and
import. Written once for both platforms and the CLI.

- `/profile share` gives a code (`vp-7KQ2MX9A`) that stands for the person's profile as it is now
  and as it changes; `/profile unshare` revokes them all. `/imagine ... --p CODE CODE me` blends
  profiles: the liked lists interleaved, the disliked lists interleaved, and a feature one profile
  likes while another dislikes is dropped. Unknown codes are rate limited per account.
- `/link` shows a one-time code for 10 minutes; `/link CODE` on the other platform asks what to do
  with the profiles and joins the two accounts into one person (see migration 0005). `/unlink`
  splits them again, each with a copy of the profile.
- `/profile export` writes a versioned JSON document; `/profile import` checks one, shows what
  would change, and replaces the profile, comments, verdicts and settings once confirmed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bot import messages
from bot.commands import ONBOARD_COMMAND, TELEGRAM
from bot.core.base import CoreBase
from bot.core.codes import new_share_code, random_symbols, read_link_code
from bot.core.types import Button, MemberRef, Reply
from storage.people import ExportedComment, ExportedVerdict
from storage.store import Member, MemberSettings, Profile
from viper.contracts.errors import InvalidArgument

LINK_TTL_S = 10 * 60
MAX_FAILED_LOOKUPS = 10  # unknown share or link codes one account may try per window
LOOKUP_WINDOW_S = 60 * 60
EXPORT_FORMAT = "viper-profile"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_COMMENTS = 1000
MAX_FEATURES = 100
MAX_FEATURE_CHARS = 80
LINK_CHOICES = ("home", "other", "merge", "no")


def blend(profiles: list[tuple[list[str], list[str]]]) -> tuple[list[str], list[str]]:
    """One (liked, disliked) pair from several: each list interleaved across the profiles (first
    features first), duplicates once, and a feature liked by one profile and disliked by another
    dropped from both sides."""
    liked_all = {f for liked, _ in profiles for f in liked}
    disliked_all = {f for _, disliked in profiles for f in disliked}
    conflicts = liked_all & disliked_all

    def interleave(lists: list[list[str]]) -> list[str]:
        out: list[str] = []
        for i in range(max((len(x) for x in lists), default=0)):
            for features in lists:
                if i < len(features) and features[i] not in conflicts and features[i] not in out:
                    out.append(features[i])
        return out

    return interleave([p[0] for p in profiles]), interleave([p[1] for p in profiles])


class PeopleFlows(CoreBase):
    # -- share codes and blends ------------------------------------------------------------------

    async def share(self, who: MemberRef) -> str:
        member = await self.member(who)
        if await self.store.profile(member.id) is None:
            raise InvalidArgument("you have no taste profile to share yet", argument="profile")
        code = new_share_code()
        await self.store.add_share_code(code, member.id)
        return messages.shared(code)

    async def unshare(self, who: MemberRef) -> str:
        member = await self.known_member(who)
        revoked = await self.store.revoke_share_codes(member.id) if member else 0
        return messages.unshared(revoked)

    async def _check_lookups(self, member: Member) -> None:
        failed, oldest = await self.store.failed_lookups(member.account_id, LOOKUP_WINDOW_S)
        if failed >= MAX_FAILED_LOOKUPS:
            minutes = LOOKUP_WINDOW_S // 60
            if oldest:
                since = datetime.fromisoformat(oldest).replace(tzinfo=timezone.utc)
                left = LOOKUP_WINDOW_S - (datetime.now(timezone.utc) - since).total_seconds()
                minutes = max(1, int(left // 60) + 1)
            raise InvalidArgument(
                f"too many unknown codes were tried from your account; try again in {messages.plural(minutes, 'minute')}",
                argument="rate",
            )

    async def blended_profile(self, who: MemberRef, member: Member, codes: list[str]) -> tuple[list[str], list[str]]:
        """The (liked, disliked) lists of `codes` (share codes, or `me`), blended. An unknown or
        revoked code is refused and counts toward the account's lookup limit."""
        await self._check_lookups(member)
        profiles = []
        for code in codes:
            person = member.id if code == "me" else await self.store.share_code_person(code)
            if code != "me":
                await self.store.record_lookup(member.account_id, person is not None)
            if person is None:
                raise InvalidArgument(f"I don't know the share code {code} (it may have been revoked); nothing was queued",
                                      argument="p")
            profile = await self.store.profile(person)
            if profile is None:
                if code == "me":
                    raise InvalidArgument("you have no taste profile yet, so “me” has nothing to add", argument="p")
                raise InvalidArgument(f"the profile behind {code} is empty now; nothing was queued", argument="p")
            profiles.append((profile.liked, profile.disliked))
        return blend(profiles)

    # -- one person on two platforms -------------------------------------------------------------

    async def start_link(self, who: MemberRef) -> str:
        member = await self.member(who)
        code = random_symbols()
        await self.store.add_link_code(code, member.id, who.platform, LINK_TTL_S)
        return messages.link_code_text(code, who.platform, LINK_TTL_S // 60)

    async def _link_target(self, who: MemberRef, member: Member, text: str) -> tuple[str, int]:
        """The person a link code names, after every check; (code, person id)."""
        await self._check_lookups(member)
        code = read_link_code(text)
        found = await self.store.link_code(code) if code else None
        if found is None:
            await self.store.record_lookup(member.account_id, False)
            raise InvalidArgument(messages.LINK_UNKNOWN, argument="code")
        person, platform = found
        if person == member.id:
            raise InvalidArgument("these accounts are already one; /profile lists them", argument="code")
        if platform == who.platform:
            raise InvalidArgument(messages.link_same_platform(platform), argument="code")
        theirs = {a.platform for a in await self.store.accounts(person)}
        mine = {a.platform for a in await self.store.accounts(member.id)}
        if theirs & mine:
            raise InvalidArgument("one of these accounts is already linked with another account on the same platform; "
                                  "/unlink it first", argument="code")
        return code, person

    async def ask_link(self, who: MemberRef, text: str) -> Reply:
        """`/link CODE`: what joining would do, with the choices as buttons."""
        member = await self.member(who)
        code, person = await self._link_target(who, member, text)
        other_accounts = await self.store.accounts(person)
        home_profile, my_profile = await self.store.profile(person), await self.store.profile(member.id)
        counts = (await self.store.comment_count(person), await self.store.comment_count(member.id))
        text = messages.ask_link(other_accounts, who.platform, home_profile is not None, my_profile is not None, counts)
        owner = who.user_id
        if home_profile is not None and my_profile is not None:
            there = other_accounts[0].platform.capitalize()
            choices = [("home", f"Keep the {there} profile"), ("other", f"Keep this {who.platform.capitalize()} one"),
                       ("merge", "Merge both")]
        else:
            choices = [("home" if my_profile is None else "other", "🔗 Link them")]
        rows = [[Button(label, "link", (code, choice, owner), "primary") for choice, label in choices],
                [Button("Cancel", "link", (code, "no", owner))]]
        return Reply(text=text, rows=rows)

    async def confirm_link(self, who: MemberRef, code: str, choice: str) -> Reply:
        if choice not in LINK_CHOICES:
            raise InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")
        if choice == "no":
            return Reply(text=messages.LINK_CANCELLED, edit=True)
        member = await self.member(who)
        code, person = await self._link_target(who, member, code)
        await self.store.merge_persons(person, member.id, "other" if choice == "other" else "home")
        await self.store.drop_link_code(code)
        text = messages.linked([a for a in await self.store.accounts(person)])
        if choice == "merge" and await self.store.comment_count(person):
            home = (await self.store.accounts(person))[0]
            profile, _ = await self.rebuild_profile(home, who.platform)
            text += "\n\n" + messages.format_profile(profile, "")
        return Reply(text=text, edit=True, toast="Linked")

    async def unlink(self, who: MemberRef) -> str:
        member = await self.known_member(who)
        accounts = await self.store.accounts(member.id) if member else []
        if len(accounts) < 2:
            return messages.NOTHING_TO_UNLINK
        await self.store.unlink_accounts(member.id)
        return messages.unlinked(accounts)

    async def linked_accounts(self, who: MemberRef) -> list[Member]:
        member = await self.known_member(who)
        return await self.store.accounts(member.id) if member else []

    # -- export and import -----------------------------------------------------------------------------

    async def export_profile(self, who: MemberRef) -> dict:
        """The member's profile, comments (with the image each answers), verdicts and settings, as
        a versioned document (`EXPORT_FORMAT`, `EXPORT_VERSION`)."""
        member = await self.known_member(who)
        if member is None:
            raise InvalidArgument("I don't store anything about you yet, so there is nothing to export", argument="profile")
        return await self.export_person(member.id)

    async def export_person(self, person: int) -> dict:
        profile = await self.store.profile(person)
        settings = await self.store.member_settings(person)
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "profile": None if profile is None else {
                "liked": profile.liked, "disliked": profile.disliked, "backend": profile.backend,
                "backend_version": profile.backend_version, "updated_at": profile.updated_at,
            },
            "comments": [{"text": c.text, "image": c.image, "created_at": c.created_at}
                         for c in await self.store.exported_comments(person)],
            "feedback": [{"image": v.image, "verdict": v.verdict, "updated_at": v.updated_at}
                         for v in await self.store.exported_verdicts(person)],
            "settings": {"ar": settings.ar, "strength": settings.strength, "steps": settings.steps,
                         "delivery": settings.delivery},
        }

    @staticmethod
    def check_import_size(size: int) -> None:
        """Refuse a file too big to be an export by its size alone, before anybody downloads it."""
        if size > MAX_IMPORT_BYTES:
            raise InvalidArgument(f"that file is {size / 1e6:.1f} MB; a profile export is under 1 MB", argument="file")

    def read_export(self, data: bytes) -> dict:
        """A checked export document; InvalidArgument (argument "file") says what is wrong."""
        self.check_import_size(len(data))
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidArgument("that file isn't a JSON document; send the file /profile export made", argument="file") from None
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
            raise InvalidArgument("that file isn't a ViPer profile export (it has no \"format\": \"viper-profile\")",
                                  argument="file")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidArgument("that export has no valid \"version\"", argument="file")
        if version > EXPORT_VERSION:
            raise InvalidArgument(f"that export is version {version}, newer than this bot reads ({EXPORT_VERSION}); "
                                  "ask the operator to update", argument="file")
        return self._checked(doc)

    def _checked(self, doc: dict) -> dict:
        def bad(where: str, what: str) -> InvalidArgument:
            return InvalidArgument(f"in that export, {where} {what}", argument="file")

        def text(value, where: str, limit: int, optional: bool = False) -> str | None:
            if value is None and optional:
                return None
            if not isinstance(value, str) or len(value) > limit:
                raise bad(where, f"must be text of at most {limit} characters")
            return value

        profile = doc.get("profile")
        if profile is not None:
            if not isinstance(profile, dict):
                raise bad("profile", "must be an object or null")
            for side in ("liked", "disliked"):
                features = profile.get(side)
                if not isinstance(features, list) or len(features) > MAX_FEATURES:
                    raise bad(f"profile.{side}", f"must be a list of at most {MAX_FEATURES} features")
                for i, feature in enumerate(features):
                    if not text(feature, f"profile.{side}[{i}]", MAX_FEATURE_CHARS).strip():
                        raise bad(f"profile.{side}[{i}]", "is empty")
            for key in ("backend", "backend_version", "updated_at"):
                text(profile.get(key, ""), f"profile.{key}", 100)
        comments = doc.get("comments", [])
        if not isinstance(comments, list) or len(comments) > MAX_IMPORT_COMMENTS:
            raise bad("comments", f"must be a list of at most {MAX_IMPORT_COMMENTS}")
        for i, c in enumerate(comments):
            if not isinstance(c, dict):
                raise bad(f"comments[{i}]", "must be an object")
            text(c.get("text"), f"comments[{i}].text", self.settings.bot.max_comment_chars)
            text(c.get("image"), f"comments[{i}].image", 200, optional=True)
            text(c.get("created_at", ""), f"comments[{i}].created_at", 40)
        feedback = doc.get("feedback", [])
        if not isinstance(feedback, list) or len(feedback) > MAX_IMPORT_COMMENTS:
            raise bad("feedback", f"must be a list of at most {MAX_IMPORT_COMMENTS}")
        for i, v in enumerate(feedback):
            if not isinstance(v, dict) or v.get("verdict") not in (1, -1) or isinstance(v.get("verdict"), bool):
                raise bad(f"feedback[{i}]", "must have a verdict of 1 or -1")
            text(v.get("image"), f"feedback[{i}].image", 200)
            text(v.get("updated_at", ""), f"feedback[{i}].updated_at", 40)
        settings = doc.get("settings") or {}
        if not isinstance(settings, dict):
            raise bad("settings", "must be an object")
        self._settings_of(doc)
        if isinstance(settings.get("steps"), float) or isinstance(settings.get("strength"), bool):
            raise bad("settings", "has a value of the wrong kind")
        return doc

    def _settings_of(self, doc: dict) -> MemberSettings:
        """An export's settings, read with /settings' own checks (InvalidArgument names a bad one)."""
        current = MemberSettings()
        for key in ("ar", "strength", "steps", "delivery"):
            value = (doc.get("settings") or {}).get(key)
            if value is not None:
                current = self.parse_setting(current, key, str(value).replace(":", "x") if key == "ar" else str(value))
        return current

    async def ask_import(self, who: MemberRef, data: bytes) -> Reply:
        """Check a document and show what importing it would change; nothing changes until the
        member confirms (the document waits in SQLite, so a restart does not lose the question)."""
        doc = self.read_export(data)
        member = await self.member(who)
        await self.store.set_pending_import(member.id, doc)
        current = await self.store.profile(member.id)
        incoming = doc.get("profile")
        after = Profile(member.id, incoming["liked"], incoming["disliked"], "") if incoming else None
        text = messages.ask_import(current, after, len(doc.get("comments", [])), await self.store.comment_count(member.id))
        owner = who.user_id
        rows = [[Button(messages.IMPORT_YES, "imp", ("yes", owner), "danger"),
                 Button(messages.IMPORT_NO, "imp", ("no", owner))]]
        return Reply(text=text, rows=rows)

    async def answer_import(self, who: MemberRef, answer: str) -> Reply:
        member = await self.known_member(who)
        doc = await self.store.pending_import(member.id) if member else None
        if answer != "yes":
            if member is not None:
                await self.store.drop_pending_import(member.id)
            return Reply(text=messages.IMPORT_KEPT, edit=True)
        if doc is None:
            raise InvalidArgument("that import is no longer waiting; send the file again", argument="file")
        await self.import_document(member.id, doc)
        profile = await self.store.profile(member.id)
        return Reply(text=messages.imported(profile, ONBOARD_COMMAND.get(who.platform, ONBOARD_COMMAND[TELEGRAM])),
                     edit=True, toast="Imported")

    async def import_document(self, person: int, doc: dict) -> None:
        """Replace the person's profile, comments, verdicts and settings with a checked document's."""
        doc = self._checked(doc)
        profile = doc.get("profile")
        settings = self._settings_of(doc)
        async with self.store.transaction():
            await self.store.snapshot_profile(person)
            if profile is None:
                await self.store.delete_profile(person)
            else:
                await self.store.save_profile(person, profile["liked"], profile["disliked"],
                                              profile.get("backend") or "import", profile.get("backend_version", ""))
                if profile.get("updated_at"):
                    await self.store.set_profile_dates(person, profile["updated_at"])
            await self.store.replace_comments(person, [
                ExportedComment(c["text"], c.get("image"), c.get("created_at") or "") for c in doc.get("comments", [])])
            await self.store.replace_verdicts(person, [
                ExportedVerdict(v["image"], v["verdict"], v.get("updated_at") or "") for v in doc.get("feedback", [])])
            await self.store.save_member_settings(person, settings)
            await self.store.drop_pending_import(person)

"""What members do with an image once it is delivered: the actions under it, verdicts, comments on
results that teach the profile, Undo, and each member's /imagine defaults (/settings).

Every delivered image is kept (its PNG under `<data_dir>/results`, its recipe and how it was made in
SQLite), so its buttons keep working after a restart, even when the member's profile has changed
since: 🔄 Reroll, 🎲 Vary and ⚖ Compare start from the stored recipe, not from today's profile.
Buttons act for the image's member only, except ✨ Mine, which anyone who sees the image may press.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from bot import messages
from bot.core.base import CoreBase
from bot.core.onboarding import RESULT_PREFIX
from bot.core.types import Button, MemberRef, Reply, Rows
from storage.store import Member, MemberSettings, ResultRecord
from viper.contracts import jobs
from viper.contracts.errors import InvalidArgument, NotYours

log = logging.getLogger("viper.bot")

# The actions under a delivered image, in the order they are drawn (two rows of four).
ACTIONS: tuple[tuple[str, str], ...] = (
    ("reroll", "🔄 Reroll"), ("vary", "🎲 Vary"), ("compare", "⚖ Compare"), ("info", "ℹ Info"),
    ("up", "👍"), ("down", "👎"), ("why", "💬 Why"), ("mine", "✨ Mine"),
)
NEW_SEED = ("reroll", "vary")
SETTING_STRENGTHS = ("0", "0.5", "1", "1.5", "2")
SETTING_STEPS = (20, 30, 40, 50)
DELIVERIES = ("channel", "private")
STALE = "that image is no longer stored, so its buttons do nothing now; /imagine makes a new one"


def result_rows(job_id: str, method: str) -> Rows:
    """The buttons under a delivered image (none under a Compare: it is a look, not a result)."""
    if method == "compare":
        return []
    buttons = [Button(label, "act", (verb, job_id)) for verb, label in ACTIONS]
    return [buttons[:4], buttons[4:]]


def is_personalised(result: jobs.GenerateResult) -> bool:
    """Whether a profile shaped the image: features were used at a strength above 0, and it is not
    a Compare (whose plain half is the new render)."""
    used = bool(result.liked_used or result.disliked_used)
    return result.method != "compare" and used and (result.liked_strength > 0 or result.disliked_strength > 0)


def ar_wire(ar: str) -> str:
    """An aspect ratio as a button carries it (`16x9`: the colon separates a button's parts)."""
    return ar.replace(":", "x")


class ResultFlows(CoreBase):
    @property
    def results_dir(self) -> Path:
        return Path(self.settings.storage.data_dir) / "results"

    # -- keeping what was delivered ------------------------------------------------------------

    async def keep_result(self, job_id: str, member_id: int, result: jobs.GenerateResult) -> None:
        """Store a finished image and how it was made, before it is posted (its buttons work at once)."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{job_id}.png"
        path.write_bytes(result.png)
        made = {k: v for k, v in jobs.to_dict(result).items() if k != "png"}
        made["personalised"] = is_personalised(result)
        await self.store.save_result(job_id, member_id, made, str(path))

    async def sweep_results(self) -> int:
        """Delete the images kept longer than `[storage] keep_results_days` (0: keep them); their
        buttons then answer that the image is no longer stored. Returns how many went."""
        days = self.settings.storage.keep_results_days
        if not days:
            return 0
        paths = await self.store.drop_results_before(days)
        for path in paths:
            Path(path).unlink(missing_ok=True)
        if paths:
            log.info("deleted %d image(s) older than %d days", len(paths), days)
        return len(paths)

    async def _result(self, job_id: str) -> ResultRecord:
        record = await self.store.result(job_id)
        if record is None or not Path(record.png_path).is_file():
            raise InvalidArgument(STALE, argument="button")
        return record

    async def _owned(self, who: MemberRef, job_id: str) -> tuple[Member, ResultRecord]:
        """The presser and the result, when the result is theirs; anybody else is refused politely."""
        record = await self._result(job_id)
        member = await self.known_member(who)
        if member is None or member.id != record.member_id:
            raise NotYours("that image belongs to someone else", argument="owner")
        return member, record

    async def act(self, who: MemberRef, verb: str, job_id: str, chat_ref: dict, place=None) -> Reply:
        if verb == "mine":
            return Reply(toast=messages.ACTION_STARTED["mine"], submitted=await self._mine(who, job_id, chat_ref, place))
        member, record = await self._owned(who, job_id)
        if verb == "info":
            return Reply(text=messages.result_info(record.job.request, record.made, record.job.prompt))
        if verb in ("up", "down"):
            verdict = 1 if verb == "up" else -1
            await self.store.set_feedback(job_id, member.id, verdict)
            return Reply(toast=messages.verdict_noted(verdict))
        if verb == "why":
            return Reply(toast=messages.WHY_TOAST, ask_comment=job_id)
        if verb in ("reroll", "vary", "compare"):
            return Reply(toast=messages.ACTION_STARTED[verb],
                         submitted=await self._again(who, member, record, verb, chat_ref, place))
        raise InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")

    # -- images made from a result -------------------------------------------------------------

    async def _again(self, who: MemberRef, member: Member, record: ResultRecord, verb: str, chat_ref: dict, place):
        """🔄 Reroll, 🎲 Vary or ⚖ Compare: the stored recipe (prompt, parameters, the features as
        they were), with a new seed (Reroll, Vary), from the image (Vary), or plain beside it (Compare)."""
        request = jobs.from_dict(jobs.GenerateRequest, record.job.request)
        made = record.made
        if verb in NEW_SEED:
            request.seed = secrets.randbelow(2**31)
        if verb == "vary":
            request.init_image = Path(record.png_path).read_bytes()
            request.width, request.height = made["width"], made["height"]
        if verb == "compare":
            if not made.get("personalised"):
                raise InvalidArgument("this image isn't personalised, so a plain one would look the same", argument="compare")
            request.seed, request.steps = made["seed"], made["steps"]
            request.width, request.height = made["width"], made["height"]
            request.strength, request.liked_strength, request.disliked_strength = 0.0, None, None
            request.compare_with = Path(record.png_path).read_bytes()
            request.compare_labels = list(messages.COMPARE_LABELS)
        return await self.submit_request(
            who, member, request, chat_ref, action=verb, parent=record.job.id,
            personalised=verb == "compare" or bool(request.liked or request.disliked),
            profiles=record.job.request.get("profiles"), place=place,
        )

    async def _mine(self, who: MemberRef, job_id: str, chat_ref: dict, place):
        """✨ Mine: the same prompt, seed and parameters in the presser's taste (plain, with the
        onboarding hint, when they have no profile)."""
        record = await self._result(job_id)
        member = await self.member(who)
        profile = await self.store.profile(member.id)
        request = jobs.from_dict(jobs.GenerateRequest, record.job.request)
        request.seed = record.made["seed"]
        request.liked = list(profile.liked) if profile else []
        request.disliked = list(profile.disliked) if profile else []
        return await self.submit_request(
            who, member, request, chat_ref, action="mine", parent=record.job.id,
            personalised=bool(request.liked or request.disliked), place=place,
        )

    # -- 💬 Why: a comment on a result teaches the profile -----------------------------------------

    async def comment_on_result(self, who: MemberRef, job_id: str, text: str | None, chat_ref: dict | None = None,
                                on_started=None, place=None) -> Reply:
        """Store what the member says about their image (as a comment whose image is the result) and,
        once they have `[bot] min_comments`, run extraction over all their comments and show what
        changed, with an Undo button. A member who never onboarded builds a profile this way."""
        member, record = await self._owned(who, job_id)  # first: another member's reply is refused as such
        text = self.check_comment(text)
        await self.moderate(who, text, "comment", place)
        await self._check_not_extracting(member)
        count = await self.store.add_comment(member.id, RESULT_PREFIX + record.job.id, text)
        if count < self.min_comments:
            return Reply(text=messages.result_comment_counted(count, self.min_comments))
        before = await self.store.profile(member.id)
        profile, snapshot = await self.rebuild_profile(member, who.platform, chat_ref, on_started)
        change = messages.profile_change(before, profile)
        return Reply(text=change, rows=[[Button(messages.UNDO_LABEL, "undo", (str(snapshot),))]], private=True)

    async def undo(self, who: MemberRef, snapshot_id: int) -> Reply:
        """Put back, exactly, the profile an extraction replaced."""
        snapshot = await self.store.profile_snapshot(snapshot_id)
        member = await self.known_member(who)
        if snapshot is None:
            raise InvalidArgument("that change was already undone (or the profile was deleted)", argument="undo")
        if member is None or member.id != snapshot.member_id:
            raise NotYours("that profile belongs to someone else", argument="owner")
        await self.store.restore_profile(snapshot)
        profile = await self.store.profile(member.id)
        return Reply(text=messages.undone(profile), edit=True, toast=messages.UNDONE_TOAST)

    # -- /settings -----------------------------------------------------------------------------

    async def member_defaults(self, who: MemberRef) -> MemberSettings:
        member = await self.known_member(who)
        return await self.store.member_settings(member.id) if member else MemberSettings()

    async def settings_screen(self, who: MemberRef, note: str = "") -> Reply:
        """The member's defaults, with buttons that change them."""
        current = await self.member_defaults(who)
        owner = who.user_id
        steps_max = self.settings.engine.max_steps

        def choice(key: str, value: str, label: str, chosen: bool) -> Button:
            return Button(("✓ " if chosen else "") + label, "set", (key, value, owner), "primary" if chosen else "secondary")

        ars = [choice("ar", "auto", "auto", current.ar is None)]
        ars += [choice("ar", ar_wire(ar), ar, current.ar == ar) for ar in jobs.ASPECT_RATIOS]
        strengths = [choice("strength", s, s, current.strength is not None and float(s) == current.strength)
                     for s in SETTING_STRENGTHS]
        strengths.insert(0, choice("strength", "auto", "auto", current.strength is None))
        steps = [choice("steps", "auto", "auto", current.steps is None)]
        steps += [choice("steps", str(n), str(n), current.steps == n) for n in SETTING_STEPS if n <= steps_max]
        delivery = [choice("delivery", d, messages.DELIVERY_LABELS[d], current.delivery == d) for d in DELIVERIES]
        rows = [ars[:5], ars[5:], strengths, steps, delivery]
        text = messages.settings_text(current, self.settings.engine.steps, note)
        return Reply(text=text, rows=rows, edit=bool(note))

    async def change_setting(self, who: MemberRef, key: str, value: str) -> Reply:
        """Change one default (`auto` puts the operator's back); answers with the updated screen."""
        member = await self.member(who)
        current = await self.store.member_settings(member.id)
        await self.store.save_member_settings(member.id, self.parse_setting(current, key, value))
        return await self.settings_screen(who, note=messages.SETTING_SAVED)

    async def update_settings(self, who: MemberRef, **values: str | None) -> Reply:
        """Change several defaults at once (Discord's options); None leaves one as it is."""
        member = await self.member(who)
        current = await self.store.member_settings(member.id)
        for key, value in values.items():
            if value is not None:
                current = self.parse_setting(current, key, str(value))
        await self.store.save_member_settings(member.id, current)
        return await self.settings_screen(who, note=messages.SETTING_SAVED if any(v is not None for v in values.values()) else "")

    def parse_setting(self, current: MemberSettings, key: str, value: str) -> MemberSettings:
        """`current` with one setting changed; InvalidArgument names a bad key or value."""
        auto = value == "auto"
        updated = MemberSettings(current.ar, current.strength, current.steps, current.delivery)
        if key == "ar":
            ar = value.replace("x", ":")
            if not auto and ar not in jobs.ASPECT_RATIOS:
                raise InvalidArgument(f"ar must be one of {', '.join(jobs.ASPECT_RATIOS)}", argument="ar")
            updated.ar = None if auto else ar
        elif key == "strength":
            try:
                strength = None if auto else float(value)
            except ValueError:
                strength = -1.0
            if strength is not None and not 0 <= strength <= 2:
                raise InvalidArgument("strength must be a number from 0 (plain) to 2", argument="strength")
            updated.strength = strength
        elif key == "steps":
            top = self.settings.engine.max_steps
            if not auto and not (value.isdigit() and 1 <= int(value) <= top):
                raise InvalidArgument(f"steps must be a whole number from 1 to {top}", argument="steps")
            updated.steps = None if auto else int(value)
        elif key == "delivery":
            if value not in DELIVERIES:
                raise InvalidArgument("delivery must be channel or private", argument="delivery")
            updated.delivery = value
        else:
            raise InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")
        return updated
